//! The kiosk's touch screen in the test process: the real [`TouchApp`] on Slint's headless
//! software renderer, driven by taps on labelled buttons or by screen events.

use std::path::Path;
use std::time::{Duration, Instant};

use motcua_flows::session::Event;
use motcua_flows::text_entry::Key;
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::TouchApp;
use motcua_ui::headless::Headless;
use slint::ComponentHandle;

/// How long the kiosk may stay busy after one tap or event (scanning, printing, a lookup).
pub const SETTLE: Duration = Duration::from_secs(60);

/// The touch app on a headless 1080 × 1920 screen.
pub struct TouchScreen {
    /// The kiosk's touch app.
    pub app: TouchApp,
    /// The headless screen it draws on.
    pub headless: Headless,
}

impl TouchScreen {
    /// Installs the headless platform on this thread, builds the app from `config`, shows it.
    pub fn open(config: KioskConfig) -> anyhow::Result<Self> {
        let headless = Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT)?;
        let app = TouchApp::new(config)?;
        app.window().show()?;
        Ok(Self { app, headless })
    }

    /// Applies a screen event and waits until the kiosk is idle again.
    pub fn event(&self, event: Event) {
        let shown = format!("{event:?}");
        self.app.dispatch(event);
        assert!(
            self.app.settle(SETTLE),
            "the kiosk stayed busy after {shown}"
        );
    }

    /// Applies one key event per character of `text` (space as [`Key::Space`]).
    pub fn type_keys(&self, text: &str, into: impl Fn(Key) -> Event) {
        for c in text.chars() {
            self.event(into(if c == ' ' { Key::Space } else { Key::Char(c) }));
        }
    }

    /// Taps the button labelled `label` (a pointer event hit-tested by Slint), then waits until
    /// the kiosk is idle again.
    pub fn tap(&mut self, label: &str) {
        self.app.pump();
        if let Err(e) = self.headless.tap(self.app.window(), label) {
            let labels = self.headless.labels(self.app.window());
            panic!("{e}; on screen: {labels:?}");
        }
        assert!(
            self.app.settle(SETTLE),
            "the kiosk stayed busy after {label:?}"
        );
    }

    /// Types `text` on the on-screen keyboard, one tap per key.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let key = if c == ' ' {
                "space".to_owned()
            } else {
                c.to_string()
            };
            self.tap(&format!("key {key}"));
        }
    }

    /// Every label on the screen now.
    pub fn labels(&mut self) -> Vec<String> {
        self.app.pump();
        self.headless.labels(self.app.window())
    }

    /// Whether something on the screen contains `text`.
    pub fn shows(&mut self, text: &str) -> bool {
        self.labels().iter().any(|l| l.contains(text))
    }

    /// Waits (pumping) until something on the screen contains `text`; panics with what is on
    /// the screen if it has not appeared after [`SETTLE`].
    pub fn wait_shows(&mut self, text: &str) {
        let deadline = Instant::now() + SETTLE;
        loop {
            self.app.settle(SETTLE);
            if self.shows(text) {
                return;
            }
            if Instant::now() > deadline {
                let labels = self.labels();
                panic!("{text:?} never appeared within {SETTLE:?}; on screen: {labels:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pumps, then writes the screen as a PNG.
    pub fn screenshot(&mut self, path: &Path) -> anyhow::Result<()> {
        self.app.pump();
        Ok(self.headless.screenshot(path)?)
    }
}
