//! The citizen's services: scanning attachments, assembling and storing a dossier, queue
//! tickets, and status lookups (online with a short limit, else the kiosk's own copy).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Timelike};
use motcua_domain::lookup_secret::LookupSecret;
use motcua_domain::wire::DossierStatus;
use motcua_scanner::documents::ScanEvent;
use motcua_scanner::pipeline::PagePipeline;

use crate::config::KioskConfig;
use motcua_flows::lookup::{not_found_message, too_many_message, StatusReport};
use motcua_flows::session::Event;
use motcua_flows::submission::{
    ScannedPage, SubmissionEffect, SubmissionEvent, SubmitRequest, Thumbnail,
};
use motcua_flows::ticket::{expected_wait, IssuedTicket, ServiceArea, TicketEffect, TicketEvent};
use motcua_flows::Message;
use motcua_store::NewDocument;
use motcua_uplink::LookupAnswer;

use super::messages::*;
use super::{print_slip, Services, LOOKUP_TIMEOUT};

impl Services {
    pub(super) fn submission(&mut self, effect: SubmissionEffect, emit: &mut dyn FnMut(Event)) {
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
                        lookup_secret: Some(self.store.lookup_secret(&code)),
                        code,
                        appointment_date,
                    },
                    Err(m) => SubmissionEvent::Refused(m),
                };
                emit(Event::Submission(event));
            }
            SubmissionEffect::CheckLink => {
                let up = self.gateway_client().is_some();
                emit(Event::Submission(SubmissionEvent::Link(up)));
            }
            SubmissionEffect::AskHeld {
                id_number,
                kind_codes,
            } => {
                let answer = self.held_documents(&id_number, &kind_codes);
                emit(Event::Submission(SubmissionEvent::Held(answer)));
            }
            SubmissionEffect::PrintReceipt(code) => {
                let result = crate::receipt::print_receipt(
                    self.config.peripherals.printer.as_ref(),
                    &self.config.receipt,
                    &self.store,
                    &code,
                )
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

    /// "Never asked twice": the kinds the province holds for the card's ID number, asked with
    /// the lookup's short limit. Any failure is told to the citizen, who then attaches
    /// everything; the ID number is never logged, and the answer is kept only by the flow.
    fn held_documents(
        &mut self,
        id_number: &str,
        kind_codes: &[String],
    ) -> Result<Vec<String>, Message> {
        let failed = || {
            Message::new(
                "Không tra cứu được giấy tờ đã số hoá; vui lòng nộp đủ giấy tờ.",
                "Documents already held could not be looked up; please attach every document.",
            )
        };
        let client = self.gateway_client().ok_or_else(failed)?;
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(LOOKUP_TIMEOUT, client.held_documents(id_number, kind_codes)).await
        });
        match answer {
            Ok(Ok(held)) => {
                tracing::info!(
                    asked = kind_codes.len(),
                    held = held.len(),
                    "held documents looked up"
                );
                Ok(held)
            }
            Ok(Err(e)) => {
                tracing::info!(error = %e, "held documents: the gateway did not answer");
                Err(failed())
            }
            Err(_) => {
                tracing::info!("held documents: no answer in time");
                Err(failed())
            }
        }
    }

    /// The configured document scanner.
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
            .submit_dossier_reusing(
                &self.config.device,
                &procedure,
                &self.config.calendar,
                request.applicant,
                documents,
                request.reused_documents,
                now,
            )
            .map_err(|e| store_trouble(&e))?;
        let _ = std::fs::remove_dir_all(&work);
        // Stored in the dossier: the scanned pages (scanimage's files, files taken from the
        // hot folder) are not kept beside it.
        for (_, pages) in &request.documents {
            for page in pages {
                let _ = std::fs::remove_file(&page.path);
            }
        }
        tracing::info!(code = %submission.code, documents = submission.documents.len(), reused = submission.reused_documents.len(), "dossier accepted at the kiosk");
        Ok((submission.code, submission.appointment_date))
    }

    pub(super) fn ticket(&mut self, effect: TicketEffect, emit: &mut dyn FnMut(Event)) {
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
        if let Some(client) = self.hub_client() {
            return self.issue_through_hub(client, area);
        }
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
            wait_text: None,
            offline: false,
        })
    }

    fn print_ticket(&self, ticket: &IssuedTicket) -> Result<(), Message> {
        let printer = self
            .config
            .peripherals
            .printer
            .as_ref()
            .ok_or_else(no_printer)?;
        let content = self.ticket_content(ticket);
        print_slip(printer, |r, opts| {
            r.ticket_job(&content, printer.paper, opts)
        })
        .map_err(|e| {
            tracing::warn!(error = %e, "ticket not printed");
            printer_trouble(&e.to_string())
        })
    }

    /// What the slip of `ticket` says, printed now.
    pub fn ticket_content(&self, ticket: &IssuedTicket) -> motcua_printer::TicketContent {
        motcua_printer::TicketContent {
            centre_name: self.config.receipt.agency_name.to_uppercase(),
            number: ticket.number,
            service_area_vi: ticket.area.name_vi.clone(),
            service_area_en: ticket.area.name_en.clone(),
            counter_vi: String::new(),
            counter_en: String::new(),
            printed_at: (self.now)(),
            waiting: (!ticket.offline).then_some(ticket.ahead),
            expected_wait_min: Some(ticket.wait_minutes),
            wait_text: ticket
                .wait_text
                .as_ref()
                .map(|m| (m.vi.clone(), m.en.clone())),
            notice: ticket.offline.then(|| {
                let n = motcua_flows::ticket::offline_notice();
                (n.vi, n.en)
            }),
            qr_payload: Some(ticket.ticket_id.clone()),
            footer: vec![
                "Quét mã QR tại ki-ốt để đánh giá / Scan the QR at the kiosk to rate us".into(),
            ],
        }
    }

    /// A status lookup with the receipt's secret: the gateway's answer, else (unreachable, or
    /// not delivered yet) this kiosk's copy, which it shows only for the right secret too.
    pub(super) fn lookup(
        &mut self,
        code: &str,
        secret: &LookupSecret,
    ) -> Result<StatusReport, Message> {
        let now = (self.now)();
        let typed = secret.to_string();
        let remote = match self.gateway_client() {
            Some(client) => self.runtime.block_on(async {
                tokio::time::timeout(LOOKUP_TIMEOUT, client.lookup_status(code, &typed)).await
            }),
            None => Ok(Err(motcua_uplink::client::GatewayError::Garbage {
                url: String::new(),
                detail: "chưa đăng ký / not enrolled (kioskctl enroll)".into(),
            })),
        };
        let cached = || match self.store.cached_status_with_secret(code, secret) {
            Ok(Some(cached)) => Some(StatusReport {
                code: code.to_owned(),
                status: cached.status.unwrap_or(DossierStatus::Submitted),
                appointment_date: cached.appointment_date,
                updated_at: cached.checked_at,
                offline: true,
            }),
            _ => None,
        };
        match remote {
            Ok(Ok(LookupAnswer::Found(view))) => {
                let _ = self.store.save_status(code, view.status, now);
                return Ok(StatusReport {
                    code: view.code,
                    status: view.status,
                    appointment_date: view.appointment_date,
                    updated_at: Some(view.updated_at),
                    offline: false,
                });
            }
            // Not at the gateway yet (a dossier received here minutes ago may still be on its
            // way up), or not this secret's: one message either way.
            Ok(Ok(LookupAnswer::NotFound)) => return cached().ok_or_else(not_found_message),
            Ok(Ok(LookupAnswer::TooMany { retry_after_s })) => {
                return Err(too_many_message(retry_after_s))
            }
            Ok(Err(e)) => tracing::info!(error = %e, "status lookup: gateway unavailable"),
            Err(_) => tracing::info!("status lookup: gateway did not answer in time"),
        }
        cached().ok_or_else(|| {
            Message::new(
                "Hiện không kết nối được hệ thống của tỉnh và ki-ốt này không có hồ sơ khớp hai mã này. Vui lòng thử lại sau hoặc hỏi cán bộ.",
                "The provincial system cannot be reached now and this kiosk has no dossier matching these two codes. Please try later or ask an officer.",
            )
        })
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
