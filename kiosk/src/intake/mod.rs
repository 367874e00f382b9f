//! Staff intake on the kiosk: executing the effects of the intake state machine
//! ([`motcua_flows::intake::IntakeFlow`]) with the real scanner, page pipeline and store
//! ([`session`]), and assembling each planned document's PDF from its spooled pages, with the
//! invisible text layer of the background OCR ([`ocr`]) where its words are there.

pub mod ocr;
pub mod session;
pub mod signing;
pub mod spool;
pub mod taken;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use motcua_flows::intake::PlannedDocument;
use motcua_scanner::pipeline::pdf::{PdfFile, PdfOptions};
use motcua_scanner::pipeline::{EncodedPage, PipelineError};
pub use ocr::OcrSettings;

/// Writes the PDF of a planned document from its spooled pages, one page in memory at a time
/// (PDF/A-2b when `options` carry an sRGB profile), each with its OCR text layer when OCR is on
/// (the process's queue, [`ocr::shared`]; see [`assemble_pdf_with`]).
/// Returns the number of pages.
pub fn assemble_pdf(
    doc: &PlannedDocument,
    dossier: &str,
    out: &Path,
    options: PdfOptions,
    ocr: &OcrSettings,
) -> Result<u32, PipelineError> {
    let queue = ocr.enabled.then(|| ocr::shared(ocr));
    assemble_pdf_with(doc, dossier, out, options, queue.as_ref(), ocr.commit_wait)
}

/// [`assemble_pdf`] with the OCR queue `queue` (none: no text layer). Pages without words yet
/// are queued, and the document waits up to `wait` for its pages still in the queue; a page
/// whose words are not there then goes in without text, with a warning. The words of a page
/// are its own file, so the same pages and words always give the same PDF bytes.
pub fn assemble_pdf_with(
    doc: &PlannedDocument,
    dossier: &str,
    out: &Path,
    options: PdfOptions,
    queue: Option<&Arc<ocr::OcrQueue>>,
    wait: Duration,
) -> Result<u32, PipelineError> {
    if let Some(queue) = queue {
        for spool in &doc.pages {
            queue.enqueue(spool);
        }
        if !queue.wait_for(&doc.pages, wait) {
            tracing::warn!(document = %doc.code, waited_s = wait.as_secs(), backlog = ?queue.backlog(), "intake OCR: chưa xong, một số trang không có lớp chữ / not finished in time, some pages go without a text layer");
        }
    }
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
        let words = queue.and_then(|_| ocr::read_words(spool));
        if queue.is_some() && words.is_none() {
            tracing::warn!(page = %spool.display(), "intake OCR: trang không có lớp chữ / page without a text layer");
        }
        pdf.add_page_with_text(&page, words.as_ref())?;
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
