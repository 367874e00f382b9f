//! Carries out what the flows ask for: scanning, storing, printing, looking up, rating.
//!
//! Runs on its own thread (a scan or a printer timeout must not freeze the screen) and reports
//! back with [`Event`]s. Every message for the citizen is in both languages.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Timelike};
use motcua_domain::wire::DossierStatus;
use motcua_printer::Printer;
use motcua_scanner::documents::{
    BatchRequest, DocumentScanner, HotFolder, HotFolderConfig, SaneConfig, SaneScanner, ScanEvent,
};
use motcua_scanner::pipeline::PagePipeline;

use crate::config::KioskConfig;
use crate::devices::ScannerConfig;
use motcua_flows::lookup::{LookupEffect, LookupEvent, StatusReport};
use motcua_flows::rating::{RatingEffect, RatingEvent};
use motcua_flows::session::{Effect, Event};
use motcua_flows::staff::{PanelStatus, StaffEffect, StaffEvent};
use motcua_flows::submission::{
    ScannedPage, SubmissionEffect, SubmissionEvent, SubmitRequest, Thumbnail,
};
use motcua_flows::ticket::{expected_wait, IssuedTicket, ServiceArea, TicketEffect, TicketEvent};
use motcua_flows::Message;
use motcua_store::error::StoreError;
use motcua_store::{NewDocument, Store};
use motcua_uplink::client::GatewayClient;

/// Most pages one scan of a citizen's document may bring (a feeder left running is stopped).
pub const MAX_PAGES_PER_SCAN: u32 = 40;

/// How long a status lookup waits for the gateway before showing the cached status.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(4);

/// Splits our usual "tiếng Việt / English" error text into a message.
pub fn bilingual(text: &str) -> Message {
    match text.split_once(" / ") {
        Some((vi, en)) => Message::new(vi.trim(), en.trim()),
        None => Message::new(text, text),
    }
}

/// The kiosk's devices, store and gateway, as the screens use them.
pub struct Services {
    config: KioskConfig,
    store: Store,
    session_dir: PathBuf,
    runtime: tokio::runtime::Runtime,
    gateway: Option<GatewayClient>,
    next_page_id: u64,
    stop_scan: Arc<AtomicBool>,
    now: Box<dyn Fn() -> DateTime<FixedOffset> + Send>,
    /// The staff intake in progress: its flow and spool counter (see `IntakeSession::resume`).
    intake: Option<(motcua_flows::intake::IntakeFlow, u32)>,
}

