//! The touch screen of the kiosk: the Slint window (`motcua-ui`) driven by the flows
//! (`motcua_flows`) and the [`services::Services`] that scan, store, print and look up.
//!
//! The screen thread owns the window and the session; a worker thread owns the services, so a
//! slow printer or a scan never freezes a touch. They talk by two channels: effects out, events
//! back. Code readers post their payloads into the same event channel.

pub mod input;
pub mod services;
pub mod view;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use motcua_ui::KioskWindow;
use slint::ComponentHandle;

use crate::config::KioskConfig;
use motcua_flows::session::{Effect, Event, Session, SessionSettings};
use services::Services;
use view::Titles;

struct Inner {
    session: Session,
    started: Instant,
    skipped: Duration,
    effects: mpsc::Sender<Effect>,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
    in_flight: Arc<AtomicUsize>,
    stop_scan: Arc<AtomicBool>,
    titles: Titles,
    window: slint::Weak<KioskWindow>,
    presence: Option<crate::update::Presence>,
    /// Speaks in the background: `speak` only hands the text to its thread.
    speaker: motcua_speech::Speaker,
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from((self.started.elapsed() + self.skipped).as_millis()).unwrap_or(u64::MAX)
    }

    fn dispatch(&mut self, event: Event) {
        let now = self.now_ms();
        let effects = self.session.handle(event, now);
        self.run(effects);
    }

    fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            if let Effect::Speak { text, lang } = effect {
                // Not for the services' thread: it may be busy printing the very ticket whose
                // number is to be said.
                self.speaker.speak(&text, speech_language(lang));
                continue;
            }
            if effect == Effect::WipeSessionFiles {
                // Stops a scan at once; the worker then deletes the files. The citizen has
                // gone: nothing of theirs goes on being said.
                self.stop_scan.store(true, Ordering::SeqCst);
                self.speaker.stop();
            }
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if self.effects.send(effect).is_err() {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                tracing::error!("the kiosk services stopped; the screen cannot act");
            }
        }
    }

    /// Takes the services' reports, lets time pass, and redraws.
    fn pump(&mut self) {
        while let Ok(event) = self.events_rx.try_recv() {
            self.dispatch(event);
        }
        let now = self.now_ms();
        let effects = self.session.tick(now);
        self.run(effects);
        if let Some(p) = &self.presence {
            // A flow open (a citizen's or the staff's intake) holds an update back.
            p.set(self.session.holds_anything());
        }
        self.refresh();
    }

    fn refresh(&self) {
        if let Some(w) = self.window.upgrade() {
            let warning = self.session.idle_warning(self.now_ms()).unwrap_or(0);
            view::show(&w, &self.session, warning, &self.titles);
            // Every citizen screen has the Listen key while the kiosk can speak.
            w.set_can_listen(self.speaker.is_enabled() && self.session.instruction().is_some());
        }
    }
}

/// The kiosk's touch application: window, session and services.
pub struct TouchApp {
    inner: Rc<RefCell<Inner>>,
    window: KioskWindow,
    session_dir: std::path::PathBuf,
}

