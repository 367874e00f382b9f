//! Code readers in USB keyboard (HID "keyboard wedge") mode, read through evdev.
//!
//! Many cheap readers ship in keyboard mode: they "type" each code followed by Enter. The kiosk
//! reads their key events from `/dev/input/by-id/…-event-kbd` and **grabs** the device
//! (`EVIOCGRAB`), so the keystrokes never reach the kiosk UI, where they could press buttons or
//! fill a field the citizen is looking at. The process needs read access to the device (group
//! `input`, or a udev rule for the reader's vendor/product id).
//!
//! # What survives keyboard mode
//!
//! A keyboard sends key positions, not characters. [`KeyDecoder`] maps them with the **US
//! layout** (set the reader's "keyboard country" to USA), so:
//!
//! - **ASCII survives**: letters, digits, punctuation, space; Enter ends the code. That is enough
//!   for our receipts, separator sheets, dossier codes and URLs.
//! - **Vietnamese does not survive plain keyboard mode.** A CCCD QR is UTF-8 (`Nguyễn`, `Nữ`,
//!   addresses); a reader in keyboard mode drops those letters or types something else, and the
//!   CCCD parser then rejects the card (or, worse, a `Nu` without its mark is read as `Nữ`).
//!   Configure one of:
//!   1. **USB-COM / USB CDC mode (recommended)**, read with
//!      [`SerialReader`](super::serial::SerialReader): the exact UTF-8 bytes arrive, fast.
//!   2. Keyboard mode with **Unicode "Alt + keypad" output**: the reader holds Alt and types the
//!      character's **Unicode code point in decimal** on the keypad (`ữ` = U+1EEF → Alt +
//!      7 9 1 9). [`KeyDecoder`] turns that back into the character. It is slow (five keys per
//!      letter) and only correct if the reader sends Unicode code points; a reader that sends
//!      Windows code-page Alt codes (`Alt+0nnn` in CP1252, or OEM CP437) produces wrong letters
//!      above 127 and must not be used for CCCD.
//!
//! Anything else (a control key, Ctrl or Alt with a letter, a key of a non-US layout, a
//! code point that is a control character) makes the whole line garbage: it is dropped and
//! counted, never delivered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use evdev::{Device, EventType};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::classify::MAX_PAYLOAD_BYTES;
use super::error::CodeReaderError;
use super::line::{DropReason, Framed};
use super::payload::Payload;
use super::reader::{Counters, ReaderEvent, ReaderStats};

/// Linux input key codes used by the decoder (`linux/input-event-codes.h`), so that the decoder
/// stays a pure function of numbers and can be tested without a device.
mod key {
    pub const ENTER: u16 = 28;
    pub const LEFTCTRL: u16 = 29;
    pub const LEFTSHIFT: u16 = 42;
    pub const RIGHTSHIFT: u16 = 54;
    pub const LEFTALT: u16 = 56;
    pub const SPACE: u16 = 57;
    pub const CAPSLOCK: u16 = 58;
    pub const NUMLOCK: u16 = 69;
    pub const KPENTER: u16 = 96;
    pub const RIGHTCTRL: u16 = 97;
    pub const RIGHTALT: u16 = 100;
    pub const LEFTMETA: u16 = 125;
    pub const RIGHTMETA: u16 = 126;
}

/// Characters of the US layout for key codes 2..=53, without and with Shift (`\0` = not a
/// character key).
const US_PLAIN: &[u8; 52] = b"1234567890-=\0\0qwertyuiop[]\0\0asdfghjkl;'`\0\\zxcvbnm,./";
const US_SHIFT: &[u8; 52] = b"!@#$%^&*()_+\0\0QWERTYUIOP{}\0\0ASDFGHJKL:\"~\0|ZXCVBNM<>?";

/// The digit of a keypad key (NumLock assumed on, as readers do), or `None`.
fn keypad_digit(code: u16) -> Option<u32> {
    Some(match code {
        82 => 0,
        79 => 1,
        80 => 2,
        81 => 3,
        75 => 4,
        76 => 5,
        77 => 6,
        71 => 7,
        72 => 8,
        73 => 9,
        _ => return None,
    })
}

/// Other keypad keys that type a character.
fn keypad_char(code: u16) -> Option<char> {
    Some(match code {
        55 => '*',
        74 => '-',
        78 => '+',
        83 => '.',
        98 => '/',
        _ => return None,
    })
}

/// Turns key events of a keyboard-mode reader into payload lines; see the
/// [module documentation](self) for what survives.
///
/// Pure: feed it `(code, value)` pairs of `EV_KEY` events (value 1 = press, 0 = release,
/// 2 = autorepeat, which is ignored) and call [`KeyDecoder::cut`] when keys stop arriving
/// mid-line.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    max_len: usize,
    buf: String,
    started: bool,
    garbage: bool,
    overlong: bool,
    left_shift: bool,
    right_shift: bool,
    caps_lock: bool,
    ctrl: u8,
    alt: u8,
    alt_code: Option<u32>,
}