impl Services {
    /// Opens the store and prepares the session folder (emptied: nothing of an earlier citizen
    /// survives a restart).
    pub fn new(config: KioskConfig, stop_scan: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
        let session_dir = config.store.data_dir.join("session");
        let _ = std::fs::remove_dir_all(&session_dir);
        std::fs::create_dir_all(&session_dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let gateway = GatewayClient::new(
            &config.uplink.gateway_url,
            crate::read_token(&config.store.data_dir),
            LOOKUP_TIMEOUT,
        )
        .ok();
        Ok(Self {
            config,
            store,
            session_dir,
            runtime,
            gateway,
            next_page_id: 0,
            stop_scan,
            now: Box::new(motcua_store::vietnam_now),
            intake: None,
        })
    }

    /// The catalog the screens offer.
    pub fn catalog(&self) -> motcua_domain::catalog::Catalog {
        self.store
            .catalog()
            .unwrap_or_else(|_| motcua_domain::catalog::seed())
    }

    /// Carries out one effect; results go to `emit`.
    pub fn execute(&mut self, effect: Effect, emit: &mut dyn FnMut(Event)) {
        match effect {
            Effect::Submission(e) => self.submission(e, emit),
            Effect::Ticket(e) => self.ticket(e, emit),
            Effect::Lookup(LookupEffect::Lookup(code)) => {
                let answer = self.lookup(&code);
                emit(Event::Lookup(LookupEvent::Answer(answer)));
            }
            Effect::Rating(RatingEffect::Rate { transaction, level }) => {
                let result = self
                    .store
                    .rate(
                        &self.config.device,
                        self.config.rating_scale,
                        &transaction,
                        level,
                        (self.now)(),
                    )
                    .map(|_| ())
                    .map_err(|e| match e {
                        StoreError::AlreadyRated(_) => Message::new(
                            "Giao dịch này đã được đánh giá. Cảm ơn ông/bà!",
                            "This transaction was already rated. Thank you!",
                        ),
                        other => store_trouble(&other),
                    });
                emit(Event::Rating(RatingEvent::Saved(result)));
            }
            Effect::Staff(StaffEffect::LoadStatus) => {
                emit(Event::Staff(StaffEvent::Status(self.panel_status())));
            }
            Effect::Staff(StaffEffect::PrinterTest) => {
                let result = self.printer_test();
                emit(Event::Staff(StaffEvent::PrinterTested(result)));
            }
            Effect::Intake(action) => {
                let report = self.intake(action, emit);
                emit(Event::IntakeReport(report));
            }
            Effect::WipeSessionFiles => {
                // An intake left open is dropped with the session (its spooled pages stay in
                // <data>/intake until the same dossier is digitized again).
                self.intake = None;
                self.wipe_session_files();
            }
        }
    }

    /// Carries out an officer's intake action and reports the intake as it now stands.
    fn intake(
        &mut self,
        action: motcua_flows::intake_screen::IntakeAction,
        emit: &mut dyn FnMut(Event),
    ) -> motcua_flows::intake_screen::IntakeReportView {
        use crate::intake::session::IntakeSession;
        use motcua_flows::intake::{Effect as IE, IntakeEvent};
        use motcua_flows::intake_screen::IntakeAction as A;

        let mut message: Option<String> = None;
        let mut stored = Vec::new();
        // Missing documents have their own banner on the screen: their warning is not repeated.
        let note = |e: &IE, message: &mut Option<String>| match e {
            IE::Warn(m) if m.contains("required documents still missing") => {}
            IE::Warn(m) | IE::Refuse(m) | IE::Ask { message: m, .. } => *message = Some(m.clone()),
            _ => {}
        };
        let result = match action {
            A::Open(code) => {
                let mut session = IntakeSession::new(&self.config, &mut self.store);
                let r = session.open(&code, &mut |e| note(e, &mut message));
                let (flow, spooled) = session.into_parts();
                if r.is_ok() {
                    self.intake = Some((flow, spooled));
                }
                r
            }
            A::Commit => match self.intake.take() {
                Some((flow, spooled)) => {
                    let session =
                        IntakeSession::resume(&self.config, &mut self.store, flow.clone(), spooled);
                    match session.commit(&mut |e| note(e, &mut message)) {
                        Ok(report) => {
                            stored = report.stored.clone();
                            stored.extend(report.already_stored.iter().cloned());
                            Ok(())
                        }
                        Err(e) => {
                            self.intake = Some((flow, spooled));
                            Err(e)
                        }
                    }
                }
                None => Ok(()),
            },
            A::Rescan(page) => match self.intake.take() {
                Some((flow, spooled)) => match self.scanner() {
                    Ok(scanner) => {
                        let dir = self.session_dir.join("intake-batch");
                        let _ = std::fs::create_dir_all(&dir);
                        let request = self.batch_request(&dir);
                        let mut session =
                            IntakeSession::resume(&self.config, &mut self.store, flow, spooled);
                        let r = self.runtime.block_on(session.rescan_page(
                            page,
                            scanner.as_ref(),
                            &request,
                            &mut |e| note(e, &mut message),
                        ));
                        self.intake = Some(session.into_parts());
                        let _ = std::fs::remove_dir_all(&dir);
                        r
                    }
                    Err(m) => {
                        self.intake = Some((flow, spooled));
                        message = Some(format!("{} / {}", m.vi, m.en));
                        Ok(())
                    }
                },
                None => Ok(()),
            },
            A::ScanBatch => match self.intake.take() {
                Some((flow, spooled)) => {
                    let scanner = match self.scanner() {
                        Ok(s) => s,
                        Err(m) => {
                            self.intake = Some((flow, spooled));
                            let mut report = self.intake_report();
                            report.message = Some(format!("{} / {}", m.vi, m.en));
                            return report;
                        }
                    };
                    let dir = self.session_dir.join("intake-batch");
                    let _ = std::fs::create_dir_all(&dir);
                    let request = self.batch_request(&dir);
                    let mut session =
                        IntakeSession::resume(&self.config, &mut self.store, flow, spooled);
                    let runtime = &self.runtime;
                    let r = runtime.block_on(session.scan_batch(
                        scanner.as_ref(),
                        &request,
                        &mut |e| {
                            if let IE::Progress { thumbnail, .. } = e {
                                emit(Event::IntakePage(
                                    thumbnail.as_deref().and_then(thumbnail_from_file),
                                ));
                            }
                            note(e, &mut message);
                        },
                    ));
                    self.intake = Some(session.into_parts());
                    let _ = std::fs::remove_dir_all(&dir);
                    r
                }
                None => Ok(()),
            },
            A::MoveUp(page) | A::Delete(page) | A::Answer { page, .. } => {
                match self.intake.take() {
                    Some((flow, spooled)) => {
                        let position = flow.pages().iter().position(|p| p.number == page);
                        let event = match action {
                            A::MoveUp(_) => position
                                .filter(|&i| i > 0)
                                .map(|i| IntakeEvent::MovePage { page, to: i - 1 }),
                            A::Delete(_) => Some(IntakeEvent::DeletePage(page)),
                            A::Answer { answer, .. } => {
                                Some(IntakeEvent::AnswerQuestion { page, answer })
                            }
                            _ => None,
                        };
                        let mut session =
                            IntakeSession::resume(&self.config, &mut self.store, flow, spooled);
                        let r = match event {
                            Some(event) => session.apply(event, &mut |e| note(e, &mut message)),
                            None => Ok(()),
                        };
                        self.intake = Some(session.into_parts());
                        r
                    }
                    None => Ok(()),
                }
            }
        };
        let mut report = self.intake_report();
        report.stored = stored;
        if let Err(e) = result {
            tracing::warn!(error = %e, "intake action refused");
            message = Some(e.to_string());
        }
        report.message = message;
        report
    }

    /// What the staff screen shows of the intake in progress.
    fn intake_report(&self) -> motcua_flows::intake_screen::IntakeReportView {
        use motcua_flows::intake::PageKind;
        use motcua_flows::intake_screen::{IntakePageView, IntakeReportView};
        let Some((flow, _)) = &self.intake else {
            return IntakeReportView::default();
        };
        let plan = flow.plan();
        let pages = flow
            .pages()
            .iter()
            .map(|p| {
                let document = plan
                    .iter()
                    .find(|d| d.page_numbers.contains(&p.number))
                    .map(|d| d.name.clone());
                let label = match (&p.kind, document) {
                    (PageKind::Question, _) => format!(
                        "Trang {0}: tờ phân cách không đọc được mã? / Page {0}: unreadable separator?",
                        p.number
                    ),
                    (PageKind::Separator { index }, _) => {
                        format!("Trang {0}: tờ phân cách {index} / Page {0}: separator {index}", p.number)
                    }
                    (PageKind::Content, Some(name)) => {
                        let name = bilingual(&name);
                        format!(
                            "Trang {0} · {1} / Page {0} · {2}",
                            p.number, name.vi, name.en
                        )
                    }
                    (PageKind::Content, None) => format!("Trang {0} / Page {0}", p.number),
                };
                IntakePageView {
                    number: p.number,
                    label,
                    question: p.kind == PageKind::Question,
                    thumbnail: p.thumbnail.as_deref().and_then(thumbnail_from_file),
                }
            })
            .collect();
        IntakeReportView {
            dossier: flow.dossier_code().map(str::to_owned),
            pages,
            missing: flow
                .missing_documents()
                .into_iter()
                .map(|(_, name)| name)
                .collect(),
            stored: Vec::new(),
            message: None,
        }
    }

    fn submission(&mut self, effect: SubmissionEffect, emit: &mut dyn FnMut(Event)) {
        match effect {
            SubmissionEffect::StartScan(attachment) => self.scan(attachment, emit),
            SubmissionEffect::DeletePages(paths) => {
                for p in paths {
                    let _ = std::fs::remove_file(p);
                }
            }
            SubmissionEffect::Submit(request) => {
                let event = match self.submit(request) {
                    Ok((code, appointment_date)) => SubmissionEvent::Accepted {
                        code,
                        appointment_date,
                    },
                    Err(m) => SubmissionEvent::Refused(m),
                };
                emit(Event::Submission(event));
            }
            SubmissionEffect::PrintReceipt(code) => {
                let result = crate::receipt::print_receipt(&self.config, &self.store, &code)
                    .map(|_| ())
                    .map_err(|e| {
                        tracing::warn!(%code, error = %e, "receipt not printed");
                        printer_trouble(&e.to_string())
                    });
                emit(Event::Submission(SubmissionEvent::Printed(result)));
            }
        }
    }

    fn scan(&mut self, attachment: usize, emit: &mut dyn FnMut(Event)) {
        self.stop_scan.store(false, Ordering::SeqCst);
        let scanner = match self.scanner() {
            Ok(s) => s,
            Err(m) => {
                emit(Event::Submission(SubmissionEvent::ScanEnded(Some(m))));
                return;
            }
        };
        let request = self.batch_request(&self.session_dir);
        let stop = self.stop_scan.clone();
        let mut pages = Vec::new();
        let outcome = self.runtime.block_on(async {
            let mut session = scanner.start(&request);
            loop {
                let next =
                    tokio::time::timeout(Duration::from_millis(200), session.next_event()).await;
                if stop.load(Ordering::SeqCst) {
                    let _ = session.cancel().await;
                    return Err(None);
                }
                match next {
                    Err(_) => continue,
                    Ok(None) => return Ok(()),
                    Ok(Some(ScanEvent::Page(page))) => pages.push(page),
                    Ok(Some(ScanEvent::Rejected { path, error })) => {
                        tracing::warn!(path = %path.display(), %error, "scanned file rejected");
                    }
                    Ok(Some(ScanEvent::Finished(Ok(_)))) => return Ok(()),
                    Ok(Some(ScanEvent::Finished(Err(e)))) => return Err(Some(e)),
                }
                // Pages are reported as they come, so the citizen sees progress.
                for page in pages.drain(..) {
                    if let Some(p) = self_page(&mut self.next_page_id, page) {
                        emit(Event::Submission(SubmissionEvent::Page {
                            attachment,
                            page: p,
                        }));
                    }
                }
            }
        });
        for page in pages.drain(..) {
            if let Some(p) = self_page(&mut self.next_page_id, page) {
                emit(Event::Submission(SubmissionEvent::Page {
                    attachment,
                    page: p,
                }));
            }
        }
        let error = match outcome {
            Ok(()) => None,
            Err(None) => None,
            Err(Some(e)) => {
                tracing::warn!(error = %e, "scan failed");
                Some(scanner_trouble(&e.to_string()))
            }
        };
        emit(Event::Submission(SubmissionEvent::ScanEnded(error)));
    }

    /// The configured document scanner.
    fn scanner(&self) -> Result<Box<dyn DocumentScanner>, Message> {
        match &self.config.peripherals.scanner {
            Some(ScannerConfig::Sane { device, .. }) => {
                Ok(Box::new(SaneScanner::new(SaneConfig::new(device.clone()))))
            }
            Some(ScannerConfig::HotFolder { folder }) => {
                HotFolder::new(HotFolderConfig::new(folder.clone()))
                    .map(|h| Box::new(h) as Box<dyn DocumentScanner>)
                    .map_err(|e| scanner_trouble(&e.to_string()))
            }
            None => Err(Message::new(
                "Ki-ốt này không có máy quét. Vui lòng nộp giấy tờ tại quầy.",
                "This kiosk has no scanner. Please hand in your papers at the counter.",
            )),
        }
    }

    /// A scan request with the configured settings, writing page files into `dir`.
    fn batch_request(&self, dir: &Path) -> BatchRequest {
        let mut request = BatchRequest::new(dir);
        if let Some(ScannerConfig::Sane {
            resolution,
            mode,
            source,
            options,
            ..
        }) = &self.config.peripherals.scanner
        {
            request.resolution_dpi = *resolution;
            request.mode = *mode;
            request.source = *source;
            request.extra_args = options.clone();
        }
        // A flatbed holds one page: one touch of "Scan" is one page ("Scan more" adds the next).
        request.max_pages = Some(
            if request.source == motcua_scanner::documents::FeedSource::Flatbed {
                1
            } else {
                MAX_PAGES_PER_SCAN
            },
        );
        request.page_timeout = Duration::from_secs(60);
        request
    }

    fn submit(&mut self, request: SubmitRequest) -> Result<(String, chrono::NaiveDate), Message> {
        let catalog = self.catalog();
        let procedure = catalog.find(&request.procedure_code).ok_or_else(|| {
            Message::new(
                "Thủ tục này không còn trong danh mục. Vui lòng chọn lại.",
                "This procedure is no longer offered. Please choose again.",
            )
        })?;
        let work = self.session_dir.join("pdf");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| store_trouble_io(&e))?;
        let mut documents = Vec::new();
        for (index, (name, pages)) in request.documents.iter().enumerate() {
            let pdf = document_pdf(&self.config, &work, index, pages).map_err(|e| {
                tracing::error!(error = %e, "cannot assemble a scanned document");
                Message::new(
                    "Không tạo được bản điện tử của giấy tờ. Vui lòng quét lại.",
                    "The scanned document could not be assembled. Please scan it again.",
                )
            })?;
            let blob = self
                .store
                .blobs()
                .put_file(&pdf)
                .map_err(|e| store_trouble(&e))?;
            documents.push(NewDocument {
                name: name.clone(),
                file_name: format!("{:02}.pdf", index + 1),
                media_type: "application/pdf".into(),
                blob,
            });
        }
        let now = (self.now)();
        let days = crate::receipt::effective_processing_days(procedure, &self.config.receipt, now);
        let mut procedure = procedure.clone();
        procedure.processing_days = days;
        let submission = self
            .store
            .submit_dossier(
                &self.config.device,
                &procedure,
                &self.config.calendar,
                request.applicant,
                documents,
                now,
            )
            .map_err(|e| store_trouble(&e))?;
        let _ = std::fs::remove_dir_all(&work);
        tracing::info!(code = %submission.code, documents = submission.documents.len(), "dossier accepted at the kiosk");
        Ok((submission.code, submission.appointment_date))
    }

