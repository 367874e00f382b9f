//! Provisioning with signed setup codes, sequence blocks, profiles and remote actions, over
//! HTTPS on loopback against both storage backends: a technician's sheet, a kiosk taking its
//! token (and retrying), refusals of unknown, expired and already-used tokens, disjoint blocks
//! per site, a replaced kiosk's fresh block, the block limit and exhaustion, the profile, and
//! remote actions kept to their device and roles.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::provisioning::{DeviceProfile, RemoteActions, SequenceBlock, SequenceBlocks};
use motcua_identity::DeviceKey;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn block(first: u16, last: u16) -> SequenceBlock {
    SequenceBlock { first, last }
}

async fn a_sheet_provisions_kiosks_once_each(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    // The CA a fresh kiosk fetches before it trusts anything.
    let r = h
        .req(Method::GET, "/v1/ca.pem", None)
        .send()
        .await
        .expect("ca");
    assert_eq!(r.status(), StatusCode::OK);
    let ca = r.text().await.expect("pem");
    assert_eq!(ca, h.ca_pem);

    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "count": 2}))
        .await;
    assert_eq!(sheet.profile_sha256, sha_hex(PROFILE_TOML.as_bytes()));
    let ids: Vec<&str> = sheet.codes.iter().map(|c| c.device_id.as_str()).collect();
    assert_eq!(ids, [format!("{SITE}-K001"), format!("{SITE}-K002")]);
    let code = h.open_code(&sheet.codes[0].code);
    assert_eq!(code.gateway_url, PUBLIC_URL);
    assert_eq!(
        code.ca_sha256,
        motcua_identity::certificate_fingerprint(&ca).expect("fp")
    );
    assert_eq!((code.site.as_str(), code.profile.as_str()), (SITE, PROFILE));
    assert_eq!(code.profile_sha256, sheet.profile_sha256);

    let key = DeviceKey::generate(&code.device_id, SITE).expect("key");
    let r = h.provision(&code.token, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first: motcua_domain::provisioning::Provisioned = r.json().await.expect("body");
    assert_eq!(first.blocks, [block(1, 500)]);
    assert_eq!(first.profile, PROFILE);
    assert_eq!(first.certificate.device_id, code.device_id);
    assert_eq!(first.certificate.site, SITE);
    // Another kiosk's key with the same token: refused. The same kiosk again (it lost the
    // answer, so its certificate was never used): a new certificate, the same blocks.
    let thief = DeviceKey::generate(&code.device_id, SITE).expect("key");
    let r = h.provision(&code.token, &thief).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "token_used");
    let r = h.provision(&code.token, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: motcua_domain::provisioning::Provisioned = r.json().await.expect("body");
    assert_eq!(again.blocks, first.blocks);
    assert_ne!(again.certificate.serial, first.certificate.serial);
    let cred = h.cred_of(&again, &key);

    // The certificate works on a device route: the profile, byte for byte.
    let r = h
        .req(Method::GET, "/v1/devices/profile", Some(&cred))
        .send()
        .await
        .expect("profile");
    assert_eq!(r.status(), StatusCode::OK);
    let profile: DeviceProfile = r.json().await.expect("profile body");
    assert_eq!(profile.toml, PROFILE_TOML);
    assert_eq!(profile.sha256, code.profile_sha256);
    // Once its certificate is in use the token gives nothing more, not even to the same key.
    let r = h.provision(&code.token, &key).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "token_spent");

    // A token nobody issued.
    let r = h.provision("bm90LWEtdG9rZW4", &key).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "token_unknown");

    // The second slot gets the next block of the site.
    let (second, _) = h.provision_kiosk(&sheet.codes[1].code).await;
    assert_eq!(second.blocks, [block(501, 1000)]);

    // New slots skip ids in use; an unknown profile is refused in words.
    let next = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    assert_eq!(next.codes[0].device_id, format!("{SITE}-K003"));
    let r = h
        .req(Method::POST, "/v1/admin/provisioning", Some(&h.technician))
        .json(&json!({"site": SITE, "profile": "no-such-desk"}))
        .send()
        .await
        .expect("sheet");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "profile_missing");
    // A profile holding what each kiosk writes itself is refused before any code is issued.
    std::fs::write(
        h.profiles_dir().join("bad-desk.toml"),
        "[gateway]\nurl = \"https://x\"\n",
    )
    .expect("profile");
    let r = h
        .req(Method::POST, "/v1/admin/provisioning", Some(&h.technician))
        .json(&json!({"site": SITE, "profile": "bad-desk"}))
        .send()
        .await
        .expect("sheet");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "profile_invalid");
    h.finish().await;
}

async fn expired_tokens_are_refused(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "valid_hours": 1}))
        .await;
    let code = h.open_code(&sheet.codes[0].code);
    h.exec_sql("UPDATE provisioning_tokens SET expires_at = 1")
        .await;
    let key = DeviceKey::generate(&code.device_id, SITE).expect("key");
    let r = h.provision(&code.token, &key).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "token_expired");
    h.finish().await;
}