impl KeyDecoder {
    /// A decoder that drops lines longer than `max_len` bytes (of UTF-8).
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            buf: String::new(),
            started: false,
            garbage: false,
            overlong: false,
            left_shift: false,
            right_shift: false,
            caps_lock: false,
            ctrl: 0,
            alt: 0,
            alt_code: None,
        }
    }

    /// Feeds one key event; returns a line when Enter completes one (or drops it).
    pub fn key(&mut self, code: u16, value: i32) -> Option<Framed> {
        let pressed = match value {
            1 => true,
            0 => false,
            _ => return None,
        };
        match code {
            key::LEFTSHIFT => self.left_shift = pressed,
            key::RIGHTSHIFT => self.right_shift = pressed,
            key::LEFTCTRL | key::RIGHTCTRL => {
                self.ctrl = if pressed {
                    self.ctrl.saturating_add(1)
                } else {
                    self.ctrl.saturating_sub(1)
                }
            }
            key::LEFTALT | key::RIGHTALT => {
                if pressed {
                    self.alt = self.alt.saturating_add(1);
                } else {
                    self.alt = self.alt.saturating_sub(1);
                    if self.alt == 0 {
                        if let Some(cp) = self.alt_code.take() {
                            match char::from_u32(cp) {
                                Some(c) => self.push_char(c),
                                None => self.mark_garbage(),
                            }
                        }
                    }
                }
            }
            key::CAPSLOCK => {
                if pressed {
                    self.caps_lock = !self.caps_lock;
                }
            }
            key::NUMLOCK | key::LEFTMETA | key::RIGHTMETA => {}
            _ if !pressed => {}
            key::ENTER | key::KPENTER if self.alt == 0 && self.ctrl == 0 => return self.finish(),
            _ => self.press(code),
        }
        None
    }

    /// Whether a line has started and not ended.
    pub fn has_partial(&self) -> bool {
        self.started
    }

    /// Ends the current line without Enter (keys stopped, device lost): returns
    /// [`DropReason::Partial`] if a line had started. Modifier state is kept (a held Shift is
    /// still held).
    pub fn cut(&mut self) -> Option<DropReason> {
        let had = self.started;
        self.reset_line();
        had.then_some(DropReason::Partial)
    }

    /// Forgets everything, modifiers included (after the device was reopened).
    pub fn reset(&mut self) {
        *self = Self::new(self.max_len);
    }

    fn reset_line(&mut self) {
        self.buf.clear();
        self.started = false;
        self.garbage = false;
        self.overlong = false;
        self.alt_code = None;
    }

    fn press(&mut self, code: u16) {
        if self.alt > 0 {
            // Alt + keypad digits spell a code point; Alt + anything else is a shortcut.
            match keypad_digit(code) {
                Some(d) => {
                    self.started = true;
                    let v = self.alt_code.unwrap_or(0).saturating_mul(10) + d;
                    self.alt_code = Some(v.min(0x11_0000));
                }
                None => self.mark_garbage(),
            }
            return;
        }
        if self.ctrl > 0 {
            self.mark_garbage();
            return;
        }
        let shift = self.left_shift || self.right_shift;
        let c = match code {
            key::SPACE => Some(' '),
            2..=53 => {
                let i = usize::from(code - 2);
                let plain = US_PLAIN[i];
                if plain == 0 {
                    None
                } else if plain.is_ascii_lowercase() {
                    let upper = shift != self.caps_lock;
                    Some(char::from(if upper { US_SHIFT[i] } else { plain }))
                } else {
                    Some(char::from(if shift { US_SHIFT[i] } else { plain }))
                }
            }
            _ => keypad_digit(code)
                .and_then(|d| char::from_digit(d, 10))
                .or_else(|| keypad_char(code)),
        };
        match c {
            Some(c) => self.push_char(c),
            // ESC, Backspace, Tab, F-keys, arrows, the 102nd key of non-US layouts…
            None => self.mark_garbage(),
        }
    }

    fn mark_garbage(&mut self) {
        self.started = true;
        self.garbage = true;
    }

    fn push_char(&mut self, c: char) {
        self.started = true;
        if c.is_control() {
            self.garbage = true;
        } else if self.buf.len() + c.len_utf8() > self.max_len {
            self.overlong = true;
            self.buf.clear();
        } else if !self.overlong {
            self.buf.push(c);
        }
    }

    fn finish(&mut self) -> Option<Framed> {
        let result = if self.overlong {
            Some(Framed::Dropped(DropReason::Overlong))
        } else if self.garbage || self.alt_code.is_some() {
            Some(Framed::Dropped(DropReason::Garbage))
        } else if self.buf.is_empty() {
            None
        } else {
            Some(Framed::Line(Payload::new(std::mem::take(&mut self.buf))))
        };
        self.reset_line();
        result
    }
}

