//! Documents digitized at the intake counter, added to a stored dossier exactly once, and sent
//! only once the officer who digitized them has signed them (Circular 01/2023/TT-VPCP).
//!
//! A committed document is stored at once, unsigned, as `awaiting_signature`: nothing is lost
//! while the token is missing or its PIN is wrong, and nothing unsigned is sent. Signing
//! ([`Store::mark_signed`]) replaces its blob with the signed PDF and queues it, in one
//! transaction. A document is known by the hash of its pages (`pages_sha256`), not of its
//! file: a signed file differs with every signing time, the pages do not, so running the same
//! intake again adds nothing.

use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::blobs::BlobInfo;
use crate::outbox::{insert_outbox, OutboxKind};
use crate::{db_err, DeviceIdentity, Store, StoreError, StoreResult};

/// The schema change of signed intake documents (issue #19).
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE intake_documents ADD COLUMN state TEXT NOT NULL DEFAULT 'queued'
    CHECK(state IN ('awaiting_signature', 'queued'));
ALTER TABLE intake_documents ADD COLUMN pages_sha256 TEXT;
ALTER TABLE intake_documents ADD COLUMN signer TEXT;
ALTER TABLE intake_documents ADD COLUMN signed_at TEXT;
CREATE INDEX intake_documents_awaiting ON intake_documents(created_at)
    WHERE state = 'awaiting_signature';
"#;

/// A document digitized at intake, its unsigned PDF already stored as a blob.
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
    /// Lower-case hex SHA-256 over the document's pages as the pipeline encoded them: what
    /// makes it the same document when an intake is run again.
    pub pages_sha256: String,
    /// The stored unsigned PDF.
    pub blob: BlobInfo,
}

/// What [`Store::add_digitized_documents`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DigitizedOutcome {
    /// Document codes stored now (awaiting the officer's signature).
    pub stored: Vec<String>,
    /// Document codes that were already stored with the same pages (a repeated command).
    pub already_stored: Vec<String>,
}

/// A stored document waiting for its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingSignature {
    /// Document code.
    pub document_code: String,
    /// Its dossier.
    pub dossier_code: String,
    /// Index of the required document.
    pub document_index: u32,
    /// Document name.
    pub name: String,
    /// Pages.
    pub pages: u32,
    /// The unsigned PDF's blob.
    pub sha256: String,
}

