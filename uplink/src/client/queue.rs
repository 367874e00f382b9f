//! The hub's delivery of its queue outbox (issue #18): `POST /v1/queue/events` with the hub's
//! device certificate. The gateway files every event under the certificate's site and counts an
//! event whose key it already holds as a duplicate, so a batch whose answer was lost is simply
//! sent again.

use std::time::Duration;

use motcua_domain::wire::hub::{QueueEventBatch, QueueEventsAccepted};
use reqwest::Method;

use super::{GatewayClient, JsonBody};
use crate::client::GatewayError;

/// The slowest a batch may go up before the request is cut (a poor commune link): the time
/// limit grows with the body at this rate, as a tus chunk's does.
const SLOWEST_BYTES_PER_SEC: u64 = 32 * 1024;

impl GatewayClient {
    /// Delivers one batch of the hub's outbox, oldest first; on `Ok` every event of it is
    /// stored at the gateway (now or before) and the batch may be marked delivered. A body over
    /// [`super::COMPRESS_FROM`] bytes goes gzip-compressed.
    ///
    /// The errors say what to do: [`GatewayError::Status`] 400, 413 or 422 is a batch the
    /// gateway will never take (the message names its first bad event, which resending cannot
    /// fix), [`GatewayError::Busy`] asks to wait, and a link problem or a 5xx is retried.
    pub async fn send_queue_events(
        &self,
        batch: &QueueEventBatch,
    ) -> Result<QueueEventsAccepted, GatewayError> {
        let url = self.url("/v1/queue/events");
        let body = JsonBody::new(batch).map_err(|e| GatewayError::Setup {
            url: url.clone(),
            detail: format!("the queue events could not be written as JSON: {e}"),
        })?;
        tracing::debug!(
            url,
            events = batch.events.len(),
            bytes = body.len(),
            gzip = body.is_gzip(),
            "queue events body"
        );
        let timeout = self.timeout + Duration::from_secs(body.len() as u64 / SLOWEST_BYTES_PER_SEC);
        let rb = body.attach(self.request(Method::POST, &url).timeout(timeout));
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        let accepted: QueueEventsAccepted = self.json(resp, &url).await?;
        let counted = u64::from(accepted.stored) + u64::from(accepted.duplicates);
        if counted != batch.events.len() as u64 {
            return Err(GatewayError::Garbage {
                url,
                detail: format!(
                    "the acknowledgement counts {counted} events of a batch of {}",
                    batch.events.len()
                ),
            });
        }
        Ok(accepted)
    }
}