    fn ticket(&mut self, effect: TicketEffect, emit: &mut dyn FnMut(Event)) {
        let ticket = match effect {
            TicketEffect::Issue(area) => match self.issue_ticket(&area) {
                Ok(t) => {
                    emit(Event::Ticket(TicketEvent::Issued(t.clone())));
                    t
                }
                Err(m) => {
                    emit(Event::Ticket(TicketEvent::IssueFailed(m)));
                    return;
                }
            },
            TicketEffect::Reprint(t) => t,
        };
        let printed = self.print_ticket(&ticket);
        emit(Event::Ticket(TicketEvent::Printed(printed)));
    }

    fn issue_ticket(&mut self, area: &ServiceArea) -> Result<IssuedTicket, Message> {
        let now = (self.now)();
        let earlier = self
            .store
            .ticket_times(&area.code, now.date_naive())
            .map_err(|e| store_trouble(&e))?;
        let settings = self
            .config
            .screen
            .areas
            .iter()
            .find(|a| a.area.code == area.code);
        let (per, counters) = settings.map_or((10, 1), |a| (a.minutes_per_citizen, a.counters));
        let minute = |t: &DateTime<FixedOffset>| t.hour() * 60 + t.minute();
        let earlier: Vec<u32> = earlier.iter().map(minute).collect();
        let (ahead, wait) = expected_wait(&earlier, minute(&now), per, counters);
        let issued = self
            .store
            .issue_ticket(&self.config.device, &area.code, now)
            .map_err(|e| store_trouble(&e))?;
        Ok(IssuedTicket {
            ticket_id: issued.ticket_id,
            number: issued.number,
            area: area.clone(),
            ahead,
            wait_minutes: wait,
        })
    }

