//! Tickets and ratings through the centre's hub (`[hub]`, issue #18).
//!
//! A ticket is the hub's number (one sequence per area across the hall) with its wait from
//! the live queue. When the hub cannot be reached, the kiosk numbers the ticket from its own
//! fallback block, durably before printing, and the slip says it was issued offline and that
//! the wait cannot be estimated; kioskd reports it to the hub later
//! ([`crate::hub_link::keep_hub`]). No ticket enters this kiosk's gateway outbox: the hub's
//! does that.
//!
//! A rating of a ticket goes to the hub, which keeps one per ticket and refuses one of a ticket
//! not served yet; when the hub is unreachable (or does not know the ticket: one issued before
//! the centre had a hub, or offline and not reported yet), the kiosk keeps it as before.

use motcua_flows::ticket::{offline_wait, IssuedTicket, ServiceArea};
use motcua_flows::Message;
use motcua_store::error::StoreError;
use motcua_uplink::{HubClient, HubError};

use super::messages::store_trouble;
use super::Services;

/// What a rating through the hub came to.
pub(super) enum HubRating {
    /// The hub kept it, or refused it in these words.
    Answered(Result<(), Message>),
    /// Rate here instead.
    Local,
}

impl Services {
    /// The hub's client when `[hub]` is configured (`None` without), rebuilt when
    /// `identity/device.pem` is replaced.
    pub(super) fn hub_client(&mut self) -> Option<Result<HubClient, HubError>> {
        let hub = self.config.hub.clone()?;
        let stamp = self.config.identity_files().device_stamp();
        if let Some((seen, client)) = &self.hub {
            if stamp.is_some() && *seen == stamp {
                return Some(Ok(client.clone()));
            }
        }
        let made = crate::hub_link::hub_client(&self.config, &hub);
        if let Ok(client) = &made {
            self.hub = Some((stamp, client.clone()));
        }
        Some(made)
    }

    /// A ticket from the hub, or from the fallback block when it is unreachable.
    pub(super) fn issue_through_hub(
        &mut self,
        client: Result<HubClient, HubError>,
        area: &ServiceArea,
    ) -> Result<IssuedTicket, Message> {
        let asked = match &client {
            Ok(c) => self.runtime.block_on(c.issue(&area.code)),
            Err(e) => Err(e.clone()),
        };
        match asked {
            Ok(t) => {
                if let Ok(c) = &client {
                    self.join_if_blockless(c);
                }
                let wait = match &t.wait {
                    Some(w) => Message::new(w.label_vi(), w.label_en()),
                    None => Message::new(
                        "chưa ước tính được: chưa có quầy nào mở cho lĩnh vực này",
                        "cannot be estimated: no counter is open for this area yet",
                    ),
                };
                Ok(IssuedTicket {
                    // The QR: the id and the rating code that proves it was printed.
                    ticket_id: motcua_domain::ticket::rating_qr(&t.ticket_id, &t.rating_code),
                    number: t.number,
                    area: area.clone(),
                    ahead: t.ahead,
                    wait_minutes: 0,
                    wait_text: Some(wait),
                    offline: false,
                })
            }
            Err(e) if e.hub_unavailable() => {
                tracing::warn!(error = %e, area = %area.code, "hub unavailable: ticket from the fallback block");
                self.issue_offline(area)
            }
            Err(e) => {
                tracing::warn!(error = %e, area = %area.code, "the hub refused a ticket");
                let words = match &e {
                    HubError::Refused { refusal, .. } => refusal.message.clone(),
                    other => other.to_string(),
                };
                Err(Message::new(
                    format!("Máy chủ quầy không cấp số: {words}. Vui lòng hỏi cán bộ."),
                    format!("The queue server issued no number: {words}. Please ask an officer."),
                ))
            }
        }
    }

    /// Joins the hub when the kiosk has no block yet (kioskd does too; this covers a screen
    /// that reached the hub first).
    fn join_if_blockless(&mut self, client: &HubClient) {
        if matches!(self.store.hub_block(), Ok(None)) {
            let joined = self
                .runtime
                .block_on(crate::hub_link::join(client, &mut self.store));
            if let Err(e) = joined {
                tracing::warn!(error = %e, "no fallback block from the hub yet");
            }
        }
    }

    /// A ticket numbered from the fallback block, stored before it is printed.
    fn issue_offline(&mut self, area: &ServiceArea) -> Result<IssuedTicket, Message> {
        let now = (self.now)();
        match self
            .store
            .issue_offline_ticket(&self.config.device.id, &area.code, now)
        {
            Ok(t) => Ok(IssuedTicket {
                ticket_id: motcua_domain::ticket::rating_qr(
                    &t.ticket_id,
                    t.rating_code.as_deref().unwrap_or_default(),
                ),
                number: t.number,
                area: area.clone(),
                ahead: 0,
                wait_minutes: 0,
                wait_text: Some(offline_wait()),
                offline: true,
            }),
            Err(StoreError::NoHubBlock) => Err(Message::new(
                "Hiện không kết nối được máy chủ quầy của trung tâm và ki-ốt này chưa nhận được dãy số dự phòng, nên chưa cấp được số thứ tự. Vui lòng hỏi cán bộ tại quầy.",
                "The centre's queue server cannot be reached and this kiosk has no reserved numbers from it yet, so no queue number can be issued. Please ask an officer at a counter.",
            )),
            Err(StoreError::HubBlockUsedUp { .. }) => Err(Message::new(
                "Hiện không kết nối được máy chủ quầy và ki-ốt đã dùng hết số dự phòng của lĩnh vực này hôm nay. Vui lòng hỏi cán bộ tại quầy.",
                "The queue server cannot be reached and this kiosk has used all its reserved numbers for this service today. Please ask an officer at a counter.",
            )),
            Err(e) => Err(store_trouble(&e)),
        }
    }

    /// A rating of a ticket's QR through the hub.
    pub(super) fn rate_through_hub(&mut self, transaction: &str, level: u8) -> HubRating {
        if !crate::hub_link::looks_like_ticket_id(transaction) {
            return HubRating::Local;
        }
        let Some(client) = self.hub_client() else {
            return HubRating::Local;
        };
        let levels = self.config.rating_scale.levels();
        let answer = match client {
            Ok(c) => {
                let (id, code) = motcua_domain::ticket::split_rating_qr(transaction);
                self.runtime
                    .block_on(c.rate(id, code.as_deref(), level, levels))
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(_) => HubRating::Answered(Ok(())),
            Err(e) if e.hub_unavailable() || e.refusal_code() == Some("unknown_ticket") => {
                tracing::info!(error = %e, "rating kept on the kiosk");
                HubRating::Local
            }
            Err(e) => HubRating::Answered(Err(match e.refusal_code() {
                Some("already_rated") => Message::new(
                    "Vé này đã được đánh giá. Cảm ơn ông/bà!",
                    "This ticket was already rated. Thank you!",
                ),
                Some("not_finished") => Message::new(
                    "Vé này chưa được phục vụ xong tại quầy. Vui lòng đánh giá sau khi được phục vụ.",
                    "This ticket has not been served at a counter yet. Please rate after you were served.",
                ),
                _ => {
                    let words = match &e {
                        HubError::Refused { refusal, .. } => refusal.message.clone(),
                        other => other.to_string(),
                    };
                    Message::new(
                        format!("Máy chủ quầy không nhận đánh giá: {words}"),
                        format!("The queue server did not take the rating: {words}"),
                    )
                }
            })),
        }
    }
}
