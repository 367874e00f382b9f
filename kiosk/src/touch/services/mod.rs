//! Carries out what the flows ask for: scanning, storing, printing, looking up, rating.
//!
//! Runs on its own thread (a scan or a printer timeout must not freeze the screen) and reports
//! back with [`Event`]s. Every message for the citizen is in both languages.

mod citizen;
mod hub;
mod intake;
mod messages;
mod staff;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use motcua_printer::Printer;
use motcua_scanner::documents::{
    BatchRequest, DocumentScanner, HotFolder, HotFolderConfig, SaneConfig, SaneScanner, TakenAction,
};

use crate::config::KioskConfig;
use crate::devices::ScannerConfig;
use motcua_flows::lookup::{LookupEffect, LookupEvent};
use motcua_flows::rating::{RatingEffect, RatingEvent};
use motcua_flows::session::{Effect, Event};
use motcua_flows::staff::{StaffEffect, StaffEvent};
use motcua_flows::submission::Thumbnail;
use motcua_flows::Message;
use motcua_store::error::StoreError;
use motcua_store::Store;
use motcua_uplink::client::GatewayClient;
use motcua_uplink::DeviceLink;

pub use messages::bilingual;

/// Most pages one scan of a citizen's document may bring (a feeder left running is stopped).
pub const MAX_PAGES_PER_SCAN: u32 = 40;

/// How long a status lookup waits for the gateway before showing the cached status.
pub(super) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(4);
use messages::*;

/// The kiosk's devices, store and gateway, as the screens use them.
pub struct Services {
    config: KioskConfig,
    store: Store,
    session_dir: PathBuf,
    runtime: tokio::runtime::Runtime,
    /// The link for status lookups, loaded once the kiosk is enrolled and reloaded when the
    /// uplink renews the certificate (the old one stops working once the new one is used).
    gateway: Option<DeviceLink>,
    next_page_id: u64,
    stop_scan: Arc<AtomicBool>,
    now: Box<dyn Fn() -> DateTime<FixedOffset> + Send>,
    /// The staff intake in progress: its flow and spool counter (see `IntakeSession::resume`).
    intake: Option<(motcua_flows::intake::IntakeFlow, u32)>,
    /// The officer's signing key, open from the PIN until the batch is signed and the staff
    /// session ends (dropped at its wipe, which logs out of the token).
    signer: Option<crate::intake::signing::OpenedSigner>,
    /// The centre hub's client (`[hub]`), with the `device.pem` it was made from.
    hub: Option<(
        Option<motcua_uplink::identity::FileStamp>,
        motcua_uplink::HubClient,
    )>,
}