    fn print_ticket(&self, ticket: &IssuedTicket) -> Result<(), Message> {
        let printer = self
            .config
            .peripherals
            .printer
            .as_ref()
            .ok_or_else(no_printer)?;
        let content = motcua_printer::TicketContent {
            centre_name: self.config.receipt.agency_name.to_uppercase(),
            number: ticket.number,
            service_area_vi: ticket.area.name_vi.clone(),
            service_area_en: ticket.area.name_en.clone(),
            counter_vi: String::new(),
            counter_en: String::new(),
            printed_at: (self.now)(),
            waiting: Some(ticket.ahead),
            expected_wait_min: Some(ticket.wait_minutes),
            qr_payload: Some(ticket.ticket_id.clone()),
            footer: vec![
                "Quét mã QR tại ki-ốt để đánh giá / Scan the QR at the kiosk to rate us".into(),
            ],
        };
        print_slip(printer, |r, opts| {
            r.ticket_job(&content, printer.paper, opts)
        })
        .map_err(|e| {
            tracing::warn!(error = %e, "ticket not printed");
            printer_trouble(&e.to_string())
        })
    }

    fn lookup(&mut self, code: &str) -> Result<StatusReport, Message> {
        let now = (self.now)();
        let remote = match &self.gateway {
            Some(client) => self.runtime.block_on(async {
                tokio::time::timeout(LOOKUP_TIMEOUT, client.dossier_status(code)).await
            }),
            None => Ok(Err(motcua_uplink::client::GatewayError::Garbage {
                url: String::new(),
                detail: "no gateway configured".into(),
            })),
        };
        match remote {
            Ok(Ok(Some(view))) => {
                let _ = self.store.save_status(code, view.status, now);
                return Ok(StatusReport {
                    code: view.code,
                    status: view.status,
                    appointment_date: view.appointment_date,
                    updated_at: Some(view.updated_at),
                    offline: false,
                });
            }
            Ok(Ok(None)) => {
                // Not at the gateway yet: a dossier received here minutes ago may still be on
                // its way up.
                if let Ok(Some(cached)) = self.store.cached_status(code) {
                    return Ok(StatusReport {
                        code: code.to_owned(),
                        status: cached.status.unwrap_or(DossierStatus::Submitted),
                        appointment_date: cached.appointment_date,
                        updated_at: cached.checked_at,
                        offline: true,
                    });
                }
                return Err(Message::new(
                    "Không tìm thấy hồ sơ với mã này. Vui lòng kiểm tra lại mã trên giấy tiếp nhận.",
                    "No dossier has this code. Please check the code on your receipt.",
                ));
            }
            Ok(Err(e)) => tracing::info!(error = %e, "status lookup: gateway unavailable"),
            Err(_) => tracing::info!("status lookup: gateway did not answer in time"),
        }
        match self.store.cached_status(code) {
            Ok(Some(cached)) => Ok(StatusReport {
                code: code.to_owned(),
                status: cached.status.unwrap_or(DossierStatus::Submitted),
                appointment_date: cached.appointment_date,
                updated_at: cached.checked_at,
                offline: true,
            }),
            _ => Err(Message::new(
                "Hiện không kết nối được hệ thống của tỉnh và ki-ốt này không lưu hồ sơ này. Vui lòng thử lại sau hoặc hỏi cán bộ.",
                "The provincial system cannot be reached now and this kiosk has no copy of this dossier. Please try later or ask an officer.",
            )),
        }
    }