impl TouchApp {
    /// Builds the window (a Slint platform must be set up: the default backend for a real
    /// screen, [`motcua_ui::headless::Headless`] for tests) and starts the services' worker.
    pub fn new(config: KioskConfig) -> anyhow::Result<Self> {
        let stop_scan = Arc::new(AtomicBool::new(false));
        let services = Services::new(config.clone(), stop_scan.clone())?;
        let session_dir = services.session_dir().to_owned();
        let catalog = Arc::new(services.catalog());
        let settings = SessionSettings {
            catalog,
            areas: config.screen.areas.iter().map(|a| a.area.clone()).collect(),
            rating_scale: config.rating_scale,
            idle: config.screen.idle,
            pins: config.screen.pins.clone(),
        };
        let (effects_tx, effects_rx) = mpsc::channel::<Effect>();
        let (events_tx, events_rx) = mpsc::channel::<Event>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        {
            let events_tx = events_tx.clone();
            let in_flight = in_flight.clone();
            let mut services = services;
            std::thread::Builder::new()
                .name("kiosk-services".into())
                .spawn(move || {
                    for effect in effects_rx {
                        services.execute(effect, &mut |event| {
                            let _ = events_tx.send(event);
                        });
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                })?;
        }
        let window = KioskWindow::new()?;
        let inner = Rc::new(RefCell::new(Inner {
            session: Session::new(settings, 0),
            started: Instant::now(),
            skipped: Duration::ZERO,
            effects: effects_tx,
            events_tx,
            events_rx,
            in_flight,
            stop_scan,
            titles: Titles {
                vi: config.screen.title_vi.clone(),
                en: config.screen.title_en.clone(),
            },
            window: window.as_weak(),
            presence: None,
            speaker: config.audio.speaker(),
        }));
        {
            let weak = Rc::downgrade(&inner);
            window.on_action(move |action, arg| {
                if let Some(inner) = weak.upgrade() {
                    let mut inner = inner.borrow_mut();
                    if let Some(event) = input::action_event(&inner.session, &action, &arg) {
                        inner.dispatch(event);
                    }
                    inner.refresh();
                }
            });
        }
        {
            let weak = Rc::downgrade(&inner);
            window.on_key(move |key| {
                if let Some(inner) = weak.upgrade() {
                    let mut inner = inner.borrow_mut();
                    if let Some(event) = input::key_event(&inner.session, &key) {
                        inner.dispatch(event);
                    }
                    inner.refresh();
                }
            });
        }
        inner.borrow().refresh();
        Ok(Self {
            inner,
            window,
            session_dir,
        })
    }

    /// The window.
    pub fn window(&self) -> &KioskWindow {
        &self.window
    }

    /// Applies an event as if it came from the screen (scripted runs, screenshots).
    pub fn dispatch(&self, event: Event) {
        let mut inner = self.inner.borrow_mut();
        inner.dispatch(event);
        inner.refresh();
    }

    /// Keeps `presence` saying whether a session is open (checked on every pump), so that
    /// kioskd asks for no update install while a citizen is at the screen.
    pub fn report_presence(&self, presence: crate::update::Presence) {
        self.inner.borrow_mut().presence = Some(presence);
    }

    /// Where code readers post what they read (and anything else that reports to the screen).
    pub fn event_sender(&self) -> mpsc::Sender<Event> {
        self.inner.borrow().events_tx.clone()
    }

    /// Takes the services' reports, applies the idle timeout, redraws. The event loop calls it
    /// every 100 ms (see [`TouchApp::start_timer`]); tests call it directly.
    pub fn pump(&self) {
        self.inner.borrow_mut().pump();
    }

    /// Whether the services have work in hand or reports not yet taken.
    pub fn busy(&self) -> bool {
        self.inner.borrow().in_flight.load(Ordering::SeqCst) > 0
    }

    /// Pumps until the services are idle (or `limit` passes); for scripted runs.
    pub fn settle(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            self.pump();
            if !self.busy() {
                self.pump();
                if !self.busy() {
                    return true;
                }
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Moves the session's clock forward (tests of the idle timeout).
    pub fn skip_time(&self, by: Duration) {
        self.inner.borrow_mut().skipped += by;
    }

    /// The speaker's first problem (no speech program, no sound device), for status and tests.
    pub fn speech_problem(&self) -> Option<String> {
        self.inner.borrow().speaker.problem()
    }

    /// How many utterances the speaker started (tests of the Listen key).
    pub fn utterances_started(&self) -> u64 {
        self.inner.borrow().speaker.utterances_started()
    }

    /// A copy of the session state (tests check what it holds).
    pub fn session_debug(&self) -> String {
        format!("{:?}", self.inner.borrow().session)
    }

    /// The folder of the session's files (scanned pages).
    pub fn session_dir(&self) -> &std::path::Path {
        &self.session_dir
    }

    /// Starts the 100 ms timer that pumps while the event loop runs; keep the timer alive.
    pub fn start_timer(&self) -> slint::Timer {
        let timer = slint::Timer::default();
        let weak = Rc::downgrade(&self.inner);
        timer.start(
            slint::TimerMode::Repeated,
            Duration::from_millis(100),
            move || {
                if let Some(inner) = weak.upgrade() {
                    if let Ok(mut inner) = inner.try_borrow_mut() {
                        inner.pump();
                    }
                }
            },
        );
        timer
    }
}

/// The speech language of a screen language.
fn speech_language(lang: motcua_flows::Lang) -> motcua_speech::CalloutLanguage {
    match lang {
        motcua_flows::Lang::Vi => motcua_speech::CalloutLanguage::Vietnamese,
        motcua_flows::Lang::En => motcua_speech::CalloutLanguage::English,
    }
}

/// Starts the code reader and posts every payload it reads to the screen as
/// [`Event::CodeScanned`]. Runs on its own thread for as long as the receiver lives.
pub fn spawn_code_reader(
    config: &crate::devices::CodeReaderConfig,
    events: mpsc::Sender<Event>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    start_code_reader(config, events, None)
}

/// [`spawn_code_reader`] that also beats `heartbeat` at least every second while its loop
/// runs, codes or not, so the watchdog can tell a quiet reader from a hung one.
pub fn spawn_watched_code_reader(
    config: &crate::devices::CodeReaderConfig,
    events: mpsc::Sender<Event>,
    heartbeat: crate::supervisor::Heartbeat,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    start_code_reader(config, events, Some(heartbeat))
}

fn start_code_reader(
    config: &crate::devices::CodeReaderConfig,
    events: mpsc::Sender<Event>,
    heartbeat: Option<crate::supervisor::Heartbeat>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let crate::devices::CodeReaderConfig::Serial(serial) = config;
    let mut reader = motcua_scanner::codes::SerialReader::spawn(serial.clone())?;
    let handle = std::thread::Builder::new()
        .name("code-reader".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "code reader: no runtime");
                    return;
                }
            };
            runtime.block_on(async {
                loop {
                    if let Some(beat) = &heartbeat {
                        beat.beat();
                    }
                    let event =
                        match tokio::time::timeout(Duration::from_secs(1), reader.next()).await {
                            Ok(Some(event)) => event,
                            Ok(None) => break,
                            Err(_quiet) => continue,
                        };
                    match event {
                        motcua_scanner::codes::ReaderEvent::Code(payload) => {
                            tracing::info!(bytes = payload.len(), "code read");
                            if events
                                .send(Event::CodeScanned(payload.into_string()))
                                .is_err()
                            {
                                break;
                            }
                        }
                        motcua_scanner::codes::ReaderEvent::Connected => {
                            tracing::info!("code reader connected");
                        }
                        motcua_scanner::codes::ReaderEvent::Disconnected(e) => {
                            tracing::warn!(error = %e, "code reader lost; retrying");
                        }
                    }
                }
            });
        })?;
    Ok(handle)
}
