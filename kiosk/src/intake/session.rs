//! Runs an [`IntakeFlow`] against real devices and the store: the executor of its effects for
//! `kioskctl intake` (and, later, the staff screens of `kioskd`).
//!
//! Pages come from a [`DocumentScanner`] session (SANE or a hot folder), go through
//! [`PagePipeline::process`] and are spooled under `<data dir>/intake/<dossier>/` until the
//! commit, so a batch of any length holds one page in memory. At commit each document's PDF is
//! assembled from the spool, stored as a content-addressed blob and queued, in one store
//! transaction, with an idempotency key derived from the documents: running the same intake
//! again stores and sends nothing new. The spool is removed only after that transaction
//! committed.

use std::path::PathBuf;

use image::DynamicImage;
use motcua_scanner::documents::{BatchRequest, DocumentScanner, PageContent, ScanEvent};
use motcua_scanner::pipeline::{sanitize, PagePipeline, PipelineError, ProcessedPage};

use super::taken::ScanFiles;
use super::{assemble_pdf, pages_digest};
use crate::config::KioskConfig;
use motcua_flows::intake::{Effect, IntakeEvent, IntakeFlow, PageKind, QuestionAnswer};
use motcua_store::error::StoreError;
use motcua_store::{NewDigitized, Store};

/// Why an intake could not finish. Pages already scanned stay in the spool folder; the hot-folder
/// files not spooled go to its `returned/` ([`super::taken`]); nothing is half-stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The flow refused an action (the message says why, in Vietnamese and English).
    #[error("{0}")]
    Refused(String),
    /// Pages need the officer's answer before the documents can be stored.
    #[error("{0}")]
    Questions(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The page pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A spool file could not be written.
    #[error("cannot write spooled page {path}: {source}")]
    Spool {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What a finished intake stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakeReport {
    /// Document codes stored now, awaiting the officer's signature.
    pub stored: Vec<String>,
    /// Document codes stored by an earlier run with the same content.
    pub already_stored: Vec<String>,
    /// Blank pages dropped.
    pub blank_pages: u32,
}

/// One intake of one dossier.
pub struct IntakeSession<'a> {
    config: &'a KioskConfig,
    store: &'a mut Store,
    flow: IntakeFlow,
    spool_dir: PathBuf,
    spooled: u32,
    answers: Vec<(u32, QuestionAnswer)>,
    /// The scanner's files of the batches run by this session: which were spooled.
    scan_files: ScanFiles,
}

impl<'a> IntakeSession<'a> {
    /// An intake on `store` with the kiosk's intake settings, dated today (Vietnam time).
    pub fn new(config: &'a KioskConfig, store: &'a mut Store) -> Self {
        let today = motcua_store::vietnam_now().date_naive();
        let spool_dir = config.store.data_dir.join("intake");
        Self {
            flow: IntakeFlow::new(config.intake.document_code.clone(), today),
            config,
            store,
            spool_dir,
            spooled: 0,
            answers: Vec::new(),
            scan_files: ScanFiles::default(),
        }
    }

    /// Continues an intake whose flow was kept between an officer's touches (the staff screen
    /// keeps `(flow, spooled)` from [`IntakeSession::into_parts`]).
    pub fn resume(
        config: &'a KioskConfig,
        store: &'a mut Store,
        flow: IntakeFlow,
        spooled: u32,
    ) -> Self {
        let mut session = Self::new(config, store);
        session.flow = flow;
        session.spooled = spooled;
        session
    }

    /// The flow and the spool counter, to [`IntakeSession::resume`] later.
    pub fn into_parts(self) -> (IntakeFlow, u32) {
        (self.flow, self.spooled)
    }

    /// Applies an officer's action (move, delete, answer a question) to the flow.
    pub fn apply(
        &mut self,
        event: IntakeEvent,
        on_effect: &mut dyn FnMut(&Effect),
    ) -> Result<(), IntakeError> {
        self.step(event, on_effect).map(|_| ())
    }

    /// Answers to give to question pages when they come up (page number, answer).
    pub fn with_answers(mut self, answers: Vec<(u32, QuestionAnswer)>) -> Self {
        self.answers = answers;
        self
    }

    /// Which scanner files the batches of this session spooled: the caller deletes those and
    /// moves the others to the hot folder's `returned/` ([`super::taken::settle_taken`]).
    pub fn take_scan_files(&mut self) -> ScanFiles {
        std::mem::take(&mut self.scan_files)
    }

    /// The flow (for screens and tests).
    pub fn flow(&self) -> &IntakeFlow {
        &self.flow
    }

    /// Feeds an event and executes the store look-ups it asks for; other effects go to
    /// `on_effect` (progress lines, warnings, questions).
    fn step(
        &mut self,
        event: IntakeEvent,
        on_effect: &mut dyn FnMut(&Effect),
    ) -> Result<Vec<Effect>, IntakeError> {
        let mut pending = vec![event];
        let mut rest = Vec::new();
        while let Some(event) = pending.pop() {
            for effect in self.flow.handle(event) {
                match effect {
                    Effect::LookUpDossier(code) => pending.push(self.look_up(&code)?),
                    Effect::Refuse(message) => {
                        on_effect(&Effect::Refuse(message.clone()));
                        return Err(IntakeError::Refused(message));
                    }
                    other => {
                        on_effect(&other);
                        rest.push(other);
                    }
                }
            }
        }
        Ok(rest)
    }

    fn look_up(&self, code: &str) -> Result<IntakeEvent, IntakeError> {
        let Some(dossier) = self.store.dossier(code)? else {
            return Ok(IntakeEvent::DossierNotFound(code.to_owned()));
        };
        let catalog = self.store.catalog()?;
        let Some(procedure) = catalog.find(&dossier.procedure_code) else {
            return Err(IntakeError::Refused(format!(
                "thủ tục {0} của hồ sơ không có trong danh mục / the dossier's procedure {0} is not in the catalog",
                dossier.procedure_code
            )));
        };
        let already_digitized = self
            .store
            .digitized_documents(code)?
            .into_iter()
            .map(|(_, index)| index)
            .collect();
        Ok(IntakeEvent::DossierFound {
            code: code.to_owned(),
            procedure: procedure.clone(),
            already_digitized,
        })
    }

    /// Opens the dossier named by `code_or_payload` (a dossier code or a receipt QR payload).
    pub fn open(
        &mut self,
        code_or_payload: &str,
        on_effect: &mut dyn FnMut(&Effect),
    ) -> Result<(), IntakeError> {
        self.step(
            IntakeEvent::DossierCode(code_or_payload.to_owned()),
            on_effect,
        )?;
        if self.flow.dossier_code().is_none() {
            return Err(IntakeError::Refused(
                "chưa mở được hồ sơ / no dossier is open".to_owned(),
            ));
        }
        Ok(())
    }

    /// The open dossier's code and its spool folder (created if missing).
    fn open_spool(&self) -> Result<(String, PathBuf), IntakeError> {
        let dossier = self
            .flow
            .dossier_code()
            .map(str::to_owned)
            .ok_or_else(|| IntakeError::Refused("no dossier is open".to_owned()))?;
        let dir = self.spool_dir.join(sanitize(&dossier));
        std::fs::create_dir_all(&dir).map_err(|source| IntakeError::Spool {
            path: dir.clone(),
            source,
        })?;
        Ok((dossier, dir))
    }

    /// Scans one batch from `scanner` through the page pipeline into the flow. A scanner error
    /// (a jam) ends the batch with a warning; the pages before it stay.
    pub async fn scan_batch(
        &mut self,
        scanner: &dyn DocumentScanner,
        request: &BatchRequest,
        on_effect: &mut dyn FnMut(&Effect),
    ) -> Result<(), IntakeError> {
        let (dossier, dir) = self.open_spool()?;
        self.step(IntakeEvent::StartBatch, on_effect)?;
        let mut pipeline = PagePipeline::new(self.config.intake.pipeline(&dir));
        let mut session = scanner.start(request);
        let mut error = None;
        while let Some(event) = session.next_event().await {
            match event {
                ScanEvent::Page(page) => {
                    let dpi = page.resolution_dpi.unwrap_or(pipeline.config().default_dpi);
                    let image: DynamicImage = match page.content {
                        PageContent::Image(img) => img,
                        PageContent::Pdf(_) => {
                            self.scan_files.not_spooled(&page.path);
                            on_effect(&Effect::Warn(format!(
                                "{}: tệp PDF không được tách trang, đã bỏ qua (chuyển vào thư mục returned) / a PDF file is not split into pages, skipped (moved to the returned folder)",
                                page.path.display()
                            )));
                            continue;
                        }
                    };
                    // The file counts as spooled only once its page is in the flow.
                    let kept = self
                        .process(&mut pipeline, image, dpi, &dossier, &dir)
                        .and_then(|event| self.step(event, on_effect));
                    if let Err(e) = kept {
                        self.scan_files.not_spooled(&page.path);
                        return Err(e);
                    }
                    self.scan_files.spooled(&page.path);
                }
                ScanEvent::Rejected { path, error } => {
                    on_effect(&Effect::Warn(format!("{}: {error}", path.display())))
                }
                ScanEvent::Finished(Ok(_)) => break,
                ScanEvent::Finished(Err(e)) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        self.step(IntakeEvent::BatchEnded { error }, on_effect)?;
        let questions = self.flow.questions();
        for (page, answer) in std::mem::take(&mut self.answers) {
            if questions.contains(&page) {
                self.step(IntakeEvent::AnswerQuestion { page, answer }, on_effect)?;
            } else {
                self.answers.push((page, answer));
            }
        }
        Ok(())
    }

    fn process(
        &mut self,
        pipeline: &mut PagePipeline,
        image: DynamicImage,
        dpi: u32,
        dossier: &str,
        dir: &std::path::Path,
    ) -> Result<IntakeEvent, IntakeError> {
        Ok(match pipeline.process(image, dpi)? {
            ProcessedPage::Blank {
                analysis,
                encoded,
                thumbnail,
            } => {
                // Kept aside in `dropped/` (not beside the document pages) until the commit, so
                // the officer can restore it; a page that cannot be kept is still dropped.
                let reason = analysis.explanation();
                let spooled = encoded.and_then(|encoded| {
                    let dropped = dir.join("dropped");
                    std::fs::create_dir_all(&dropped).ok()?;
                    self.spooled += 1;
                    let path = dropped.join(format!(
                        "page-{}-{:05}.mcp",
                        std::process::id(),
                        self.spooled
                    ));
                    if let Err(error) = encoded.write_spool(&path) {
                        tracing::warn!(%error, "intake: dropped page not kept");
                        return None;
                    }
                    let thumb = path.with_extension("png");
                    let thumb = thumbnail
                        .save_with_format(&thumb, image::ImageFormat::Png)
                        .ok()
                        .map(|()| thumb);
                    Some((path, thumb))
                });
                let (spool, thumbnail) = match spooled {
                    Some((spool, thumb)) => (Some(spool), thumb),
                    None => (None, None),
                };
                IntakeEvent::BlankPage {
                    reason,
                    spool,
                    thumbnail,
                }
            }
            ProcessedPage::Separator(s) if s.dossier_code == dossier => IntakeEvent::PageScanned {
                kind: PageKind::Separator {
                    index: s.document_index,
                },
                spool: None,
                thumbnail: None,
            },
            ProcessedPage::Separator(s) => IntakeEvent::ForeignSeparator(s),
            ProcessedPage::Content {
                encoded,
                looks_like_separator,
                thumbnail,
                ..
            } => {
                self.spooled += 1;
                let path = dir.join(format!(
                    "page-{}-{:05}.mcp",
                    std::process::id(),
                    self.spooled
                ));
                encoded
                    .write_spool(&path)
                    .map_err(|source| IntakeError::Spool {
                        path: path.clone(),
                        source,
                    })?;
                super::ocr::enqueue(&self.config.intake.ocr, &path);
                // The thumbnail is for screens only: a page without one is still a page.
                let thumb = path.with_extension("png");
                let thumbnail = match thumbnail.save_with_format(&thumb, image::ImageFormat::Png) {
                    Ok(()) => Some(thumb),
                    Err(error) => {
                        tracing::warn!(%error, "intake: thumbnail not written");
                        None
                    }
                };
                IntakeEvent::PageScanned {
                    kind: if looks_like_separator {
                        PageKind::Question
                    } else {
                        PageKind::Content
                    },
                    spool: Some(path),
                    thumbnail,
                }
            }
        })
    }

    /// Rescans page `page` (a page fed crooked or creased): scans one page from `scanner`
    /// and puts it in place of the old one, thumbnail included. A failed or blank rescan keeps
    /// the old page.
    pub async fn rescan_page(
        &mut self,
        page: u32,
        scanner: &dyn DocumentScanner,
        request: &BatchRequest,
        on_effect: &mut dyn FnMut(&Effect),
    ) -> Result<(), IntakeError> {
        let (dossier, dir) = self.open_spool()?;
        let effects = self.step(IntakeEvent::RescanPage(page), on_effect)?;
        if !effects
            .iter()
            .any(|e| matches!(e, Effect::ScanOne(p) if *p == page))
        {
            return Ok(());
        }
        let old_thumbnail = self
            .flow
            .pages()
            .iter()
            .find(|p| p.number == page)
            .and_then(|p| p.thumbnail.clone());
        let mut pipeline = PagePipeline::new(self.config.intake.pipeline(&dir));
        let mut request = request.clone();
        request.max_pages = Some(1);
        let mut session = scanner.start(&request);
        let mut outcome: Result<Option<PathBuf>, String> = Ok(None);
        let mut rescanned = None;
        while let Some(event) = session.next_event().await {
            match event {
                ScanEvent::Page(scanned) => {
                    let dpi = scanned
                        .resolution_dpi
                        .unwrap_or(pipeline.config().default_dpi);
                    let file = scanned.path.clone();
                    let PageContent::Image(image) = scanned.content else {
                        self.scan_files.not_spooled(&file);
                        continue;
                    };
                    let processed = match self.process(&mut pipeline, image, dpi, &dossier, &dir) {
                        Ok(p) => p,
                        Err(e) => {
                            self.scan_files.not_spooled(&file);
                            return Err(e);
                        }
                    };
                    outcome = match processed {
                        IntakeEvent::PageScanned {
                            spool: Some(spool),
                            thumbnail,
                            ..
                        } => {
                            if let (Some(new), Some(old)) = (&thumbnail, &old_thumbnail) {
                                let _ = std::fs::rename(new, old);
                            }
                            rescanned = Some(file);
                            Ok(Some(spool))
                        }
                        _ => {
                            // A blank or separator rescan keeps the old page: its file is not
                            // stored.
                            self.scan_files.not_spooled(&file);
                            Err(
                                "trang quét lại trống hoặc là tờ phân cách / the rescanned page is blank or a separator sheet"
                                    .to_owned(),
                            )
                        }
                    };
                }
                ScanEvent::Rejected { .. } => {}
                ScanEvent::Finished(Ok(_)) => break,
                ScanEvent::Finished(Err(e)) => {
                    outcome = Err(e.to_string());
                    break;
                }
            }
        }
        match outcome {
            Ok(Some(spool)) => {
                let step = self.step(IntakeEvent::PageRescanned { page, spool }, on_effect);
                if let Some(file) = rescanned {
                    match step {
                        Ok(_) => self.scan_files.spooled(&file),
                        Err(_) => self.scan_files.not_spooled(&file),
                    }
                }
                step?;
            }
            Ok(None) => {
                self.step(IntakeEvent::BatchEnded { error: None }, on_effect)?;
            }
            Err(error) => {
                on_effect(&Effect::Warn(error.clone()));
                self.step(IntakeEvent::BatchEnded { error: Some(error) }, on_effect)?;
            }
        }
        Ok(())
    }

    /// Stores the documents: PDFs assembled from the spool, blobs, one store transaction
    /// keeping them as awaiting the officer's signature ([`super::signing`] signs and queues
    /// them).
    pub fn commit(
        mut self,
        on_effect: &mut dyn FnMut(&Effect),
    ) -> Result<IntakeReport, IntakeError> {
        let questions = self.flow.questions();
        if !questions.is_empty() {
            return Err(IntakeError::Questions(format!(
                "các trang {questions:?} giống tờ phân cách nhưng không đọc được mã; hãy trả lời bằng --answer TRANG=SỐ_GIẤY_TỜ|page|drop rồi quét lại / pages {questions:?} look like separator sheets with an unreadable code: answer with --answer PAGE=DOCUMENT_INDEX|page|drop and feed the batch again (nothing was stored; a hot folder's files were moved to its returned/ folder: move them back into the hot folder to feed them again)"
            )));
        }
        // Pages still dropped when the documents are stored are not needed after it.
        let dropped: Vec<PathBuf> = self
            .flow
            .pages()
            .iter()
            .filter(|p| matches!(p.kind, PageKind::Dropped { .. }))
            .filter_map(|p| p.spool.clone())
            .collect();
        let effects = self.step(IntakeEvent::Commit, on_effect)?;
        let Some((dossier, documents)) = effects.into_iter().find_map(|e| match e {
            Effect::CommitDocuments { dossier, documents } => Some((dossier, documents)),
            _ => None,
        }) else {
            return Err(IntakeError::Refused("nothing to commit".to_owned()));
        };
        let dir = self.spool_dir.join(sanitize(&dossier));
        let options = self.config.intake.pipeline(&dir).pdf;
        let mut stored_docs = Vec::new();
        for doc in &documents {
            let pdf = dir.join(format!("{}.pdf", sanitize(&doc.code)));
            let pages = assemble_pdf(
                doc,
                &dossier,
                &pdf,
                options.clone(),
                &self.config.intake.ocr,
            )?;
            let pages_sha256 =
                pages_digest(doc).map_err(|(path, source)| IntakeError::Spool { path, source })?;
            let blob = self.store.blobs().put_file(&pdf)?;
            let _ = std::fs::remove_file(&pdf);
            stored_docs.push(NewDigitized {
                document_code: doc.code.clone(),
                document_index: doc.index,
                name: doc.name.clone(),
                pages,
                pages_sha256,
                blob,
            });
        }
        let outcome =
            self.store
                .add_digitized_documents(&dossier, &stored_docs, motcua_store::vietnam_now());
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.step(IntakeEvent::CommitFailed(e.to_string()), on_effect)?;
                return Err(e.into());
            }
        };
        self.step(
            IntakeEvent::Committed {
                stored: outcome.stored.clone(),
                already_stored: outcome.already_stored.clone(),
            },
            on_effect,
        )?;
        // Durable in the store: the spooled pages are no longer needed.
        for page in documents.iter().flat_map(|d| &d.pages).chain(&dropped) {
            let _ = std::fs::remove_file(page);
            let _ = std::fs::remove_file(page.with_extension("png"));
            let _ = std::fs::remove_file(super::ocr::words_path(page));
        }
        Ok(IntakeReport {
            stored: outcome.stored,
            already_stored: outcome.already_stored,
            blank_pages: self.flow.blank_pages(),
        })
    }
}