    fn panel_status(&self) -> PanelStatus {
        let mut lines = vec![Message::new(
            format!("Thiết bị: {}", self.config.device.id),
            format!("Device: {}", self.config.device.id),
        )];
        match self.store.outbox_status() {
            Ok(s) => {
                lines.push(Message::new(
                    format!(
                        "Hàng đợi gửi: {} chờ gửi, {} đã gửi, {} đang lỗi",
                        s.pending, s.delivered, s.failing
                    ),
                    format!(
                        "Outbox: {} pending, {} delivered, {} failing",
                        s.pending, s.delivered, s.failing
                    ),
                ));
                if let Some(e) = s.last_error {
                    lines.push(Message::new(
                        format!("Lỗi gần nhất: {e}"),
                        format!("Last error: {e}"),
                    ));
                }
            }
            Err(e) => lines.push(Message::new(
                format!("Kho dữ liệu lỗi: {e}"),
                format!("Store error: {e}"),
            )),
        }
        let enrolled = crate::read_token(&self.config.store.data_dir).is_some();
        lines.push(if enrolled {
            Message::new(
                format!("Máy chủ: {} (đã đăng ký)", self.config.uplink.gateway_url),
                format!("Gateway: {} (enrolled)", self.config.uplink.gateway_url),
            )
        } else {
            Message::new(
                "Chưa đăng ký với máy chủ: chạy kioskctl enroll",
                "Not enrolled with the gateway: run kioskctl enroll",
            )
        });
        lines.push(match &self.config.peripherals.printer {
            Some(p) => {
                let status = motcua_printer::EscPosPrinter::new(
                    p.transport.clone(),
                    motcua_printer::Timeouts::default(),
                )
                .status();
                match status {
                    Ok(s) => match s.fault() {
                        Some(fault) => {
                            let m = bilingual(&fault.to_string());
                            Message::new(format!("Máy in: {}", m.vi), format!("Printer: {}", m.en))
                        }
                        None if s.paper_near_end => {
                            Message::new("Máy in: sắp hết giấy", "Printer: paper near end")
                        }
                        None => Message::new("Máy in: sẵn sàng", "Printer: ready"),
                    },
                    Err(e) => {
                        let m = printer_trouble(&e.to_string());
                        Message::new(format!("Máy in: {}", m.vi), format!("Printer: {}", m.en))
                    }
                }
            }
            None => Message::new("Máy in: không có", "Printer: none"),
        });
        lines.push(match &self.config.peripherals.scanner {
            Some(ScannerConfig::Sane { device, .. }) => Message::new(
                format!("Máy quét: SANE {device}"),
                format!("Scanner: SANE {device}"),
            ),
            Some(ScannerConfig::HotFolder { folder }) => Message::new(
                format!("Máy quét: thư mục {}", folder.display()),
                format!("Scanner: hot folder {}", folder.display()),
            ),
            None => Message::new("Máy quét: không có", "Scanner: none"),
        });
        PanelStatus { lines }
    }

