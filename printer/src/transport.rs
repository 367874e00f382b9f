//! Getting bytes to a printer and its status back: the [`Printer`] trait and its ESC/POS driver
//! over TCP 9100, a serial port or a USB printer device file.
//!
//! Every operation has a timeout, because a kiosk must tell the citizen something within seconds
//! even when the printer hangs. A failed connection is dropped and reopened on the next call, so
//! a printer that was switched off and on again works for the next slip without a restart.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{JobStage, PrinterError};
use crate::escpos::status_queries;
use crate::layout::Job;
use crate::status::Status;

/// A receipt printer as the kiosk sees it: print a job, ask for status.
///
/// Implementations check the status before sending (so a job is not lost into a printer that
/// cannot print) and after (so a fault mid-slip is reported). On error the caller still holds the
/// [`Job`] and may resend it once the technician fixed the cause.
pub trait Printer: Send {
    /// The device, as shown in errors and logs (`tcp://…`, `serial:…`, `usb:…`).
    fn device(&self) -> &str;

    /// Queries the real-time status.
    fn status(&mut self) -> Result<Status, PrinterError>;

    /// Prints a job; returns the status after printing (which may carry a paper-near-end
    /// warning for the technician).
    fn print(&mut self, job: &Job) -> Result<Status, PrinterError>;
}

/// How the printer is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A network printer, `host:port` (port 9100 by convention).
    Tcp(String),
    /// A serial port (or a USB-serial adapter), e.g. `/dev/ttyUSB0`.
    Serial {
        /// Device path.
        path: PathBuf,
        /// Baud rate, e.g. 115200 or 9600 (printer DIP switches).
        baud: u32,
    },
    /// The kernel's USB printer class device, e.g. `/dev/usb/lp0`, used as a file.
    UsbLp(PathBuf),
}

impl Transport {
    fn describe(&self) -> String {
        match self {
            Transport::Tcp(a) => format!("tcp://{a}"),
            Transport::Serial { path, baud } => format!("serial:{}@{baud}", path.display()),
            Transport::UsbLp(p) => format!("usb:{}", p.display()),
        }
    }
}

/// Timeouts of each step; the defaults suit a kiosk (a citizen waits, a slip is ~100 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting / opening the device.
    pub connect: Duration,
    /// Longest time without any byte accepted while sending.
    pub write: Duration,
    /// Waiting for the answer to a status query.
    pub read: Duration,
    /// Sending a whole slip: a printer that trickles data in slower than this is treated as
    /// hung, because a citizen is waiting at the kiosk.
    pub job: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            write: Duration::from_secs(10),
            read: Duration::from_secs(3),
            job: Duration::from_secs(60),
        }
    }
}

/// A byte channel to the printer.
trait Link: Send {
    fn send(&mut self, data: &[u8]) -> io::Result<()>;
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<()>;
    /// Drops answers nobody waits for any more (late replies to a timed-out query).
    fn discard_input(&mut self) -> io::Result<()>;
}

struct TcpLink(TcpStream);

impl Link for TcpLink {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)?;
        self.0.flush()
    }
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }
    fn discard_input(&mut self) -> io::Result<()> {
        self.0.set_nonblocking(true)?;
        let mut scratch = [0u8; 256];
        let result = loop {
            match self.0.read(&mut scratch) {
                Ok(0) => {
                    break Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "connection closed by the printer",
                    ))
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.0.set_nonblocking(false)?;
        result
    }
}

struct SerialLink {
    port: serialport::TTYPort,
    timeouts: Timeouts,
}

impl Link for SerialLink {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        use serialport::SerialPort;
        self.port
            .set_timeout(self.timeouts.write)
            .map_err(io::Error::from)?;
        self.port.write_all(data)?;
        self.port.flush()
    }
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<()> {
        use serialport::SerialPort;
        self.port
            .set_timeout(self.timeouts.read)
            .map_err(io::Error::from)?;
        self.port.read_exact(buf)
    }
    fn discard_input(&mut self) -> io::Result<()> {
        use serialport::SerialPort;
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(io::Error::from)
    }
}

