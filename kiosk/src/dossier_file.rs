//! A dossier described in a JSON file with its attachment files, for `kioskctl submit` (scripting,
//! bulk intake, tests). Paths in it are relative to the JSON file.

use std::path::{Path, PathBuf};

use motcua_domain::wire::Applicant;
use serde::Deserialize;

/// The JSON a script hands to `kioskctl submit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DossierFile {
    /// Procedure code from the catalog.
    pub procedure_code: String,
    /// The applicant.
    pub applicant: Applicant,
    /// Attachments.
    #[serde(default)]
    pub documents: Vec<AttachmentFile>,
}

/// One attachment of a [`DossierFile`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentFile {
    /// Document name, e.g. "Tờ khai đăng ký khai sinh".
    pub name: String,
    /// Path of the file, relative to the JSON file.
    pub file: PathBuf,
    /// MIME type; guessed from the extension when absent.
    #[serde(default)]
    pub media_type: Option<String>,
}

impl DossierFile {
    /// Reads a dossier file; returns it with attachment paths resolved.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read dossier file {}: {e}", path.display()))?;
        let mut file: DossierFile = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: not a valid dossier file: {}",
                path.display(),
                e.line(),
                e.column(),
                motcua_domain::wire::describe_json_error(&e)
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for doc in &mut file.documents {
            if doc.file.is_relative() {
                doc.file = base.join(&doc.file);
            }
        }
        Ok(file)
    }
}

/// A MIME type from a file extension, for the documents the kiosk handles.
pub fn guess_media_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("tif" | "tiff") => "image/tiff",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Stores the attachments (fsynced) and then the dossier, in that order, so the dossier is
/// acknowledged only once everything it refers to is durable.
pub fn submit(
    store: &mut motcua_store::Store,
    config: &crate::config::KioskConfig,
    file: DossierFile,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Result<motcua_domain::wire::DossierSubmission, motcua_store::error::StoreError> {
    use motcua_store::error::StoreError;
    let catalog = store.catalog()?;
    let mut procedure = catalog
        .find(&file.procedure_code)
        .ok_or_else(|| {
            StoreError::Rejected(format!(
                "procedure {:?} is not in the catalog",
                file.procedure_code
            ))
        })?
        .clone();
    procedure.processing_days =
        crate::receipt::effective_processing_days(&procedure, &config.receipt, now);
    let mut documents = Vec::with_capacity(file.documents.len());
    for doc in file.documents {
        let blob = store.blobs().put_file(&doc.file)?;
        documents.push(motcua_store::NewDocument {
            name: doc.name,
            file_name: doc
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            media_type: doc
                .media_type
                .unwrap_or_else(|| guess_media_type(&doc.file).to_owned()),
            blob,
        });
    }
    store.submit_dossier(
        &config.device,
        &procedure,
        &config.calendar,
        file.applicant,
        documents,
        now,
    )
}
