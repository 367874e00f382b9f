//! A receipt printer in software: it speaks ESC/POS over TCP and a pseudo-terminal, answers
//! `DLE EOT` with real status bytes, and writes each cut slip as a PNG.
//!
//! It exists so that the whole printing path — layout, encoder, transport, status handling — can
//! be tested and demonstrated with real bytes over real sockets and ttys, without hardware. Like
//! a real printer, while it is out of paper, has its cover open or is offline it still answers
//! status queries but prints nothing: a slip received then never becomes a PNG.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::bitmap::Bitmap;
use crate::error::PrinterError;
use crate::escpos::{append_band, Command, Decoder};
use crate::status::Status;

/// The printer's condition, changeable while it runs (tests, CLI flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Out of paper.
    pub paper_end: bool,
    /// Paper nearly used up (prints, but says so).
    pub paper_near_end: bool,
    /// Cover open.
    pub cover_open: bool,
    /// Offline (e.g. the feed button held).
    pub offline: bool,
    /// Slow: this delay per KiB received (an old printer on a long serial line).
    pub slow_per_kib: Option<Duration>,
    /// Hung firmware: reads and discards everything, answers nothing.
    pub unresponsive: bool,
}

impl Conditions {
    /// The status a real printer in this condition reports.
    pub fn status(&self) -> Status {
        Status {
            offline: self.offline,
            cover_open: self.cover_open,
            paper_end: self.paper_end,
            paper_near_end: self.paper_near_end,
            ..Status::default()
        }
    }

    fn prints(&self) -> bool {
        self.status().is_ready()
    }
}

/// Where the emulator listens and writes.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Head width in dots (384 for 58 mm, 576 for 80 mm).
    pub dots: u32,
    /// Folder for the PNGs (created if missing).
    pub output_dir: PathBuf,
    /// TCP address to listen on (port 0 picks a free one), or none.
    pub tcp: Option<SocketAddr>,
    /// Also open a pseudo-terminal (its slave path is [`Emulator::pty_path`]).
    pub pty: bool,
    /// Initial condition.
    pub conditions: Conditions,
}

impl EmulatorConfig {
    /// An 80 mm printer on a free local TCP port and a pseudo-terminal.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        EmulatorConfig {
            dots: 576,
            output_dir: output_dir.into(),
            tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            pty: true,
            conditions: Conditions::default(),
        }
    }
}

struct Shared {
    conditions: Mutex<Conditions>,
    /// Bytes still to receive before the paper runs out ([`Emulator::set_paper_end_after`]).
    paper_left: Mutex<Option<u64>>,
    pages: Mutex<Vec<PathBuf>>,
    seq: AtomicU32,
    stop: AtomicBool,
    dots: u32,
    output_dir: PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking session thread must not take the emulator down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running emulator; stops its threads when dropped.
pub struct Emulator {
    shared: Arc<Shared>,
    tcp_addr: Option<SocketAddr>,
    pty_path: Option<String>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("tcp", &self.tcp_addr)
            .field("pty", &self.pty_path)
            .field("output_dir", &self.shared.output_dir)
            .finish()
    }
}

