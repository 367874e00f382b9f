//! The status lookup over TLS against a test server: the secret travels in the body of a POST
//! (never in the path, which logs keep), a 404 is "no such dossier for this secret", and a 429
//! is "too many tries" with the time to wait (the gateway's longest window without a header).

mod common;

use std::time::Duration;

use common::{authority, enrol_files, serve, Answer};
use motcua_uplink::{DeviceLink, LookupAnswer};

async fn ask(
    answer: Answer,
) -> (
    Result<LookupAnswer, motcua_uplink::GatewayError>,
    Vec<String>,
) {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), answer).await;
    let data = tempfile::tempdir().unwrap();
    let (files, _) = enrol_files(data.path(), &ca);
    let link = DeviceLink::open(files, &server.url(), Duration::from_secs(10)).unwrap();
    let got = link
        .client()
        .lookup_status("000.17.22.H56-261123-0001", "7KQ2-M9XD")
        .await;
    (got, server.requests())
}

#[tokio::test]
async fn a_miss_is_not_found_and_the_secret_stays_out_of_the_path() {
    let (got, requests) = ask(Answer::Status("404 Not Found", "not_found")).await;
    assert_eq!(got.unwrap(), LookupAnswer::NotFound);
    assert_eq!(requests, ["POST /v1/dossiers/status"]);
}

#[tokio::test]
async fn too_many_tries_say_how_long_to_wait() {
    let (got, _) = ask(Answer::Status("429 Too Many Requests", "too_many_lookups")).await;
    assert_eq!(
        got.unwrap(),
        LookupAnswer::TooMany {
            retry_after_s: 3600
        }
    );
}

#[tokio::test]
async fn another_refusal_is_an_error_in_words() {
    let (got, _) = ask(Answer::Status("503 Service Unavailable", "unavailable")).await;
    let e = got.unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
}