    fn printer_test(&self) -> Result<(), Message> {
        let printer = self
            .config
            .peripherals
            .printer
            .as_ref()
            .ok_or_else(no_printer)?;
        let content = crate::devices::test_receipt(
            &self.config.device.id,
            (self.now)(),
            &printer.qr_template,
        )
        .map_err(|e| printer_trouble(&e))?;
        print_slip(printer, |r, opts| {
            r.receipt_job(&content, printer.paper, opts)
        })
        .map_err(|e| printer_trouble(&e.to_string()))
    }

    /// Deletes every file of the session (scanned pages, PDFs being assembled).
    pub fn wipe_session_files(&mut self) {
        let _ = std::fs::remove_dir_all(&self.session_dir);
        if let Err(e) = std::fs::create_dir_all(&self.session_dir) {
            tracing::error!(error = %e, "cannot recreate the session folder");
        }
    }

    /// The session folder (tests check it is emptied).
    pub fn session_dir(&self) -> &Path {
        &self.session_dir
    }
}

/// Turns a scanned page into what the screen shows; the page file stays in the session folder.
fn self_page(next_id: &mut u64, page: motcua_scanner::documents::Page) -> Option<ScannedPage> {
    let img = page.image()?;
    let thumb = img.thumbnail(180, 240).to_rgb8();
    *next_id += 1;
    Some(ScannedPage {
        id: *next_id,
        path: page.path.clone(),
        thumbnail: Thumbnail {
            width: thumb.width(),
            height: thumb.height(),
            rgb: Arc::new(thumb.into_raw()),
        },
    })
}

