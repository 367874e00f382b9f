//! The harness's side of `POST /v1/blobs/held` and tus termination.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{sha_hex, Cred, Harness};

impl Harness {
    /// `POST /v1/blobs/held` for the hashes of `blobs`: the hashes answered held, in order.
    pub async fn held(&self, cred: &Cred, blobs: &[&[u8]]) -> Vec<String> {
        let hashes: Vec<String> = blobs.iter().map(|b| sha_hex(b)).collect();
        let r = self
            .req(Method::POST, "/v1/blobs/held", Some(cred))
            .json(&serde_json::json!({ "sha256": hashes }))
            .send()
            .await
            .expect("held");
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("held body");
        v["held"]
            .as_array()
            .expect("held list")
            .iter()
            .map(|b| b["sha256"].as_str().expect("sha256").to_string())
            .collect()
    }

    /// `DELETE` of an upload (tus termination).
    pub async fn terminate(&self, cred: &Cred, location: &str) -> reqwest::Response {
        self.req(Method::DELETE, location, Some(cred))
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("delete")
    }
}