async fn a_replaced_kiosk_gets_a_fresh_block(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let old_code = h.open_code(&sheet.codes[0].code);
    let old_key = DeviceKey::generate(&old_code.device_id, SITE).expect("key");
    let r = h.provision(&old_code.token, &old_key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let old: motcua_domain::provisioning::Provisioned = r.json().await.expect("body");
    let old_cred = h.cred_of(&old, &old_key);
    let id = old.certificate.device_id.clone();
    assert_eq!(old.blocks, [block(1, 500)]);
    let r = h
        .req(Method::POST, "/v1/devices/sequence-blocks", Some(&old_cred))
        .send()
        .await
        .expect("more");
    assert_eq!(r.status(), StatusCode::OK);

    // The box breaks; the technician prints a code for the same id (a live device: only with
    // `replace`) and the new box uses it.
    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": [id], "replace": true}))
        .await;
    let (new, new_cred) = h.provision_kiosk(&sheet.codes[0].code).await;
    assert_eq!(new.certificate.device_id, id);
    assert_eq!(
        new.blocks,
        [block(1001, 1500)],
        "never a number the old box had"
    );
    // The old box's certificate is revoked.
    let r = h
        .req(Method::GET, "/v1/devices/actions", Some(&old_cred))
        .send()
        .await
        .expect("old");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_revoked");
    let r = h
        .req(Method::GET, "/v1/devices/actions", Some(&new_cred))
        .send()
        .await
        .expect("new");
    assert_eq!(r.status(), StatusCode::OK);
    h.finish().await;
}

async fn blocks_are_disjoint_limited_and_run_out(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let (_, cred) = h.provision_kiosk(&sheet.codes[0].code).await;
    let mut blocks = Vec::new();
    for _ in 0..7 {
        let r = h
            .req(Method::POST, "/v1/devices/sequence-blocks", Some(&cred))
            .send()
            .await
            .expect("more");
        assert_eq!(r.status(), StatusCode::OK);
        blocks = r.json::<SequenceBlocks>().await.expect("blocks").blocks;
    }
    assert_eq!(blocks.len(), 8);
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(*b, block(i as u16 * 500 + 1, i as u16 * 500 + 500));
    }
    let r = h
        .req(Method::POST, "/v1/devices/sequence-blocks", Some(&cred))
        .send()
        .await
        .expect("more");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "too_many_blocks");

    // Another site starts at 1 again; a block size of 5000 leaves room for one kiosk only.
    h.reboot_with(|c| c.sequence_block_size = 5000).await;
    let sheet = h
        .sheet(json!({"site": "000.00.00.H49", "profile": PROFILE, "count": 2}))
        .await;
    let (first, _) = h.provision_kiosk(&sheet.codes[0].code).await;
    assert_eq!(first.blocks, [block(1, 5000)]);
    let c = h.open_code(&sheet.codes[1].code);
    let key = DeviceKey::generate(&c.device_id, &c.site).expect("key");
    let r = h.provision(&c.token, &key).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "sequence_exhausted");
    // Nothing was taken: with room again the same token works.
    h.reboot_with(|c| c.sequence_block_size = 100).await;
    let r = h.provision(&c.token, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    h.finish().await;
}