impl Drop for SerialLink {
    fn drop(&mut self) {
        // A tty's close waits (up to 30 s) for unsent output; after a failure that output is a
        // slip we gave up on, so discard it and close at once.
        use serialport::SerialPort;
        let _ = self.port.clear(serialport::ClearBuffer::Output);
    }
}

/// A device file opened non-blocking, with `poll(2)` for the timeouts `File` lacks.
struct FileLink {
    file: std::fs::File,
    timeouts: Timeouts,
}

impl FileLink {
    fn wait(&self, events: libc::c_short, until: Instant) -> io::Result<()> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n > 0 {
                return Ok(());
            }
        }
    }
}

impl Drop for FileLink {
    fn drop(&mut self) {
        // As for serial ports: do not let close() wait for output we gave up on. Harmless
        // (ENOTTY) on a USB printer device.
        // SAFETY: tcflush on a file descriptor we own and that is still open.
        unsafe {
            libc::tcflush(self.file.as_raw_fd(), libc::TCOFLUSH);
        }
    }
}

impl Link for FileLink {
    fn send(&mut self, mut data: &[u8]) -> io::Result<()> {
        let mut deadline = Instant::now() + self.timeouts.write;
        while !data.is_empty() {
            match self.file.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    data = &data[n..];
                    deadline = Instant::now() + self.timeouts.write;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(libc::POLLOUT, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let deadline = Instant::now() + self.timeouts.read;
        let mut got = 0;
        while got < buf.len() {
            match self.file.read(&mut buf[got..]) {
                Ok(0) => self.wait(libc::POLLIN, deadline).and_then(|()| {
                    // usblp returns 0 while the printer has nothing to say: back off a little.
                    std::thread::sleep(Duration::from_millis(5));
                    if Instant::now() >= deadline {
                        Err(io::ErrorKind::TimedOut.into())
                    } else {
                        Ok(())
                    }
                })?,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(libc::POLLIN, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    fn discard_input(&mut self) -> io::Result<()> {
        let mut scratch = [0u8; 256];
        loop {
            match self.file.read(&mut scratch) {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Bytes written between two checks of the whole-job deadline.
const SEND_CHUNK: usize = 2048;

/// The ESC/POS driver: one [`Transport`], reconnecting on the next call after any failure.
pub struct EscPosPrinter {
    transport: Transport,
    timeouts: Timeouts,
    device: String,
    link: Option<Box<dyn Link>>,
}

impl std::fmt::Debug for EscPosPrinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscPosPrinter")
            .field("device", &self.device)
            .field("connected", &self.link.is_some())
            .finish()
    }
}

impl EscPosPrinter {
    /// A driver; nothing is opened until the first call, so a kiosk starts even with the
    /// printer off.
    pub fn new(transport: Transport, timeouts: Timeouts) -> Self {
        EscPosPrinter {
            device: transport.describe(),
            transport,
            timeouts,
            link: None,
        }
    }

    /// Network printer at `addr` (`host:port`).
    pub fn tcp(addr: impl Into<String>) -> Self {
        Self::new(Transport::Tcp(addr.into()), Timeouts::default())
    }

    /// Serial printer.
    pub fn serial(path: impl Into<PathBuf>, baud: u32) -> Self {
        Self::new(
            Transport::Serial {
                path: path.into(),
                baud,
            },
            Timeouts::default(),
        )
    }

    /// USB printer device file (`/dev/usb/lp0`).
    pub fn usb_lp(path: impl Into<PathBuf>) -> Self {
        Self::new(Transport::UsbLp(path.into()), Timeouts::default())
    }

    /// True while a connection is open (it is dropped after any failure).
    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    fn open(&self) -> io::Result<Box<dyn Link>> {
        let t = self.timeouts;
        match &self.transport {
            Transport::Tcp(addr) => {
                let mut last =
                    io::Error::new(io::ErrorKind::NotFound, "address resolves to nothing");
                for a in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&a, t.connect) {
                        Ok(s) => {
                            s.set_nodelay(true)?;
                            s.set_read_timeout(Some(t.read))?;
                            s.set_write_timeout(Some(t.write))?;
                            return Ok(Box::new(TcpLink(s)));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            Transport::Serial { path, baud } => {
                let port = serialport::new(path.to_string_lossy(), *baud)
                    .timeout(t.read)
                    .open_native()
                    .map_err(io::Error::from)?;
                Ok(Box::new(SerialLink { port, timeouts: t }))
            }
            Transport::UsbLp(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(path)?;
                Ok(Box::new(FileLink { file, timeouts: t }))
            }
        }
    }

    fn link(&mut self) -> Result<&mut Box<dyn Link>, PrinterError> {
        if self.link.is_none() {
            let link = self.open().map_err(|source| match source.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => PrinterError::Timeout {
                    device: self.device.clone(),
                    what: "connecting",
                    limit: self.timeouts.connect,
                },
                _ => PrinterError::Connect {
                    device: self.device.clone(),
                    source,
                },
            })?;
            tracing::debug!(device = %self.device, "printer connected");
            self.link = Some(link);
        }
        // Just set above when it was empty.
        self.link.as_mut().ok_or_else(|| PrinterError::Connect {
            device: self.device.clone(),
            source: io::ErrorKind::NotConnected.into(),
        })
    }

    fn io_error(&mut self, e: io::Error, writing: bool, what: &'static str) -> PrinterError {
        // Whatever happened, the connection is suspect: reopen it next time.
        self.link = None;
        let device = self.device.clone();
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => PrinterError::Timeout {
                device,
                what,
                limit: if writing {
                    self.timeouts.write
                } else {
                    self.timeouts.read
                },
            },
            _ if writing => PrinterError::Write { device, source: e },
            _ => PrinterError::Read { device, source: e },
        }
    }

    fn query_status(&mut self, what: &'static str) -> Result<Status, PrinterError> {
        let link = self.link()?;
        let r = link.discard_input();
        if let Err(e) = r {
            return Err(self.io_error(e, false, what));
        }
        let link = self.link()?;
        if let Err(e) = link.send(&status_queries()) {
            return Err(self.io_error(e, true, what));
        }
        let mut b = [0u8; 4];
        let link = self.link()?;
        if let Err(e) = link.receive(&mut b) {
            return Err(self.io_error(e, false, what));
        }
        Status::from_answer(&b).map_err(|(query, byte)| {
            self.link = None;
            PrinterError::BadStatus {
                device: self.device.clone(),
                query,
                byte,
            }
        })
    }
}

impl Printer for EscPosPrinter {
    fn device(&self) -> &str {
        &self.device
    }

    fn status(&mut self) -> Result<Status, PrinterError> {
        self.query_status("reading its status")
    }

    fn print(&mut self, job: &Job) -> Result<Status, PrinterError> {
        let before = self.query_status("reading its status before printing")?;
        if let Some(fault) = before.fault() {
            tracing::warn!(device = %self.device, job = %job.label, %fault, "not printing");
            return Err(PrinterError::Fault {
                device: self.device.clone(),
                fault,
                stage: JobStage::BeforeSending,
            });
        }
        let deadline = Instant::now() + self.timeouts.job;
        for chunk in job.bytes.chunks(SEND_CHUNK) {
            if Instant::now() > deadline {
                self.link = None;
                return Err(PrinterError::Timeout {
                    device: self.device.clone(),
                    what: "sending the slip (the printer takes data too slowly)",
                    limit: self.timeouts.job,
                });
            }
            let link = self.link()?;
            if let Err(e) = link.send(chunk) {
                return Err(self.io_error(e, true, "sending the slip"));
            }
        }
        let after = self.query_status("reading its status after sending the slip")?;
        if let Some(fault) = after.fault() {
            tracing::warn!(device = %self.device, job = %job.label, %fault, "fault after printing");
            return Err(PrinterError::Fault {
                device: self.device.clone(),
                fault,
                stage: JobStage::AfterSending,
            });
        }
        Ok(after)
    }
}
