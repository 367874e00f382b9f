//! Code readers in USB-COM (CDC ACM) or RS-232 mode.
//!
//! This is the recommended way to connect a QR reader to a kiosk: the reader sends the exact
//! bytes of the code, so Vietnamese UTF-8 (a CCCD's name and address) arrives intact, and the
//! reader cannot type into the UI. Set the reader to "USB COM port emulation" / "USB CDC", UTF-8
//! (or "no conversion") output, suffix CR, and configure the path by id
//! (`/dev/serial/by-id/usb-…`), which survives re-plugging into another port.
//!
//! On Debian, ModemManager probes new CDC ACM devices by writing AT commands to them for several
//! seconds; either remove it or add a udev rule with `ENV{ID_MM_DEVICE_IGNORE}="1"` for the
//! reader. The port is opened exclusively so that a second program cannot steal bytes.
//!
//! A reader thread does the blocking I/O (serial ports have no portable async API) and hands
//! payloads to async code through a bounded tokio channel; [`SerialReader::next`] awaits them.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::classify::MAX_PAYLOAD_BYTES;
use super::error::CodeReaderError;
use super::line::{Framed, LineFramer, Terminator};
use super::reader::{Counters, ReaderEvent, ReaderStats};

/// Settings of one serial code reader.
#[derive(Debug, Clone)]
pub struct SerialConfig {
    /// Device path, e.g. `/dev/serial/by-id/usb-Newland_…-if00` or `/dev/ttyACM0`.
    pub path: PathBuf,
    /// Baud rate; ignored by USB CDC devices, must match the reader for real RS-232.
    pub baud_rate: u32,
    /// The suffix set in the reader's configuration.
    pub terminator: Terminator,
    /// Longest payload accepted, in bytes; longer lines are dropped.
    pub max_len: usize,
    /// A line with no byte for this long is taken as cut off and dropped. A reader sends a
    /// code in one burst, so a long silence mid-line means bytes were lost.
    pub gap: Duration,
    /// How often to try opening the device again while it is absent.
    pub reconnect_every: Duration,
    /// Capacity of the channel to the application; when full, the reader thread waits (the
    /// device's own buffer then holds further bytes).
    pub channel_capacity: usize,
}

impl SerialConfig {
    /// Defaults that suit the readers sold for kiosks: 9600 baud, CR suffix,
    /// [`MAX_PAYLOAD_BYTES`] limit, 300 ms gap (a 9600 baud reader sends about 1 byte per ms),
    /// retry every second.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            baud_rate: 9600,
            terminator: Terminator::Cr,
            max_len: MAX_PAYLOAD_BYTES,
            gap: Duration::from_millis(300),
            reconnect_every: Duration::from_secs(1),
            channel_capacity: 64,
        }
    }

    fn validate(&self) -> Result<(), CodeReaderError> {
        let bad = |what: &str| {
            Err(CodeReaderError::Config {
                path: self.path.clone(),
                what: what.to_owned(),
            })
        };
        if self.max_len == 0 {
            return bad("the maximum payload length must be at least 1 byte");
        }
        if self.gap < Duration::from_millis(2) {
            return bad("the gap that cuts off a line must be at least 2 ms");
        }
        if self.channel_capacity == 0 {
            return bad("the channel capacity must be at least 1");
        }
        if let Terminator::Byte(b) = self.terminator {
            if b >= 0x80 {
                return bad("the terminator byte must be ASCII (below 0x80), or UTF-8 breaks");
            }
        }
        Ok(())
    }
}