/// Renders a slip with the configured fonts and prints it on the configured printer.
fn print_slip(
    printer: &crate::devices::PrinterConfig,
    job: impl FnOnce(
        &motcua_printer::Renderer,
        &motcua_printer::EncodeOptions,
    ) -> Result<motcua_printer::Job, motcua_printer::PrinterError>,
) -> Result<(), motcua_printer::PrinterError> {
    let renderer = motcua_printer::Renderer::new(&printer.fonts)?;
    let job = job(&renderer, &motcua_printer::EncodeOptions::default())?;
    motcua_printer::EscPosPrinter::new(
        printer.transport.clone(),
        motcua_printer::Timeouts::default(),
    )
    .print(&job)
    .map(|_| ())
}

/// A page thumbnail PNG written by the intake pipeline, for the screen.
fn thumbnail_from_file(path: &Path) -> Option<Thumbnail> {
    let img = image::open(path).ok()?.to_rgb8();
    Some(Thumbnail {
        width: img.width(),
        height: img.height(),
        rgb: Arc::new(img.into_raw()),
    })
}

/// One PDF from a document's pages, stored as the intake settings say (`[intake] mode`), at
/// 100 % scale (Decree 30/2020 annex I).
fn document_pdf(
    kiosk: &KioskConfig,
    work: &Path,
    index: usize,
    pages: &[ScannedPage],
) -> anyhow::Result<PathBuf> {
    let mut config = kiosk.intake.pipeline(work);
    config.file_prefix = format!("doc{index:02}");
    // The citizen chose these pages: none is dropped as blank.
    config.blank = None;
    let mut pipeline = PagePipeline::new(config);
    for page in pages {
        let img = image::open(&page.path)?;
        pipeline.push(img, page_dpi(&page.path))?;
    }
    let docs = pipeline.finish()?;
    docs.into_iter()
        .find_map(|d| d.pdf_path)
        .ok_or_else(|| anyhow::anyhow!("no page could be assembled"))
}

