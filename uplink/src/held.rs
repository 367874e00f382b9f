//! "Never asked twice" (`POST /v1/held-documents`, issue #19 part 5): which of a procedure's
//! document kinds the province already holds digitized for the ID number read from the chip
//! card in this session. The number goes in the body, never in the URL, and never in a log.

use motcua_domain::wire::{HeldDocuments, HeldDocumentsQuery};
use reqwest::Method;

use crate::client::{GatewayClient, GatewayError};

impl GatewayClient {
    /// The kinds among `kind_codes` held for `id_number`, in the order asked. Any refusal (too
    /// many questions from this kiosk included) is an error: the kiosk then asks for every
    /// document as before.
    pub async fn held_documents(
        &self,
        id_number: &str,
        kind_codes: &[String],
    ) -> Result<Vec<String>, GatewayError> {
        let url = self.url("/v1/held-documents");
        let body = HeldDocumentsQuery {
            id_number: id_number.to_owned(),
            kind_codes: kind_codes.to_vec(),
        };
        let resp = self
            .send(self.request(Method::POST, &url).json(&body), &url)
            .await?;
        if resp.status().is_success() {
            let answer: HeldDocuments = self.json(resp, &url).await?;
            // Only what was asked, whatever a gateway answers.
            Ok(answer
                .held
                .into_iter()
                .filter(|k| kind_codes.contains(k))
                .collect())
        } else {
            Err(GatewayClient::error_from(resp, &url).await)
        }
    }
}