/// A running serial code reader: a background thread that opens the device, frames lines,
/// reconnects after an unplug, and sends [`ReaderEvent`]s.
///
/// Dropping it stops the thread within a fraction of [`SerialConfig::gap`].
#[derive(Debug)]
pub struct SerialReader {
    rx: mpsc::Receiver<ReaderEvent>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SerialReader {
    /// Starts reading. The device need not exist yet: the reader waits for it and reports
    /// [`ReaderEvent::Connected`] when it opens. Fails only on unusable settings.
    pub fn spawn(config: SerialConfig) -> Result<Self, CodeReaderError> {
        config.validate()?;
        let path = config.path.clone();
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            config,
            tx,
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name("qr-serial".into())
            .spawn(move || worker.run())
            .map_err(|source| CodeReaderError::Open { path, source })?;
        Ok(Self {
            rx,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// The next event; `None` once the reader has stopped.
    pub async fn next(&mut self) -> Option<ReaderEvent> {
        self.rx.recv().await
    }

    /// Counters since start.
    pub fn stats(&self) -> ReaderStats {
        self.counters.snapshot()
    }

    /// Stops the thread and waits for it (at most about one poll interval, a few tens of ms).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SerialReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    config: SerialConfig,
    tx: mpsc::Sender<ReaderEvent>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

/// Why the read loop ended.
enum Ended {
    /// Stop requested or nobody listens any more.
    Stop,
    /// Device lost; try to reopen.
    Lost(io::Error),
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.tx.is_closed()
    }

    /// Poll interval of reads: short enough to notice a gap and a stop request quickly.
    fn poll(&self) -> Duration {
        (self.config.gap / 2).clamp(Duration::from_millis(1), Duration::from_millis(50))
    }

    fn run(self) {
        let path = self.config.path.clone();
        let mut framer = LineFramer::new(self.config.terminator, self.config.max_len);
        let mut reported_outage = false;
        let mut ever_connected = false;
        while !self.stopping() {
            let port = serialport::new(path.to_string_lossy(), self.config.baud_rate)
                .timeout(self.poll())
                .open_native();
            let mut port = match port {
                Ok(p) => p,
                Err(e) => {
                    if !reported_outage {
                        reported_outage = true;
                        tracing::warn!(path = %path.display(), error = %e, "QR reader not available");
                        let error = CodeReaderError::Open {
                            path: path.clone(),
                            source: e.into(),
                        };
                        if self
                            .tx
                            .blocking_send(ReaderEvent::Disconnected(error))
                            .is_err()
                        {
                            return;
                        }
                    }
                    self.sleep(self.config.reconnect_every);
                    continue;
                }
            };
            // Bytes queued before we opened belong to nobody we can trust (a half code).
            let _ = serialport::SerialPort::clear(&port, serialport::ClearBuffer::Input);
            if ever_connected {
                self.counters.reconnected();
            }
            ever_connected = true;
            tracing::info!(path = %path.display(), "QR reader connected");
            if self.tx.blocking_send(ReaderEvent::Connected).is_err() {
                return;
            }
            match self.read_loop(&mut port, &mut framer) {
                Ended::Stop => return,
                Ended::Lost(source) => {
                    if let Some(reason) = framer.cut() {
                        self.counters.dropped(reason);
                    }
                    tracing::warn!(path = %path.display(), error = %source, "QR reader lost");
                    reported_outage = true;
                    let error = CodeReaderError::Lost {
                        path: path.clone(),
                        source,
                    };
                    if self
                        .tx
                        .blocking_send(ReaderEvent::Disconnected(error))
                        .is_err()
                    {
                        return;
                    }
                    drop(port);
                    self.sleep(self.config.reconnect_every.min(Duration::from_millis(200)));
                }
            }
        }
    }

    fn read_loop(&self, port: &mut serialport::TTYPort, framer: &mut LineFramer) -> Ended {
        let mut buf = [0u8; 512];
        let mut last_byte = Instant::now();
        loop {
            if self.stopping() {
                return Ended::Stop;
            }
            match port.read(&mut buf) {
                Ok(0) => {
                    return Ended::Lost(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of file on the device",
                    ))
                }
                Ok(n) => {
                    last_byte = Instant::now();
                    let mut closed = false;
                    framer.push(&buf[..n], |f| {
                        if !closed && !self.deliver(f) {
                            closed = true;
                        }
                    });
                    if closed {
                        return Ended::Stop;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if framer.has_partial() && last_byte.elapsed() >= self.config.gap {
                        if let Some(reason) = framer.cut() {
                            tracing::debug!(reason = reason.as_str(), "QR reader line dropped");
                            self.counters.dropped(reason);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ended::Lost(e),
            }
        }
    }

    /// Sends a framed line on; returns false when nobody listens any more.
    fn deliver(&self, framed: Framed) -> bool {
        match framed {
            Framed::Line(payload) => {
                tracing::debug!(len = payload.len(), "QR reader payload");
                self.counters.delivered();
                self.tx.blocking_send(ReaderEvent::Code(payload)).is_ok()
            }
            Framed::Dropped(reason) => {
                tracing::debug!(reason = reason.as_str(), "QR reader line dropped");
                self.counters.dropped(reason);
                true
            }
        }
    }

    /// Sleeps up to `d`, waking early on stop.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping() {
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}