/// The resolution of a page file: scanimage writes PNM without it, so the configured one.
fn page_dpi(_path: &Path) -> u32 {
    200
}

fn no_printer() -> Message {
    Message::new("Ki-ốt này không có máy in.", "This kiosk has no printer.")
}

fn printer_trouble(detail: &str) -> Message {
    let fault = [
        (
            "out of paper",
            "Máy in hết giấy.",
            "The printer is out of paper.",
        ),
        (
            "cover open",
            "Nắp máy in đang mở.",
            "The printer cover is open.",
        ),
        (
            "offline",
            "Máy in đang tạm dừng.",
            "The printer is offline.",
        ),
    ]
    .into_iter()
    .find(|(needle, _, _)| detail.contains(needle));
    let (vi, en) = fault.map_or(
        ("Máy in đang gặp sự cố.", "The printer has a problem."),
        |(_, vi, en)| (vi, en),
    );
    Message::new(
        format!("{vi} Thông tin đã được lưu, ông/bà không mất gì. Chạm \"In lại phiếu\" hoặc báo cán bộ."),
        format!("{en} Everything is saved; nothing is lost. Touch \"Print again\" or ask an officer."),
    )
}

fn scanner_trouble(detail: &str) -> Message {
    let m = bilingual(detail);
    Message::new(
        format!(
            "Máy quét báo lỗi: {}. Các trang đã quét được giữ lại.",
            m.vi
        ),
        format!(
            "The scanner reported: {}. Pages already scanned are kept.",
            m.en
        ),
    )
}

fn store_trouble(e: &StoreError) -> Message {
    tracing::error!(error = %e, "kiosk store refused");
    bilingual(&e.citizen_message())
}

fn store_trouble_io(e: &std::io::Error) -> Message {
    tracing::error!(error = %e, "session folder");
    Message::new(
        "Ki-ốt chưa lưu được thông tin. Vui lòng thử lại hoặc nộp tại quầy.",
        "The kiosk could not save this. Please try again or use the counter.",
    )
}