/// Settings of one keyboard-mode code reader.
#[derive(Debug, Clone)]
pub struct WedgeConfig {
    /// Event device, e.g. `/dev/input/by-id/usb-…-event-kbd`.
    pub path: PathBuf,
    /// Longest payload accepted, in bytes.
    pub max_len: usize,
    /// A line with no key for this long is taken as cut off and dropped.
    pub gap: Duration,
    /// How often to try opening the device again while it is absent.
    pub reconnect_every: Duration,
    /// Capacity of the channel to the application.
    pub channel_capacity: usize,
}

impl WedgeConfig {
    /// Defaults: [`MAX_PAYLOAD_BYTES`], 300 ms gap, retry every second.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_len: MAX_PAYLOAD_BYTES,
            gap: Duration::from_millis(300),
            reconnect_every: Duration::from_secs(1),
            channel_capacity: 64,
        }
    }
}

/// A running keyboard-mode reader: a tokio task that opens and grabs the event device, decodes
/// keys, reconnects after an unplug and sends [`ReaderEvent`]s. Dropping it stops the task and
/// releases the grab.
#[derive(Debug)]
pub struct WedgeReader {
    rx: mpsc::Receiver<ReaderEvent>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl WedgeReader {
    /// Starts reading; must be called within a tokio runtime. The device need not exist yet.
    pub fn spawn(config: WedgeConfig) -> Result<Self, CodeReaderError> {
        if config.max_len == 0 || config.channel_capacity == 0 || config.gap.is_zero() {
            return Err(CodeReaderError::Config {
                path: config.path,
                what: "maximum length, channel capacity and gap must all be above zero".into(),
            });
        }
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run_wedge(config, tx, Arc::clone(&counters)));
        Ok(Self { rx, counters, task })
    }

    /// The next event; `None` once the reader has stopped.
    pub async fn next(&mut self) -> Option<ReaderEvent> {
        self.rx.recv().await
    }

    /// Counters since start.
    pub fn stats(&self) -> ReaderStats {
        self.counters.snapshot()
    }
}

impl Drop for WedgeReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_wedge(config: WedgeConfig, tx: mpsc::Sender<ReaderEvent>, counters: Arc<Counters>) {
    let path = config.path.clone();
    let mut decoder = KeyDecoder::new(config.max_len);
    let mut reported_outage = false;
    let mut ever_connected = false;
    loop {
        let opened = Device::open(&path)
            .map_err(|source| CodeReaderError::Open {
                path: path.clone(),
                source,
            })
            .and_then(|mut d| {
                d.grab().map_err(|source| CodeReaderError::Grab {
                    path: path.clone(),
                    source,
                })?;
                d.into_event_stream()
                    .map_err(|source| CodeReaderError::Open {
                        path: path.clone(),
                        source,
                    })
            });
        let mut stream = match opened {
            Ok(s) => s,
            Err(error) => {
                if !reported_outage {
                    reported_outage = true;
                    tracing::warn!(%error, "keyboard-mode QR reader not available");
                    if tx.send(ReaderEvent::Disconnected(error)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(config.reconnect_every).await;
                continue;
            }
        };
        if ever_connected {
            counters.reconnected();
        }
        ever_connected = true;
        decoder.reset();
        tracing::info!(path = %path.display(), "keyboard-mode QR reader connected and grabbed");
        if tx.send(ReaderEvent::Connected).await.is_err() {
            return;
        }
        let lost = loop {
            match tokio::time::timeout(config.gap, stream.next_event()).await {
                Err(_) => {
                    if let Some(reason) = decoder.cut() {
                        counters.dropped(reason);
                    }
                }
                Ok(Err(e)) => break e,
                Ok(Ok(ev)) if ev.event_type() == EventType::KEY => {
                    match decoder.key(ev.code(), ev.value()) {
                        Some(Framed::Line(payload)) => {
                            tracing::debug!(len = payload.len(), "keyboard-mode QR payload");
                            counters.delivered();
                            if tx.send(ReaderEvent::Code(payload)).await.is_err() {
                                return;
                            }
                        }
                        Some(Framed::Dropped(reason)) => {
                            tracing::debug!(reason = reason.as_str(), "keyboard-mode line dropped");
                            counters.dropped(reason);
                        }
                        None => {}
                    }
                }
                Ok(Ok(_)) => {}
            }
        };
        if let Some(reason) = decoder.cut() {
            counters.dropped(reason);
        }
        tracing::warn!(path = %path.display(), error = %lost, "keyboard-mode QR reader lost");
        reported_outage = true;
        let error = CodeReaderError::Lost {
            path: path.clone(),
            source: lost,
        };
        if tx.send(ReaderEvent::Disconnected(error)).await.is_err() {
            return;
        }
        drop(stream);
        tokio::time::sleep(config.reconnect_every.min(Duration::from_millis(200))).await;
    }
}
