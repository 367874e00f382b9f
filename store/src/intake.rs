//! Documents digitized at the intake counter, added to a stored dossier exactly once.

use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::blobs::BlobInfo;
use crate::outbox::{insert_outbox, OutboxKind};
use crate::{db_err, DeviceIdentity, Store, StoreError, StoreResult};

/// A document digitized at intake, its PDF already stored as a blob.
#[derive(Debug, Clone)]
pub struct NewDigitized {
    /// Its document code (from the configured template).
    pub document_code: String,
    /// Index of the required document (0 for unsorted pages).
    pub document_index: u32,
    /// Document name.
    pub name: String,
    /// Number of pages.
    pub pages: u32,
    /// The stored PDF.
    pub blob: BlobInfo,
}

/// What [`Store::add_digitized_documents`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DigitizedOutcome {
    /// Document codes stored and queued now.
    pub stored: Vec<String>,
    /// Document codes that were already stored with the same content (a repeated command).
    pub already_stored: Vec<String>,
}

impl Store {
    /// Adds documents digitized at the intake counter to dossier `dossier_code` durably and
    /// queues them for the gateway, in one transaction: the blobs must already be stored. A
    /// document code already stored with the same content is skipped (running an intake twice
    /// adds nothing); with other content it is refused, since a document code, once given,
    /// names one content forever. The outbox entry's idempotency key is derived from the
    /// documents, so the gateway stores them exactly once however often delivery is retried.
    pub fn add_digitized_documents(
        &mut self,
        device: &DeviceIdentity,
        dossier_code: &str,
        documents: &[NewDigitized],
        now: DateTime<FixedOffset>,
    ) -> StoreResult<DigitizedOutcome> {
        use sha2::{Digest, Sha256};
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut outcome = DigitizedOutcome::default();
        let mut fresh = Vec::new();
        for doc in documents {
            if !self.blobs.contains(&doc.blob.sha256) {
                return Err(StoreError::Rejected(format!(
                    "giấy tờ {} chưa được lưu / document {} has no stored content",
                    doc.document_code, doc.document_code
                )));
            }
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT dossier_code, sha256 FROM intake_documents WHERE document_code = ?1",
                    [&doc.document_code],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(&db)?;
            match existing {
                Some((d, sha)) if d == dossier_code && sha == doc.blob.sha256 => {
                    outcome.already_stored.push(doc.document_code.clone());
                }
                Some(_) => {
                    return Err(StoreError::Rejected(format!(
                        "mã giấy tờ {0} đã được dùng cho nội dung khác / document code {0} is already used for other content; delete the stored document first or scan it under another document",
                        doc.document_code
                    )))
                }
                None => fresh.push(doc),
            }
        }
        if fresh.is_empty() {
            return Ok(outcome);
        }
        let mut hasher = Sha256::new();
        for doc in &fresh {
            hasher.update(doc.document_code.as_bytes());
            hasher.update([0]);
            hasher.update(doc.blob.sha256.as_bytes());
            hasher.update([0]);
        }
        let key = format!(
            "{}:documents:{dossier_code}:{}",
            device.id,
            &hex::encode(hasher.finalize())[..16]
        );
        let body = motcua_domain::wire::DigitizedDocuments {
            dossier_code: dossier_code.to_owned(),
            device_id: device.id.clone(),
            digitized_at: now,
            documents: fresh
                .iter()
                .map(|d| motcua_domain::wire::DigitizedDocument {
                    document_code: d.document_code.clone(),
                    document_index: d.document_index,
                    name: d.name.clone(),
                    media_type: "application/pdf".to_owned(),
                    pages: d.pages,
                    size: d.blob.size,
                    sha256: d.blob.sha256.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_string(&body).map_err(|e| StoreError::Corrupt {
            what: key.clone(),
            detail: e.to_string(),
        })?;
        for doc in &fresh {
            tx.execute(
                "INSERT INTO intake_documents(document_code, dossier_code, document_index, name, pages,
                 sha256, size, outbox_key, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    doc.document_code,
                    dossier_code,
                    doc.document_index,
                    doc.name,
                    doc.pages,
                    doc.blob.sha256,
                    doc.blob.size as i64,
                    key,
                    now.to_rfc3339()
                ],
            )
            .map_err(&db)?;
            tx.execute(
                "INSERT OR IGNORE INTO uploads(sha256, size) VALUES(?1, ?2)",
                params![doc.blob.sha256, doc.blob.size as i64],
            )
            .map_err(&db)?;
            outcome.stored.push(doc.document_code.clone());
        }
        insert_outbox(&tx, OutboxKind::Documents, &key, &json, now).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(outcome)
    }

    /// Document codes already digitized for a dossier on this kiosk, with their required
    /// document index.
    pub fn digitized_documents(&self, dossier_code: &str) -> StoreResult<Vec<(String, u32)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT document_code, document_index FROM intake_documents
                 WHERE dossier_code = ?1 ORDER BY document_code",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([dossier_code], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }
}
