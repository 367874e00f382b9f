//! Dossiers accepted at this kiosk: allocating their codes, storing them with their documents
//! in one transaction (invariants 1, 2 and 4), listing them, and the status last learnt.

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::Procedure;
use motcua_domain::dossier::{code_date, DossierCode};
use motcua_domain::wire::{Applicant, DocumentRef, DossierSubmission};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::blobs::BlobInfo;
use crate::outbox::{insert_outbox, OutboxKind};
use crate::{db_err, DeviceIdentity, Store, StoreError, StoreResult};

/// A dossier as listed on the kiosk (no personal data).
#[derive(Debug, Clone, Serialize)]
pub struct DossierSummary {
    /// Dossier code.
    pub code: String,
    /// Procedure code.
    pub procedure_code: String,
    /// When it was received.
    pub received_at: String,
    /// Appointment date.
    pub appointment_date: String,
    /// Number of documents.
    pub documents: u32,
    /// Whether the gateway acknowledged it.
    pub delivered: bool,
}

/// A document the citizen attached, already stored as a blob.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Document name (usually the catalog's required-document name).
    pub name: String,
    /// Original file name.
    pub file_name: String,
    /// MIME type.
    pub media_type: String,
    /// The stored blob.
    pub blob: BlobInfo,
}

impl Store {
    /// Accepts a dossier durably: allocates its code, computes its appointment date, stores it
    /// with its documents and queues it for upload, all in one transaction. The documents' blobs
    /// must already be stored. Returns what was stored: only now may the citizen be told.
    pub fn submit_dossier(
        &mut self,
        device: &DeviceIdentity,
        procedure: &Procedure,
        calendar: &WorkingCalendar,
        applicant: Applicant,
        documents: Vec<NewDocument>,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<DossierSubmission> {
        self.submit_dossier_reusing(
            device,
            procedure,
            calendar,
            applicant,
            documents,
            Vec::new(),
            now,
        )
    }

    /// [`Store::submit_dossier`] for a dossier that also cites, by kind code, documents the
    /// province already holds digitized for the applicant ("never asked twice"): they travel
    /// in the submission's `reused_documents` (its JSON), so no schema change is needed.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_dossier_reusing(
        &mut self,
        device: &DeviceIdentity,
        procedure: &Procedure,
        calendar: &WorkingCalendar,
        applicant: Applicant,
        documents: Vec<NewDocument>,
        reused_documents: Vec<String>,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<DossierSubmission> {
        if applicant.full_name.trim().is_empty() {
            return Err(StoreError::Rejected(
                "the applicant's full name is required".into(),
            ));
        }
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        // Checked under the write lock: the applicant is sealed with the key every later open
        // will accept, or the dossier is refused whole (nothing is lost, the citizen is told
        // the kiosk has a problem).
        crate::applicant::check_recorded(&tx, &self.db_path, &self.data_key_path, &self.data_key)?;
        // Checked under the write lock: garbage collection, which takes the same lock, cannot
        // delete a blob between this check and the commit.
        for doc in &documents {
            if !self.blobs.contains(&doc.blob.sha256) {
                return Err(StoreError::Rejected(format!(
                    "document {:?} has no stored content",
                    doc.name
                )));
            }
        }

        let key = format!("latest_code_date:{}", device.agency_code);
        let latest: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&db)?;
        let latest = latest.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok());
        let date = code_date(now.date_naive(), latest);
        let day = date.format("%Y-%m-%d").to_string();
        let last: Option<u16> = tx
            .query_row(
                "SELECT last_sequence FROM code_sequences WHERE agency = ?1 AND day = ?2",
                params![device.agency_code, day],
                |r| r.get(0),
            )
            .optional()
            .map_err(&db)?;
        let ranges = Store::ranges_of(&tx, device).map_err(&db)?;
        let sequence = crate::provisioning::next_in_blocks(&ranges, last).ok_or_else(|| {
            StoreError::SequenceExhausted {
                agency: device.agency_code.clone(),
                date,
                first: ranges.iter().map(|r| r.first).min().unwrap_or(0),
                last: ranges.iter().map(|r| r.last).max().unwrap_or(0),
            }
        })?;
        let code = DossierCode::new(&device.agency_code, date, u32::from(sequence))
            .map_err(|e| StoreError::Rejected(e.to_string()))?
            .to_string();
        tx.execute(
            "INSERT INTO code_sequences(agency, day, last_sequence) VALUES(?1, ?2, ?3)
             ON CONFLICT(agency, day) DO UPDATE SET last_sequence = excluded.last_sequence",
            params![device.agency_code, day, sequence],
        )
        .map_err(&db)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES(?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, day],
        )
        .map_err(&db)?;

        let appointment_date = calendar.appointment_date(date, procedure.processing_days);
        let submission = DossierSubmission {
            code: code.clone(),
            procedure_code: procedure.code.clone(),
            agency_code: device.agency_code.clone(),
            device_id: device.id.clone(),
            applicant,
            received_at: now,
            appointment_date,
            documents: documents
                .iter()
                .map(|d| DocumentRef {
                    name: d.name.clone(),
                    file_name: d.file_name.clone(),
                    media_type: d.media_type.clone(),
                    size: d.blob.size,
                    sha256: d.blob.sha256.clone(),
                })
                .collect(),
            lookup_sha256: Some(crate::lookup::hash_of(&self.data_key, &code)),
            reused_documents,
        };
        // The applicant is stored sealed only; the JSON keeps a blank one (`applicant.rs`),
        // and a marker in place of the lookup hash, derived again at delivery (`lookup.rs`).
        let stored = DossierSubmission {
            applicant: crate::applicant::blank(),
            lookup_sha256: Some(crate::lookup::DERIVED.to_owned()),
            ..submission.clone()
        };
        let json = serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt {
            what: code.clone(),
            detail: e.to_string(),
        })?;
        let sealed = crate::applicant::seal(&self.data_key, &code, &submission.applicant)?;
        tx.execute(
            "INSERT INTO dossiers(code, procedure_code, submission, received_at, appointment_date,
                                  applicant_sealed)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                code,
                procedure.code,
                json,
                now.to_rfc3339(),
                appointment_date.to_string(),
                sealed
            ],
        )
        .map_err(&db)?;
        for (position, doc) in documents.iter().enumerate() {
            tx.execute(
                "INSERT INTO dossier_documents(dossier_code, position, sha256, size) VALUES(?1, ?2, ?3, ?4)",
                params![code, position as i64, doc.blob.sha256, doc.blob.size as i64],
            )
            .map_err(&db)?;
            tx.execute(
                "INSERT OR IGNORE INTO uploads(sha256, size) VALUES(?1, ?2)",
                params![doc.blob.sha256, doc.blob.size as i64],
            )
            .map_err(&db)?;
        }
        insert_outbox(
            &tx,
            OutboxKind::Dossier,
            &format!("{}:dossier:{code}", device.id),
            &code,
            now,
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(submission)
    }

    /// The stored submission of a dossier, its applicant unsealed (blank once retention
    /// purged it) and its lookup hash derived (see `lookup.rs`).
    pub fn dossier(&self, code: &str) -> StoreResult<Option<DossierSubmission>> {
        let row: Option<(String, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT submission, applicant_sealed FROM dossiers WHERE code = ?1",
                [code],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        let Some((json, sealed)) = row else {
            return Ok(None);
        };
        let mut submission: DossierSubmission =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                what: format!("dossier {code}"),
                detail: e.to_string(),
            })?;
        if let Some(sealed) = sealed {
            submission.applicant = crate::applicant::open(&self.data_key, code, &sealed)?;
        }
        // A dossier with a secret has the marker (or, not scrubbed yet, its hash) here.
        if submission.lookup_sha256.is_some() {
            submission.lookup_sha256 = Some(crate::lookup::hash_of(&self.data_key, code));
        }
        Ok(Some(submission))
    }

    /// Dossiers on this kiosk, newest first, without personal data.
    pub fn list_dossiers(&self, limit: u32) -> StoreResult<Vec<DossierSummary>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.code, d.procedure_code, d.received_at, d.appointment_date,
                        (SELECT COUNT(*) FROM dossier_documents x WHERE x.dossier_code = d.code),
                        (SELECT o.delivered_at IS NOT NULL FROM outbox o
                          WHERE o.kind = 'dossier' AND o.payload = d.code)
                 FROM dossiers d ORDER BY d.received_at DESC, d.code DESC LIMIT ?1",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(DossierSummary {
                    code: r.get(0)?,
                    procedure_code: r.get(1)?,
                    received_at: r.get(2)?,
                    appointment_date: r.get(3)?,
                    documents: r.get(4)?,
                    delivered: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                })
            })
            .map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }
}
