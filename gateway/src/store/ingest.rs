//! What an ingest checks and writes, decided once for both backends: each backend only runs the
//! [`Plan`] inside its own transaction (and claims the idempotency key in its own way, see the
//! backends), so the rules of "exactly once" (which row clashes with which, and what a clash
//! means to the kiosk) cannot drift apart between SQLite and PostgreSQL.

use motcua_domain::wire::{DossierStatus, HealthReport};

use motcua_domain::dossier::DossierCode;

use super::authorization::Check;
use super::feed::{FeedCounterMissing, DOCUMENTS_ADDED, DOSSIER_RECEIVED, FEED_APPEND, FEED_NEXT};
use super::fleet::HISTORY_PER_DEVICE;
use super::held_sql as held;
use super::queries::{self, StoredKey};
use super::value::{sql_int, Value};
use super::{status_name, Ingest, IngestOutcome, Record};

/// One insert of a plan.
#[derive(Debug)]
pub(super) struct Insert {
    pub sql: &'static str,
    /// What the insert does, for the error if it fails ("store a dossier").
    pub action: &'static str,
    pub params: Vec<Value>,
    /// What it means if this insert stores nothing.
    pub if_none: IfNone,
}

/// What an insert that stores nothing means.
#[derive(Debug)]
pub(super) enum IfNone {
    /// Nothing to answer: the insert cannot clash.
    Ignore,
    /// Its `ON CONFLICT DO NOTHING` found the natural key taken: the ingest ends with this
    /// answer, storing nothing.
    Answer(IngestOutcome),
    /// The feed's counter row is missing (see `feed`): the ingest fails, storing nothing.
    FeedCounterMissing,
}

impl IfNone {
    /// What an insert that wrote `rows` rows means: go on (`Ok(None)`), end the ingest with an
    /// answer (`Ok(Some)`), or fail it.
    pub(super) fn after(self, rows: u64) -> Result<Option<IngestOutcome>, FeedCounterMissing> {
        match (rows, self) {
            (0, IfNone::Answer(outcome)) => Ok(Some(outcome)),
            (0, IfNone::FeedCounterMissing) => Err(FeedCounterMissing),
            _ => Ok(None),
        }
    }
}

/// The checks and writes of one ingest, in order.
#[derive(Debug)]
pub(super) struct Plan {
    /// Lookups that may refuse the ingest before anything is written (see `authorization`).
    pub checks: Vec<Check>,
    /// Blobs that must be completely uploaded by a device of the site, with the size each is
    /// cited with: each (hash, size) once, in order of first mention.
    pub needs_blobs: Vec<(String, u64)>,
    /// Run in order; the first that stores nothing with an [`IfNone::Answer`] ends the ingest
    /// with it, one with [`IfNone::FeedCounterMissing`] fails it.
    pub inserts: Vec<Insert>,
    /// Records the idempotency key; the backends run it first (PostgreSQL) or last (SQLite).
    pub claim: Insert,
}

