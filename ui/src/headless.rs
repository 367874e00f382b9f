//! A window without a display: Slint's software renderer drawing into memory.
//!
//! Used by the screenshot test, the scripted end-to-end runs (taps are real pointer events hit-
//! tested by Slint, found by the buttons' accessible labels) and the render benchmark. Slint's
//! platform is per thread, so each test thread installs its own.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType, Rgb565Pixel};
use slint::platform::{Platform, PointerEventButton, WindowAdapter, WindowEvent};
use slint::{ComponentHandle, LogicalPosition, PhysicalSize, PlatformError};

/// Errors of the headless window.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    /// Slint refused (e.g. a platform was already installed on this thread).
    #[error("the headless window could not be set up: {0}")]
    Platform(String),
    /// No element carries this accessible label.
    #[error("nothing on the screen is labelled {0:?}")]
    NotFound(String),
    /// The screenshot could not be written.
    #[error("cannot write the screenshot {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: image::ImageError,
    },
}

struct HeadlessPlatform {
    window: Rc<MinimalSoftwareWindow>,
    start: Instant,
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The headless window of this thread.
pub struct Headless {
    window: Rc<MinimalSoftwareWindow>,
    width: u32,
    height: u32,
    buffer: Vec<Rgb565Pixel>,
}

impl Headless {
    /// Installs the headless platform on this thread with a `width` × `height` screen. Create the
    /// component after this and `show()` it.
    pub fn install(width: u32, height: u32) -> Result<Self, HeadlessError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        slint::platform::set_platform(Box::new(HeadlessPlatform {
            window: window.clone(),
            start: Instant::now(),
        }))
        .map_err(|e| HeadlessError::Platform(e.to_string()))?;
        window.set_size(PhysicalSize::new(width, height));
        Ok(Self {
            window,
            width,
            height,
            buffer: vec![Rgb565Pixel::default(); (width * height) as usize],
        })
    }

    /// Runs due timers and animations, then draws the whole frame. Returns how long drawing took.
    pub fn render(&mut self) -> Duration {
        slint::platform::update_timers_and_animations();
        self.window.request_redraw();
        let width = self.width as usize;
        let buffer = &mut self.buffer;
        let start = Instant::now();
        self.window.draw_if_needed(|renderer| {
            renderer.render(buffer, width);
        });
        start.elapsed()
    }

    /// Renders and writes the frame as a PNG.
    pub fn screenshot(&mut self, path: &Path) -> Result<(), HeadlessError> {
        self.render();
        let mut img = image::RgbImage::new(self.width, self.height);
        for (px, out) in self.buffer.iter().zip(img.pixels_mut()) {
            let v = px.0;
            let r = ((v >> 11) & 0x1f) as u8;
            let g = ((v >> 5) & 0x3f) as u8;
            let b = (v & 0x1f) as u8;
            *out = image::Rgb([
                (r << 3) | (r >> 2),
                (g << 2) | (g >> 4),
                (b << 3) | (b >> 2),
            ]);
        }
        img.save(path).map_err(|source| HeadlessError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// A finger tap at a logical position (press then release), hit-tested by Slint.
    pub fn tap_at(&self, position: LogicalPosition) {
        self.window
            .dispatch_event(WindowEvent::PointerMoved { position });
        self.window.dispatch_event(WindowEvent::PointerPressed {
            position,
            button: PointerEventButton::Left,
        });
        self.window.dispatch_event(WindowEvent::PointerReleased {
            position,
            button: PointerEventButton::Left,
        });
        self.window.dispatch_event(WindowEvent::PointerExited);
    }

    /// Taps the centre of the first visible button whose accessible label is `label` (buttons
    /// are labelled with their text), the way a citizen would; other labelled elements (list
    /// rows, fields) when no button matches.
    pub fn tap(
        &mut self,
        component: &impl ComponentHandle,
        label: &str,
    ) -> Result<(), HeadlessError> {
        use i_slint_backend_testing::{AccessibleRole, ElementHandle};
        // Layout must be current for positions to be right.
        self.render();
        let visible: Vec<ElementHandle> = ElementHandle::find_by_accessible_label(component, label)
            .filter(|e| {
                let size = e.size();
                size.width > 0.0 && size.height > 0.0 && e.computed_opacity() > 0.0
            })
            .collect();
        let is_text = |e: &ElementHandle| e.accessible_role() == Some(AccessibleRole::Text);
        let element = visible
            .iter()
            .find(|e| e.accessible_role() == Some(AccessibleRole::Button))
            .or_else(|| visible.iter().find(|e| !is_text(e)))
            .ok_or_else(|| HeadlessError::NotFound(label.to_owned()))?;
        let pos = element.absolute_position();
        let size = element.size();
        if std::env::var_os("MOTCUA_DEBUG_TAPS").is_some() {
            eprintln!("tap {label:?} at {pos:?} size {size:?}");
        }
        self.tap_at(LogicalPosition::new(
            pos.x + size.width / 2.0,
            pos.y + size.height / 2.0,
        ));
        Ok(())
    }

    /// Every accessible label on the screen now, for assertions on what is shown.
    pub fn labels(&mut self, component: &impl ComponentHandle) -> Vec<String> {
        self.render();
        i_slint_backend_testing::ElementQuery::from_root(component)
            .match_descendants()
            .find_all()
            .into_iter()
            .filter_map(|e| e.accessible_label().map(|s| s.to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }
}
