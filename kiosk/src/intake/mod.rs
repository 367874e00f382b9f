//! Staff intake on the kiosk: executing the effects of the intake state machine
//! ([`motcua_flows::intake::IntakeFlow`]) with the real scanner, page pipeline and store
//! ([`session`]), and assembling each planned document's PDF from its spooled pages.

pub mod session;
pub mod signing;
pub mod spool;
pub mod taken;

use std::path::Path;

use motcua_flows::intake::PlannedDocument;
use motcua_scanner::pipeline::pdf::{PdfFile, PdfOptions};
use motcua_scanner::pipeline::{EncodedPage, PipelineError};

/// Writes the PDF of a planned document from its spooled pages, one page in memory at a time
/// (PDF/A-2b when `options` carry an sRGB profile).
/// Returns the number of pages.
pub fn assemble_pdf(
    doc: &PlannedDocument,
    dossier: &str,
    out: &Path,
    options: PdfOptions,
) -> Result<u32, PipelineError> {
    let mut pdf = PdfFile::create_with(
        out,
        &format!("{dossier} – {} – {}", doc.code, doc.name),
        options,
    )?;
    for spool in &doc.pages {
        let page = EncodedPage::read_spool(spool).map_err(|source| PipelineError::Io {
            action: "reading the spooled page",
            path: spool.clone(),
            source,
        })?;
        pdf.add_page(&page)?;
    }
    pdf.finish()?;
    Ok(doc.pages.len() as u32)
}

/// The lower-case hex SHA-256 over a planned document's spooled pages, in order: what makes a
/// document the same when an intake is run again (its signed file differs with each signing).
pub fn pages_digest(doc: &PlannedDocument) -> Result<String, (std::path::PathBuf, std::io::Error)> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for spool in &doc.pages {
        let bytes = std::fs::read(spool).map_err(|e| (spool.clone(), e))?;
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(&bytes);
    }
    Ok(hex::encode(hash.finalize()))
}