/// The plan of an ingest.
pub(super) fn plan(ing: &Ingest) -> Plan {
    let mut checks = Vec::new();
    let mut needs_blobs: Vec<(String, u64)> = Vec::new();
    let mut inserts = Vec::new();
    let mut need_blob = |sha: &String, size: u64| {
        let need = (sha.clone(), size);
        if !needs_blobs.contains(&need) {
            needs_blobs.push(need);
        }
    };
    match &ing.record {
        Record::Dossier(d) => {
            // The handler refused codes that do not parse or name another agency.
            if let Ok(code) = DossierCode::parse(&d.code) {
                checks.push(Check::Sequence {
                    code: d.code.clone(),
                    number: code.sequence(),
                    day: code.date().format("%Y-%m-%d").to_string(),
                });
            }
            d.documents
                .iter()
                .for_each(|doc| need_blob(&doc.sha256, doc.size));
            inserts.push(Insert {
                sql: queries::DOSSIER_INSERT,
                action: "store a dossier",
                params: vec![
                    (&d.code).into(),
                    (&d.procedure_code).into(),
                    (&d.agency_code).into(),
                    (&ing.device_id).into(),
                    (&ing.key).into(),
                    (&ing.body_json).into(),
                    status_name(DossierStatus::Submitted).into(),
                    d.appointment_date.to_string().into(),
                    d.received_at.to_rfc3339().into(),
                    (&ing.now).into(),
                ],
                if_none: IfNone::Answer(IngestOutcome::Conflict(d.code.clone())),
            });
            // The API put the MAC of the hash in `lookup_sha256` (`api::ingest`).
            if let Some(mac) = &d.lookup_sha256 {
                inserts.push(Insert {
                    sql: super::lookup::LOOKUP_MAC_SET,
                    action: "record a dossier's keyed lookup hash",
                    params: vec![mac.into(), (&d.code).into()],
                    if_none: IfNone::Ignore,
                });
            }
            inserts.extend(held_inserts(ing, &d.code));
            // A cited kind needs a held copy for this applicant (no ID number: none is).
            let id_mac = ing.held.id_mac.clone().unwrap_or_default();
            for kind in &d.reused_documents {
                checks.push(Check::Held {
                    id_mac: id_mac.clone(),
                    kind: kind.clone(),
                });
                inserts.push(Insert {
                    sql: held::REUSE_LINK,
                    action: "link a held document to a dossier",
                    params: vec![
                        (&d.code).into(),
                        (&ing.now).into(),
                        (&id_mac).into(),
                        kind.into(),
                    ],
                    if_none: IfNone::Ignore,
                });
            }
            for (i, doc) in d.documents.iter().enumerate() {
                inserts.push(Insert {
                    sql: queries::DOCUMENT_INSERT,
                    action: "store a document",
                    params: vec![
                        (&d.code).into(),
                        (i as i64).into(),
                        (&doc.name).into(),
                        (&doc.file_name).into(),
                        (&doc.media_type).into(),
                        sql_int(doc.size).into(),
                        (&doc.sha256).into(),
                    ],
                    if_none: IfNone::Ignore,
                });
            }
            inserts.extend(feed_append(DOSSIER_RECEIVED, ing, &d.code));
        }
        Record::Documents(d) => {
            checks.push(Check::Dossier(d.dossier_code.clone()));
            d.documents
                .iter()
                .for_each(|doc| need_blob(&doc.sha256, doc.size));
            for doc in &d.documents {
                inserts.push(Insert {
                    sql: queries::DIGITIZED_INSERT,
                    action: "store a digitized document",
                    params: vec![
                        (&doc.document_code).into(),
                        (&d.dossier_code).into(),
                        i64::from(doc.document_index).into(),
                        (&doc.name).into(),
                        (&doc.media_type).into(),
                        i64::from(doc.pages).into(),
                        sql_int(doc.size).into(),
                        (&doc.sha256).into(),
                        (&ing.device_id).into(),
                        (&ing.key).into(),
                        (&ing.now).into(),
                    ],
                    if_none: IfNone::Answer(IngestOutcome::Conflict(doc.document_code.clone())),
                });
                inserts.push(Insert {
                    sql: held::HELD_UPSERT,
                    action: "record a held document",
                    params: vec![
                        (&doc.document_code).into(),
                        (&doc.sha256).into(),
                        (&ing.site).into(),
                        (&ing.now).into(),
                        (&d.dossier_code).into(),
                        i64::from(doc.document_index).into(),
                    ],
                    if_none: IfNone::Ignore,
                });
            }
            inserts.extend(feed_append(DOCUMENTS_ADDED, ing, &d.dossier_code));
        }
        Record::Rating(r) => {
            checks.push(Check::RatingTarget(r.transaction.clone()));
            inserts.push(Insert {
                sql: queries::RATING_INSERT,
                action: "store a rating",
                params: body_row(&r.transaction, ing),
                if_none: IfNone::Answer(IngestOutcome::AlreadyRated(r.transaction.clone())),
            });
        }
        Record::Ticket(t) => {
            // The handler refused ids without an issuer.
            if let Some((_, issuer)) = t.ticket_id.rsplit_once('@') {
                checks.push(Check::TicketIssuer {
                    ticket: t.ticket_id.clone(),
                    issuer: issuer.to_string(),
                });
            }
            let mut params = body_row(&t.ticket_id, ing);
            params.push((&ing.site).into());
            inserts.push(Insert {
                sql: queries::TICKET_INSERT,
                action: "store a ticket",
                params,
                if_none: IfNone::Answer(IngestOutcome::Conflict(t.ticket_id.clone())),
            });
        }
        Record::Health(h) => inserts.extend(health_inserts(h, ing)),
    }
    Plan {
        checks,
        needs_blobs,
        inserts,
        claim: Insert {
            sql: queries::IDEMPOTENCY_KEY_CLAIM,
            action: "claim an idempotency key",
            params: vec![
                (&ing.key).into(),
                ing.record.kind().into(),
                (&ing.device_id).into(),
                (&ing.body_sha256).into(),
                (&ing.now).into(),
            ],
            if_none: IfNone::Ignore,
        },
    }
}