impl Store {
    /// Adds documents digitized at the intake counter to dossier `dossier_code` durably, as
    /// awaiting their signature, in one transaction; the blobs must already be stored. A
    /// document code already stored with the same pages is skipped (running an intake twice
    /// adds nothing, and the blob just made for it is removed); with other pages it is
    /// refused, since a document code, once given, names one content forever.
    pub fn add_digitized_documents(
        &mut self,
        dossier_code: &str,
        documents: &[NewDigitized],
        now: DateTime<FixedOffset>,
    ) -> StoreResult<DigitizedOutcome> {
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut outcome = DigitizedOutcome::default();
        let mut fresh = Vec::new();
        let mut spare_blobs = Vec::new();
        for doc in documents {
            if !self.blobs.contains(&doc.blob.sha256) {
                return Err(StoreError::Rejected(format!(
                    "giấy tờ {} chưa được lưu / document {} has no stored content",
                    doc.document_code, doc.document_code
                )));
            }
            let existing: Option<(String, String, Option<String>)> = tx
                .query_row(
                    "SELECT dossier_code, sha256, pages_sha256 FROM intake_documents
                     WHERE document_code = ?1",
                    [&doc.document_code],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(&db)?;
            match existing {
                Some((d, sha, pages))
                    if d == dossier_code
                        && (pages.as_deref() == Some(doc.pages_sha256.as_str())
                            || sha == doc.blob.sha256) =>
                {
                    if sha != doc.blob.sha256 {
                        spare_blobs.push(doc.blob.sha256.clone());
                    }
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
        for doc in &fresh {
            tx.execute(
                "INSERT INTO intake_documents(document_code, dossier_code, document_index, name, pages,
                 sha256, size, outbox_key, created_at, state, pages_sha256)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, '', ?8, 'awaiting_signature', ?9)",
                params![
                    doc.document_code,
                    dossier_code,
                    doc.document_index,
                    doc.name,
                    doc.pages,
                    doc.blob.sha256,
                    doc.blob.size as i64,
                    now.to_rfc3339(),
                    doc.pages_sha256,
                ],
            )
            .map_err(&db)?;
            outcome.stored.push(doc.document_code.clone());
        }
        tx.commit().map_err(&db)?;
        drop(db);
        for sha in spare_blobs {
            self.remove_blob_if_unused(&sha)?;
        }
        Ok(outcome)
    }

    /// Documents waiting for their signature, oldest first.
    pub fn awaiting_signature(&self) -> StoreResult<Vec<AwaitingSignature>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT document_code, dossier_code, document_index, name, pages, sha256
                 FROM intake_documents WHERE state = 'awaiting_signature'
                 ORDER BY created_at, document_code",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(AwaitingSignature {
                    document_code: r.get(0)?,
                    dossier_code: r.get(1)?,
                    document_index: r.get(2)?,
                    name: r.get(3)?,
                    pages: r.get(4)?,
                    sha256: r.get(5)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }

    /// Records the signed PDF of a document awaiting its signature and queues it for the
    /// gateway, in one transaction; the unsigned blob is removed afterwards. The idempotency
    /// key comes from the document's pages, so a document is sent once however often
    /// delivery is retried.
    pub fn mark_signed(
        &mut self,
        device: &DeviceIdentity,
        document: &AwaitingSignature,
        signed: &BlobInfo,
        signer: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        if !self.blobs.contains(&signed.sha256) {
            return Err(StoreError::Rejected(format!(
                "bản đã ký của {0} chưa được lưu / the signed copy of {0} is not stored",
                document.document_code
            )));
        }
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let (pages, created_at): (Option<String>, String) = tx
            .query_row(
                "SELECT pages_sha256, created_at FROM intake_documents
                 WHERE document_code = ?1 AND sha256 = ?2 AND state = 'awaiting_signature'",
                params![document.document_code, document.sha256],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&db)?
            .ok_or_else(|| {
                StoreError::Rejected(format!(
                    "giấy tờ {0} không còn chờ ký / document {0} is no longer awaiting its signature",
                    document.document_code
                ))
            })?;
        let pages = pages.unwrap_or_else(|| document.sha256.clone());
        let key = format!(
            "{}:document:{}:{}",
            device.id,
            document.document_code,
            &pages[..pages.len().min(16)]
        );
        let body = motcua_domain::wire::DigitizedDocuments {
            dossier_code: document.dossier_code.clone(),
            device_id: device.id.clone(),
            // When the pages were stored at the counter; the signing time is in the PDF.
            digitized_at: DateTime::parse_from_rfc3339(&created_at).unwrap_or(now),
            documents: vec![motcua_domain::wire::DigitizedDocument {
                document_code: document.document_code.clone(),
                document_index: document.document_index,
                name: document.name.clone(),
                media_type: "application/pdf".to_owned(),
                pages: document.pages,
                size: signed.size,
                sha256: signed.sha256.clone(),
            }],
        };
        let json = serde_json::to_string(&body).map_err(|e| StoreError::Corrupt {
            what: key.clone(),
            detail: e.to_string(),
        })?;
        tx.execute(
            "UPDATE intake_documents SET sha256 = ?2, size = ?3, outbox_key = ?4,
             state = 'queued', signer = ?5, signed_at = ?6 WHERE document_code = ?1",
            params![
                document.document_code,
                signed.sha256,
                signed.size as i64,
                key,
                signer,
                now.to_rfc3339()
            ],
        )
        .map_err(&db)?;
        tx.execute(
            "INSERT OR IGNORE INTO uploads(sha256, size) VALUES(?1, ?2)",
            params![signed.sha256, signed.size as i64],
        )
        .map_err(&db)?;
        insert_outbox(&tx, OutboxKind::Documents, &key, &json, now).map_err(&db)?;
        tx.commit().map_err(&db)?;
        drop(db);
        self.remove_blob_if_unused(&document.sha256)
    }

    /// Who signed a digitized document, when (RFC 3339); `None` while it awaits its signature.
    pub fn document_signature(&self, document_code: &str) -> StoreResult<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT signer, signed_at FROM intake_documents
                 WHERE document_code = ?1 AND signer IS NOT NULL AND signed_at IS NOT NULL",
                [document_code],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())
    }

    /// Removes a blob no dossier or intake document refers to (an unsigned copy once signed).
    fn remove_blob_if_unused(&self, sha256: &str) -> StoreResult<()> {
        let used: bool = self
            .conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM dossier_documents WHERE sha256 = ?1)
                     OR EXISTS(SELECT 1 FROM intake_documents WHERE sha256 = ?1)
                     OR EXISTS(SELECT 1 FROM uploads WHERE sha256 = ?1)",
                [sha256],
                |r| r.get(0),
            )
            .map_err(self.db())?;
        if !used && self.blobs.contains(sha256) {
            self.blobs.remove(sha256)?;
        }
        Ok(())
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
