//! "Never asked twice" (issue #19 part 5), over HTTPS against both backends: a document
//! digitized at intake for a dossier whose applicant has an ID number becomes held for that
//! number by its kind; a kiosk asking with that number learns only which asked kinds are held
//! (another number learns nothing); a later dossier citing a held kind gets the stored copy
//! linked, one citing a kind nothing is held of is refused; questions are limited per device.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::wire::{DigitizedDocument, DigitizedDocuments, HeldDocuments};
use reqwest::StatusCode;
use serde_json::json;

/// The applicant of [`dossier`].
const ID: &str = "079201001234";
/// Another citizen.
const OTHER_ID: &str = "079201009999";
/// The seed catalog's kind of an ID card copy: the second document of both procedures below.
const KIND: &str = "ban_sao_can_cuoc";
/// Criminal record certificate (2.000488) and business household registration (2.000720).
const FIRST: &str = "2.000488";
const SECOND: &str = "2.000720";
/// Questions a device may ask in an hour (the gateway's `HeldLimits` default).
const LIMIT: usize = 30;

fn code(n: u16) -> String {
    format!("{SITE}-260531-{n:04}")
}

/// Starts a gateway serving the seed catalog (whose documents carry kind codes).
async fn start(backend: Backend) -> Option<Harness> {
    let mut h = Harness::start(backend).await?;
    h.reboot_with(|c| c.catalog = motcua_domain::catalog::seed())
        .await;
    Some(h)
}

/// Delivers dossier `n` of `procedure` for `id`, citing `reused` kinds.
async fn deliver(
    h: &Harness,
    cred: &Cred,
    n: u16,
    procedure: &str,
    id: &str,
    reused: &[&str],
) -> reqwest::Response {
    let mut d = dossier("KIOSK-A", &code(n), vec![]);
    d.procedure_code = procedure.into();
    d.applicant.id_number = Some(id.into());
    d.reused_documents = reused.iter().map(|k| k.to_string()).collect();
    h.post_json("/v1/dossiers", cred, Some(&format!("d:{n}")), &d)
        .await
}

/// Digitizes the ID card copy (the second required document: intake's index 2) of dossier `n`.
async fn digitize(h: &Harness, intake: &Cred, n: u16, pdf: &[u8]) {
    h.upload_all(intake, pdf).await;
    let c = code(n);
    let docs = DigitizedDocuments {
        dossier_code: c.clone(),
        device_id: "INTAKE-1".into(),
        digitized_at: vn_time(),
        documents: vec![DigitizedDocument {
            document_code: format!("{c}-02"),
            document_index: 2,
            name: "Bản chụp thẻ Căn cước công dân".into(),
            media_type: "application/pdf".into(),
            pages: 1,
            size: pdf.len() as u64,
            sha256: sha_hex(pdf),
        }],
    };
    let r = h
        .post_json(
            &format!("/v1/dossiers/{c}/documents"),
            intake,
            Some(&format!("g:{n}")),
            &docs,
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "digitized documents stored"
    );
}

async fn ask(h: &Harness, cred: &Cred, id: &str, kinds: &[&str]) -> reqwest::Response {
    h.req(reqwest::Method::POST, "/v1/held-documents", Some(cred))
        .json(&json!({ "id_number": id, "kind_codes": kinds }))
        .send()
        .await
        .expect("ask")
}

async fn held(h: &Harness, cred: &Cred, id: &str, kinds: &[&str]) -> Vec<String> {
    let r = ask(h, cred, id, kinds).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<HeldDocuments>().await.expect("answer").held
}

async fn reused(h: &Harness, n: u16) -> serde_json::Value {
    let r = h
        .req(
            reqwest::Method::GET,
            &format!("/v1/admin/dossiers/{}/reused", code(n)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("reused");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

async fn a_digitized_document_is_not_asked_for_again(backend: Backend) {
    let Some(h) = start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    let intake = h.enroll("INTAKE-1").await;
    assert!(
        held(&h, &kiosk, ID, &[KIND]).await.is_empty(),
        "nothing yet"
    );
    let r = deliver(&h, &kiosk, 1, FIRST, ID, &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let pdf = b"%PDF-1.7 the citizen's ID card copy, signed".to_vec();
    digitize(&h, &intake, 1, &pdf).await;

    // The answer names only asked kinds that are held, for this number only.
    let answer = held(&h, &kiosk, ID, &["cho_o_hop_phap", KIND, KIND]).await;
    assert_eq!(answer, [KIND]);
    assert!(held(&h, &kiosk, OTHER_ID, &[KIND]).await.is_empty());
    let body = ask(&h, &kiosk, ID, &[KIND])
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !body.contains(&code(1)) && !body.contains(&sha_hex(&pdf)),
        "no code or hash in the answer: {body}"
    );

    // The second dossier cites it instead of a file: the stored copy is linked.
    let r = deliver(&h, &kiosk, 2, SECOND, ID, &[KIND]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let links = reused(&h, 2).await;
    assert_eq!(
        links,
        json!([{
            "kind_code": KIND,
            "document_code": format!("{}-02", code(1)),
            "sha256": sha_hex(&pdf),
            "source_dossier": code(1),
        }])
    );
    assert_eq!(reused(&h, 1).await, json!([]));
    h.finish().await;
}

async fn a_kind_not_held_is_refused(backend: Backend) {
    let Some(h) = start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    let intake = h.enroll("INTAKE-1").await;
    assert_eq!(
        deliver(&h, &kiosk, 1, FIRST, ID, &[]).await.status(),
        StatusCode::CREATED
    );
    digitize(&h, &intake, 1, b"%PDF-1.7 copy").await;
    // Another citizen cannot cite this one's copy.
    let r = deliver(&h, &kiosk, 2, SECOND, OTHER_ID, &[KIND]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "nothing_held");
    // A kind the procedure does not require.
    let r = deliver(&h, &kiosk, 3, SECOND, ID, &["quyen_su_dung_dat"]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "not_required");
    // Nothing was stored by the refusals: the codes are still free.
    let r = deliver(&h, &kiosk, 2, SECOND, ID, &[KIND]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    h.finish().await;
}

async fn questions_are_limited_per_device_and_checked(backend: Backend) {
    let Some(h) = start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    let other = h.enroll("KIOSK-B").await;
    for (id, kinds) in [("07920100123", vec![KIND]), (ID, vec!["Bad-Kind"])] {
        let r = ask(&h, &kiosk, id, &kinds).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{id} {kinds:?}");
    }
    let unauthenticated = h
        .http
        .post(h.url("/v1/held-documents"))
        .json(&json!({ "id_number": ID, "kind_codes": [KIND] }))
        .send()
        .await;
    assert!(
        unauthenticated.map_or(true, |r| r.status() == StatusCode::UNAUTHORIZED),
        "a device certificate is needed"
    );
    for i in 0..LIMIT {
        assert_eq!(
            ask(&h, &kiosk, ID, &[KIND]).await.status(),
            StatusCode::OK,
            "question {i}"
        );
    }
    let r = ask(&h, &kiosk, ID, &[KIND]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&r, "retry-after").parse::<u64>().expect("seconds") > 0);
    assert_eq!(error_code(r).await, "too_many_questions");
    assert_eq!(
        ask(&h, &other, ID, &[KIND]).await.status(),
        StatusCode::OK,
        "another device has its own count"
    );
    h.finish().await;
}

scenarios!(
    a_digitized_document_is_not_asked_for_again,
    a_kind_not_held_is_refused,
    questions_are_limited_per_device_and_checked,
);
