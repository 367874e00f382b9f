//! What the citizen does at the kiosk besides a dossier: queue tickets (a per-area, per-day
//! counter) and ratings (one per transaction), each queued for the gateway in the same
//! transaction.

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::rating::RatingScale;
use motcua_domain::ticket::{ticket_id, validate_service_area};
use motcua_domain::wire::{RatingSubmission, TicketIssued};
use rusqlite::{params, TransactionBehavior};

use crate::outbox::{insert_outbox, OutboxKind};
use crate::{db_err, DeviceIdentity, Store, StoreError, StoreResult};

impl Store {
    /// Issues the next queue ticket of a service area for today, durably, and queues it.
    pub fn issue_ticket(
        &mut self,
        device: &DeviceIdentity,
        service_area: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<TicketIssued> {
        validate_service_area(service_area).map_err(|e| StoreError::Rejected(e.to_string()))?;
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let date = now.date_naive();
        let day = date.format("%Y-%m-%d").to_string();
        let number: u32 = tx
            .query_row(
                "INSERT INTO ticket_sequences(area, day, last_number) VALUES(?1, ?2, 1)
                 ON CONFLICT(area, day) DO UPDATE SET last_number = last_number + 1
                 RETURNING last_number",
                params![service_area, day],
                |r| r.get(0),
            )
            .map_err(&db)?;
        let ticket = TicketIssued {
            ticket_id: ticket_id(&device.id, service_area, date, number),
            service_area: service_area.to_owned(),
            number,
            device_id: device.id.clone(),
            issued_at: now,
        };
        let json = serde_json::to_string(&ticket).map_err(|e| StoreError::Corrupt {
            what: ticket.ticket_id.clone(),
            detail: e.to_string(),
        })?;
        insert_outbox(
            &tx,
            OutboxKind::Ticket,
            &format!("{}:ticket:{}", device.id, ticket.ticket_id),
            &json,
            now,
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(ticket)
    }

    /// Records a citizen's rating of one transaction (once only) and queues it.
    pub fn rate(
        &mut self,
        device: &DeviceIdentity,
        scale: RatingScale,
        transaction: &str,
        level: u8,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<RatingSubmission> {
        let transaction = transaction.trim();
        if transaction.is_empty() || transaction.len() > 160 {
            return Err(StoreError::Rejected(
                "a rating needs the ticket or dossier code it is about".into(),
            ));
        }
        let score = scale
            .score(level)
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        let rating = RatingSubmission {
            transaction: transaction.to_owned(),
            device_id: device.id.clone(),
            scale_levels: scale.levels(),
            level,
            score,
            rated_at: now,
        };
        let json = serde_json::to_string(&rating).map_err(|e| StoreError::Corrupt {
            what: transaction.to_owned(),
            detail: e.to_string(),
        })?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO ratings(transaction_id, level, score, rated_at) VALUES(?1, ?2, ?3, ?4)",
                params![transaction, level, score, now.to_rfc3339()],
            )
            .map_err(&db)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyRated(transaction.to_owned()));
        }
        insert_outbox(
            &tx,
            OutboxKind::Rating,
            &format!("{}:rating:{transaction}", device.id),
            &json,
            now,
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(rating)
    }

    /// When today's earlier tickets of a service area were issued (for the wait estimate).
    pub fn ticket_times(
        &self,
        service_area: &str,
        day: NaiveDate,
    ) -> StoreResult<Vec<DateTime<FixedOffset>>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT json_extract(payload, '$.issued_at') FROM outbox
                 WHERE kind = 'ticket' AND json_extract(payload, '$.service_area') = ?1
                 ORDER BY id",
            )
            .map_err(self.db())?;
        let times = stmt
            .query_map([service_area], |r| r.get::<_, String>(0))
            .map_err(self.db())?
            .filter_map(|t| t.ok())
            .filter_map(|t| DateTime::parse_from_rfc3339(&t).ok())
            .filter(|t| t.date_naive() == day)
            .collect();
        Ok(times)
    }
}