/// A dossier's applicant MAC and its documents' kinds, for its digitized documents to come.
fn held_inserts(ing: &Ingest, code: &str) -> Vec<Insert> {
    let mut inserts = Vec::new();
    if let Some(mac) = &ing.held.id_mac {
        inserts.push(Insert {
            sql: held::APPLICANT_MAC_SET,
            action: "record a dossier's applicant",
            params: vec![mac.into(), code.into()],
            if_none: IfNone::Ignore,
        });
    }
    for (index, kind) in &ing.held.kinds {
        inserts.push(Insert {
            sql: held::DOSSIER_KIND_INSERT,
            action: "record a dossier's document kind",
            params: vec![code.into(), i64::from(*index).into(), kind.into()],
            if_none: IfNone::Ignore,
        });
    }
    inserts
}

/// The export feed's event of an ingest (see `feed`): the last of its inserts, so the feed's
/// counter row is held only for the commit.
fn feed_append(kind: &str, ing: &Ingest, code: &str) -> [Insert; 2] {
    [
        Insert {
            sql: FEED_NEXT,
            action: "take the next feed event id",
            params: Vec::new(),
            if_none: IfNone::FeedCounterMissing,
        },
        Insert {
            sql: FEED_APPEND,
            action: "append a feed event",
            params: vec![
                kind.into(),
                (&ing.device_id).into(),
                (&ing.key).into(),
                (&ing.now).into(),
                code.into(),
            ],
            if_none: IfNone::FeedCounterMissing,
        },
    ]
}

/// A health report joins its device's history, becomes its latest, and the history is cut to
/// its bound. The clock offset is the kiosk's `sent_at` minus the gateway's receipt (`now`).
fn health_inserts(h: &HealthReport, ing: &Ingest) -> [Insert; 3] {
    let received_ms = chrono::DateTime::parse_from_rfc3339(&ing.now)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    let offset_ms = h.sent_at.map_or(0, |sent| {
        sent.timestamp_millis().saturating_sub(received_ms)
    });
    let pending = i64::try_from(h.outbox_pending).unwrap_or(i64::MAX);
    [
        Insert {
            sql: queries::HEALTH_INSERT,
            action: "store a health report",
            params: vec![
                (&ing.key).into(),
                (&ing.device_id).into(),
                h.generated_at.to_rfc3339().into(),
                (&ing.now).into(),
                received_ms.into(),
                offset_ms.into(),
                pending.into(),
                (&ing.body_json).into(),
            ],
            if_none: IfNone::Ignore,
        },
        Insert {
            sql: queries::HEALTH_LATEST_UPSERT,
            action: "record a device's latest health report",
            params: vec![
                (&ing.device_id).into(),
                (&ing.key).into(),
                (&ing.now).into(),
                received_ms.into(),
                offset_ms.into(),
                (&ing.body_json).into(),
            ],
            if_none: IfNone::Ignore,
        },
        Insert {
            sql: queries::HEALTH_PRUNE,
            action: "cut a device's health history",
            params: vec![(&ing.device_id).into(), HISTORY_PER_DEVICE.into()],
            if_none: IfNone::Ignore,
        },
    ]
}

/// Parameters of the ratings and tickets tables: natural key, device, key, body, now.
fn body_row(natural_key: &str, ing: &Ingest) -> Vec<Value> {
    vec![
        natural_key.into(),
        (&ing.device_id).into(),
        (&ing.key).into(),
        (&ing.body_json).into(),
        (&ing.now).into(),
    ]
}

/// The answer to an ingest whose key is stored already: the same request again is a duplicate,
/// anything else under that key a reuse.
pub(super) fn replay(ing: &Ingest, stored: &StoredKey) -> IngestOutcome {
    if stored.kind == ing.record.kind()
        && stored.device_id == ing.device_id
        && stored.body_sha256 == ing.body_sha256
    {
        IngestOutcome::Duplicate
    } else {
        IngestOutcome::KeyReused
    }
}
