//! Logging for every motcua binary (kioskd, kioskctl, gateway): to journald when systemd
//! started the program with its journal on stderr (`JOURNAL_STREAM`), else to stderr, with
//! colour only on a terminal. One crate so the kiosk and the gateway, which share no other
//! code of this kind, log alike. Personal data (names, ID numbers, addresses) is never passed
//! to a log call anywhere.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` overrides the `default` filter.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            registry.with(journald).init();
            return;
        }
    }
    registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .init();
}

/// The last lines kioskd logged, kept in memory for a technician who asks for them remotely
/// (`send_log_tail`): bounded, so a chatty day never grows it, and made of the same lines the
/// journal gets (nothing secret is ever logged, so nothing secret is kept). Cheap to clone.
#[derive(Clone)]
pub struct LogTail {
    inner: std::sync::Arc<std::sync::Mutex<TailLines>>,
}

struct TailLines {
    lines: std::collections::VecDeque<String>,
    partial: String,
    capacity: usize,
}

impl LogTail {
    /// A tail keeping the last `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: std::sync::Arc::new(std::sync::Mutex::new(TailLines {
                lines: std::collections::VecDeque::with_capacity(capacity),
                partial: String::new(),
                capacity: capacity.max(1),
            })),
        }
    }

    /// The last `n` lines, oldest first, each ending with a newline.
    pub fn tail(&self, n: usize) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let skip = inner.lines.len().saturating_sub(n);
        inner
            .lines
            .iter()
            .skip(skip)
            .fold(String::new(), |mut s, l| {
                s.push_str(l);
                s.push('\n');
                s
            })
    }

    fn push(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = inner.partial.find('\n') {
            let line: String = inner.partial.drain(..=end).collect();
            if inner.lines.len() == inner.capacity {
                inner.lines.pop_front();
            }
            inner
                .lines
                .push_back(line.trim_end_matches('\n').to_owned());
        }
    }
}

/// What the fmt layer writes each event's line into.
pub struct TailWriter(LogTail);

impl std::io::Write for TailWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogTail {
    type Writer = TailWriter;

    fn make_writer(&'a self) -> Self::Writer {
        TailWriter(self.clone())
    }
}

/// [`init`], also keeping the last `lines` lines in the returned [`LogTail`].
pub fn init_with_tail(default: &str, lines: usize) -> LogTail {
    let tail = LogTail::new(lines);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let kept = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(tail.clone());
    let registry = tracing_subscriber::registry().with(filter).with(kept);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            registry.with(journald).init();
            return tail;
        }
    }
    registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .init();
    tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn the_tail_keeps_the_last_lines_only() {
        let tail = LogTail::new(3);
        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&tail);
        w.write_all(b"one\ntwo\nthr").unwrap();
        w.write_all(b"ee\nfour\nfive\n").unwrap();
        assert_eq!(tail.tail(10), "three\nfour\nfive\n");
        assert_eq!(tail.tail(1), "five\n");
    }
}