impl Services {
    /// Opens the store and prepares the session folder (emptied: nothing of an earlier citizen
    /// survives a restart). Only the session folder: `<folder>/taken` and kioskctl's private
    /// folders belong to others (a `kioskctl intake` may be running).
    pub fn new(config: KioskConfig, stop_scan: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
        let session_dir = config.store.data_dir.join("session");
        let _ = std::fs::remove_dir_all(&session_dir);
        std::fs::create_dir_all(&session_dir)?;
        // Pages spooled by intakes that ended with their process (a crash, a kill).
        crate::intake::spool::remove_stale(&config.store.data_dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            config,
            store,
            session_dir,
            runtime,
            gateway: None,
            next_page_id: 0,
            stop_scan,
            now: Box::new(motcua_store::vietnam_now),
            intake: None,
            signer: None,
            hub: None,
        })
    }

    /// Replaces the clock the services stamp tickets and dossiers with (tests compare a
    /// printed slip with one rendered at the same minute).
    pub fn with_clock(mut self, now: impl Fn() -> DateTime<FixedOffset> + Send + 'static) -> Self {
        self.now = Box::new(now);
        self
    }

    /// The client for a status lookup: `None` until the kiosk is enrolled. Picks up a replaced
    /// `identity/device.pem` (a renewal, a re-enrolment).
    pub(super) fn gateway_client(&mut self) -> Option<GatewayClient> {
        match &mut self.gateway {
            Some(link) => {
                if let Err(e) = link.reload_if_changed() {
                    tracing::warn!(error = %e, "the replaced device certificate is not usable");
                }
            }
            None => {
                let files = self.config.identity_files();
                if !files.is_enrolled() {
                    return None;
                }
                match DeviceLink::open(files, &self.config.uplink.gateway_url, LOOKUP_TIMEOUT) {
                    Ok(link) => self.gateway = Some(link),
                    Err(e) => {
                        tracing::warn!(error = %e, "no status lookups at the gateway");
                        return None;
                    }
                }
            }
        }
        self.gateway.as_ref().map(|l| l.client().clone())
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
            Effect::Lookup(LookupEffect::Lookup { code, secret }) => {
                let answer = self.lookup(&code, &secret);
                emit(Event::Lookup(LookupEvent::Answer(answer)));
            }
            Effect::Rating(RatingEffect::Rate { transaction, level }) => {
                if let hub::HubRating::Answered(result) = self.rate_through_hub(&transaction, level)
                {
                    emit(Event::Rating(RatingEvent::Saved(result)));
                    return;
                }
                // Kept on the kiosk by the ticket's id (never its rating code).
                let (transaction, _) = motcua_domain::ticket::split_rating_qr(&transaction);
                let result = self
                    .store
                    .rate(
                        &self.config.device,
                        self.config.rating_scale,
                        transaction,
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
            Effect::Staff(StaffEffect::CheckPin { check, pin }) => {
                let verdict = crate::pins::check_pin(
                    &mut self.store,
                    &self.config.screen.pins,
                    check.role,
                    pin.digits(),
                    crate::pins::unix_ms(),
                );
                emit(Event::Staff(StaffEvent::PinChecked { check, verdict }));
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
            // Said by the screen thread's speaker (see `touch::Inner::run`); never sent here.
            Effect::Speak { .. } => {}
            Effect::WipeSessionFiles => {
                // An intake left open is dropped with the session, and its spooled pages with
                // it: the citizen's papers do not stay in <data>/intake.
                if let Some((flow, _)) = self.intake.take() {
                    if let Some(dossier) = flow.dossier_code() {
                        crate::intake::spool::remove_session_spool(
                            &self.config.store.data_dir,
                            dossier,
                        );
                    }
                }
                // The token's session ends with the staff session.
                self.signer = None;
                self.wipe_session_files();
            }
        }
    }

    pub(super) fn scanner(&self) -> Result<Box<dyn DocumentScanner>, Message> {
        match &self.config.peripherals.scanner {
            Some(ScannerConfig::Sane { device, .. }) => {
                Ok(Box::new(SaneScanner::new(SaneConfig::new(device.clone()))))
            }
            Some(ScannerConfig::HotFolder { folder }) => {
                HotFolder::new(self.hot_folder_settings(folder))
                    .map(|h| Box::new(h) as Box<dyn DocumentScanner>)
                    .map_err(|e| scanner_trouble(&e.to_string()))
            }
            None => Err(Message::new(
                "Ki-ốt này không có máy quét. Vui lòng nộp giấy tờ tại quầy.",
                "This kiosk has no scanner. Please hand in your papers at the counter.",
            )),
        }
    }

    /// The settings of the hot folder `folder`. Taken files go into the session
    /// folder, not `<folder>/taken`: a citizen's papers are deleted once stored in the dossier
    /// or at the session wipe.
    pub(super) fn hot_folder_settings(&self, folder: &Path) -> HotFolderConfig {
        let mut settings = HotFolderConfig::new(folder);
        settings.taken = TakenAction::MoveTo(self.taken_dir());
        settings
    }

    /// A scan request with the configured settings, writing page files into `dir`.
    pub(super) fn batch_request(&self, dir: &Path) -> BatchRequest {
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

    /// Where files taken from the hot folder wait for their dossier: in the session folder.
    fn taken_dir(&self) -> PathBuf {
        self.session_dir.join("taken")
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
pub(super) fn thumbnail_from_file(path: &Path) -> Option<Thumbnail> {
    let img = image::open(path).ok()?.to_rgb8();
    Some(Thumbnail {
        width: img.width(),
        height: img.height(),
        rgb: Arc::new(img.into_raw()),
    })
}