async fn remote_actions_stay_with_their_device(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "count": 2}))
        .await;
    let (a, a_cred) = h.provision_kiosk(&sheet.codes[0].code).await;
    let (_, b_cred) = h.provision_kiosk(&sheet.codes[1].code).await;
    let a_id = a.certificate.device_id;
    let path = format!("/v1/admin/devices/{a_id}/actions");
    let r = h
        .req(Method::POST, &path, Some(&h.technician))
        .json(&json!({"kind": "self_test"}))
        .send()
        .await
        .expect("queue");
    assert_eq!(r.status(), StatusCode::CREATED);
    let action: Value = r.json().await.expect("action");
    let action_id = action["id"].as_i64().expect("id");
    assert_eq!(action["kind"], "self_test");
    assert_eq!(action["requested_by"], "Trần Kỹ Thuật");
    // `unsupported` (what an unknown kind reads as) and unknown kinds are never queued.
    for kind in ["unsupported", "reboot"] {
        let r = h
            .req(Method::POST, &path, Some(&h.technician))
            .json(&json!({ "kind": kind }))
            .send()
            .await
            .expect("queue");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{kind}");
        let body: Value = r.json().await.expect("error");
        assert_eq!(body["error"], "invalid_kind", "{kind}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("self_test"),
            "{body}"
        );
    }

    let pending = |cred: Cred| {
        let h = &h;
        async move {
            let r = h
                .req(Method::GET, "/v1/devices/actions", Some(&cred))
                .send()
                .await
                .expect("list");
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<RemoteActions>().await.expect("actions").actions
        }
    };
    assert_eq!(pending(a_cred.clone()).await.len(), 1);
    assert!(pending(b_cred.clone()).await.is_empty());
    let result = json!({"ok": true, "detail": "Máy in: đạt / printer: passed"});
    let post_result = |cred: Cred| {
        let (h, result) = (&h, result.clone());
        async move {
            h.req(
                Method::POST,
                &format!("/v1/devices/actions/{action_id}/result"),
                Some(&cred),
            )
            .json(&result)
            .send()
            .await
            .expect("result")
            .status()
        }
    };
    assert_eq!(post_result(b_cred.clone()).await, StatusCode::NOT_FOUND);
    // An id that is no action id at all (past i64) is refused in the API's JSON, not axum's text.
    let r = h
        .req(
            Method::POST,
            "/v1/devices/actions/9223372036854775808/result",
            Some(&a_cred),
        )
        .json(&result)
        .send()
        .await
        .expect("result");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = r.json().await.expect("a JSON refusal");
    assert_eq!(body["error"], "invalid_path", "{body}");
    assert_eq!(post_result(a_cred.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(post_result(a_cred.clone()).await, StatusCode::NO_CONTENT);
    assert!(pending(a_cred.clone()).await.is_empty());

    let r = h
        .req(Method::GET, &path, Some(&h.technician))
        .send()
        .await
        .expect("recent");
    assert_eq!(r.status(), StatusCode::OK);
    let seen = r.json::<RemoteActions>().await.expect("actions").actions;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].completed_at.is_some());
    assert_eq!(
        seen[0].result.as_ref().map(|r| r.detail.as_str()),
        Some("Máy in: đạt / printer: passed")
    );

    // Roles stay apart; an unknown device has no actions to queue.
    let r = h
        .req(Method::GET, &path, Some(&a_cred))
        .send()
        .await
        .expect("device on admin");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden_role");
    let r = h
        .req(Method::POST, "/v1/admin/provisioning", Some(&a_cred))
        .json(&json!({"site": SITE, "profile": PROFILE}))
        .send()
        .await
        .expect("device on admin");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = h
        .req(Method::GET, "/v1/devices/actions", Some(&h.technician))
        .send()
        .await
        .expect("tech");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden_role");
    let r = h
        .req(
            Method::POST,
            "/v1/devices/sequence-blocks",
            Some(&h.technician),
        )
        .send()
        .await
        .expect("tech");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = h
        .req(
            Method::POST,
            "/v1/admin/devices/NOPE/actions",
            Some(&h.technician),
        )
        .json(&json!({"kind": "send_log_tail"}))
        .send()
        .await
        .expect("unknown");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    h.finish().await;
}

async fn kiosks_provisioned_at_once_get_disjoint_blocks(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "count": 12}))
        .await;
    let answers =
        futures_util::future::join_all(sheet.codes.iter().map(|c| h.provision_kiosk(&c.code)))
            .await;
    let mut blocks: Vec<SequenceBlock> =
        answers.iter().flat_map(|(p, _)| p.blocks.clone()).collect();
    blocks.sort();
    assert_eq!(blocks.len(), 12);
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(
            *b,
            block(i as u16 * 500 + 1, i as u16 * 500 + 500),
            "{blocks:?}"
        );
    }
    h.finish().await;
}

async fn a_profile_that_is_gone_is_missing_in_words(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let (_, cred) = h.provision_kiosk(&sheet.codes[0].code).await;
    std::fs::remove_file(h.profiles_dir().join(format!("{PROFILE}.toml"))).expect("remove");
    let r = h
        .req(Method::GET, "/v1/devices/profile", Some(&cred))
        .send()
        .await
        .expect("profile");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "profile_missing");
    // A kiosk enrolled with the enrolment key has no profile.
    let enrolled = h.enroll("KIOSK-KEY").await;
    let r = h
        .req(Method::GET, "/v1/devices/profile", Some(&enrolled))
        .send()
        .await
        .expect("profile");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "profile_missing");
    // It may still ask for a block of its own.
    let r = h
        .req(Method::POST, "/v1/devices/sequence-blocks", Some(&enrolled))
        .send()
        .await
        .expect("block");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<SequenceBlocks>().await.expect("blocks").blocks,
        [block(501, 1000)]
    );
    h.finish().await;
}

async fn without_a_provisioning_key_sheets_are_unavailable(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.provisioning_key_file = None).await;
    let r = h
        .req(Method::POST, "/v1/admin/provisioning", Some(&h.technician))
        .json(&json!({"site": SITE, "profile": PROFILE}))
        .send()
        .await
        .expect("sheet");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(r).await, "provisioning_unavailable");
    // Everything else works: enrolment with the key, the CA.
    h.enroll("KIOSK-1").await;
    let r = h
        .req(Method::GET, "/v1/ca.pem", None)
        .send()
        .await
        .expect("ca");
    assert_eq!(r.status(), StatusCode::OK);
    h.finish().await;
}

scenarios!(
    a_sheet_provisions_kiosks_once_each,
    expired_tokens_are_refused,
    a_replaced_kiosk_gets_a_fresh_block,
    blocks_are_disjoint_limited_and_run_out,
    remote_actions_stay_with_their_device,
    without_a_provisioning_key_sheets_are_unavailable,
    kiosks_provisioned_at_once_get_disjoint_blocks,
    a_profile_that_is_gone_is_missing_in_words,
);