impl Emulator {
    /// Starts listening.
    pub fn start(config: EmulatorConfig) -> Result<Self, PrinterError> {
        std::fs::create_dir_all(&config.output_dir).map_err(|source| PrinterError::Output {
            path: config.output_dir.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            conditions: Mutex::new(config.conditions),
            paper_left: Mutex::new(None),
            pages: Mutex::default(),
            seq: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            dots: config.dots,
            output_dir: config.output_dir,
        });
        let mut threads = Vec::new();
        let mut tcp_addr = None;
        if let Some(addr) = config.tcp {
            let listen_err = |source| PrinterError::Listen {
                what: format!("tcp {addr}"),
                source,
            };
            let listener = TcpListener::bind(addr).map_err(listen_err)?;
            listener.set_nonblocking(true).map_err(listen_err)?;
            tcp_addr = Some(listener.local_addr().map_err(listen_err)?);
            let sh = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || accept_loop(listener, sh)));
        }
        let mut pty_path = None;
        if config.pty {
            let listen_err = |e: serialport::Error| PrinterError::Listen {
                what: "pseudo-terminal".into(),
                source: e.into(),
            };
            let (mut master, slave) = serialport::TTYPort::pair().map_err(listen_err)?;
            let name = serialport::SerialPort::name(&slave).unwrap_or_default();
            // Close our slave end: the client opens the path itself, as it would a real port.
            drop(slave);
            serialport::SerialPort::set_timeout(&mut master, Duration::from_millis(100))
                .map_err(listen_err)?;
            pty_path = Some(name);
            let sh = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || pty_loop(master, sh)));
        }
        Ok(Emulator {
            shared,
            tcp_addr,
            pty_path,
            threads,
        })
    }

    /// The TCP address actually bound.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The pseudo-terminal's slave path (e.g. `/dev/pts/3`), to open as a serial port.
    pub fn pty_path(&self) -> Option<&str> {
        self.pty_path.as_deref()
    }

    /// The current condition.
    pub fn conditions(&self) -> Conditions {
        *lock(&self.shared.conditions)
    }

    /// Changes the condition.
    pub fn set_conditions(&self, c: Conditions) {
        *lock(&self.shared.conditions) = c;
    }

    fn update(&self, f: impl FnOnce(&mut Conditions)) {
        f(&mut lock(&self.shared.conditions));
    }

    /// Runs out of paper (or gets a new roll).
    pub fn set_paper_end(&self, on: bool) {
        self.update(|c| c.paper_end = on);
    }

    /// Runs out of paper once `bytes` more bytes have been received (over any connection), so
    /// a test can make the roll end in the middle of a slip without racing a timer; `None`
    /// cancels it. The chunk that crosses the limit is already received without paper.
    pub fn set_paper_end_after(&self, bytes: Option<u64>) {
        *lock(&self.shared.paper_left) = bytes;
    }

    /// Paper nearly used up.
    pub fn set_paper_near_end(&self, on: bool) {
        self.update(|c| c.paper_near_end = on);
    }

    /// Opens (or closes) the cover.
    pub fn set_cover_open(&self, on: bool) {
        self.update(|c| c.cover_open = on);
    }

    /// Goes offline (or back online).
    pub fn set_offline(&self, on: bool) {
        self.update(|c| c.offline = on);
    }

    /// Becomes slow: `Some(delay)` per KiB received.
    pub fn set_slow(&self, per_kib: Option<Duration>) {
        self.update(|c| c.slow_per_kib = per_kib);
    }

    /// Stops answering (reads and discards everything).
    pub fn set_unresponsive(&self, on: bool) {
        self.update(|c| c.unresponsive = on);
    }

    /// PNGs written so far, in order.
    pub fn pages(&self) -> Vec<PathBuf> {
        lock(&self.shared.pages).clone()
    }

    /// Waits until at least `n` PNGs exist (or the timeout passes); returns them.
    pub fn wait_for_pages(&self, n: usize, timeout: Duration) -> Vec<PathBuf> {
        let until = Instant::now() + timeout;
        loop {
            let p = self.pages();
            if p.len() >= n || Instant::now() >= until {
                return p;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The per-connection state: decoder and the slip being printed.
struct Session {
    decoder: Decoder,
    page: Bitmap,
    /// Something was dropped because the printer could not print: the slip is not delivered.
    spoiled: bool,
}

impl Session {
    fn new(dots: u32) -> Self {
        Session {
            decoder: Decoder::new(),
            page: Bitmap::new(dots, 0),
            spoiled: false,
        }
    }

    fn receive(&mut self, sh: &Shared, data: &[u8], reply: &mut dyn FnMut(&[u8])) {
        let c = *lock(&sh.conditions);
        if c.unresponsive {
            return;
        }
        if let Some(d) = c.slow_per_kib {
            std::thread::sleep(d * data.len().div_ceil(1024) as u32);
        }
        {
            let mut left = lock(&sh.paper_left);
            if let Some(n) = *left {
                let got = data.len() as u64;
                if got >= n {
                    *left = None;
                    lock(&sh.conditions).paper_end = true;
                    tracing::info!("emulator: the paper ran out");
                } else {
                    *left = Some(n - got);
                }
            }
        }
        self.decoder.push(data);
        while let Some(cmd) = self.decoder.next_command() {
            // Re-read: a test may change the condition while a slip is being received.
            let c = *lock(&sh.conditions);
            match cmd {
                Command::StatusQuery(n @ 1..=4) => {
                    reply(&[c.status().to_bytes()[usize::from(n - 1)]])
                }
                Command::Raster { width_bytes, rows } => {
                    if c.prints() {
                        append_band(&mut self.page, width_bytes, &rows);
                    } else {
                        self.spoiled = true;
                    }
                }
                Command::Feed(n) => {
                    if c.prints() {
                        self.page.ensure_height(self.page.height() + n);
                    } else {
                        self.spoiled = true;
                    }
                }
                Command::Cut => {
                    if !c.prints() {
                        self.spoiled = true;
                    }
                    let page = std::mem::replace(&mut self.page, Bitmap::new(sh.dots, 0));
                    if self.spoiled {
                        tracing::info!("emulator: slip dropped (printer could not print)");
                    } else if page.black_dots() > 0 {
                        write_page(sh, &page);
                    }
                    self.spoiled = false;
                }
                _ => {}
            }
        }
    }
}

fn write_page(sh: &Shared, page: &Bitmap) {
    let n = sh.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let path = sh.output_dir.join(format!("slip-{n:04}.png"));
    match page.write_png(&path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "emulator: slip printed");
            lock(&sh.pages).push(path);
        }
        Err(e) => tracing::error!("{e}"),
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let sh = Arc::clone(&sh);
                std::thread::spawn(move || tcp_session(stream, sh));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                tracing::warn!("emulator: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn tcp_session(mut stream: TcpStream, sh: Arc<Shared>) {
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .is_err()
    {
        return;
    }
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut session = Session::new(sh.dots);
    let mut buf = [0u8; 1024];
    while !sh.stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => session.receive(&sh, &buf[..n], &mut |b| {
                let _ = writer.write_all(b);
            }),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

fn pty_loop(mut master: serialport::TTYPort, sh: Arc<Shared>) {
    let mut session = Session::new(sh.dots);
    let mut buf = [0u8; 1024];
    let mut replies = Vec::new();
    while !sh.stop.load(Ordering::SeqCst) {
        match master.read(&mut buf) {
            Ok(0) => std::thread::sleep(Duration::from_millis(20)),
            Ok(n) => {
                session.receive(&sh, &buf[..n], &mut |b| replies.extend_from_slice(b));
                if !replies.is_empty() {
                    let _ = master.write_all(&replies);
                    replies.clear();
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // EIO: no one has the slave open right now; wait for the next client.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Reads back a PNG written by the emulator (1-bit or 8-bit grayscale) as a bitmap.
pub fn read_png(path: &Path) -> Result<Bitmap, PrinterError> {
    let err = |e: String| PrinterError::Output {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    };
    let file = std::fs::File::open(path).map_err(|source| PrinterError::Output {
        path: path.to_owned(),
        source,
    })?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(|e| err(e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| err("image too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| err(e.to_string()))?;
    let channels = info.color_type.samples();
    let mut bm = Bitmap::new(info.width, info.height);
    for y in 0..info.height {
        for x in 0..info.width {
            let i = (y as usize * info.line_size)
                + x as usize * channels * usize::from(info.bit_depth as u8 / 8).max(1);
            if buf[i] < 128 {
                bm.set(x, y);
            }
        }
    }
    Ok(bm)
}
