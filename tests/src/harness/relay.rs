//! A small TCP relay that makes a link worse on purpose: it delays every byte in each direction
//! (a mobile network's latency, which the kernel's tbf qdisc cannot add: the netem qdisc is not
//! in these machines' kernel), and resets every connection through it on a schedule (the drops
//! of a 3G/4G link), with a TCP RST on both sides so neither end takes the cut for a clean end.
//!
//! It runs on its own thread with its own tokio runtime, optionally inside a network namespace
//! (see [`super::netns`]); every loop stops when the relay is dropped.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How the relay spoils the link.
#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    /// Added to every byte, in each direction.
    pub delay: Duration,
    /// Every connection open at each multiple of this is reset (`None`: never).
    pub reset_every: Option<Duration>,
}

/// A running relay; dropping it stops it and closes its connections.
pub struct Relay {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    resets: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay listening on `listen` (port 0: any) that forwards to `upstream`, inside
    /// the network namespace `netns` (a name under `/run/netns`) if given.
    pub fn start(
        netns: Option<&str>,
        listen: SocketAddr,
        upstream: SocketAddr,
        settings: RelaySettings,
    ) -> anyhow::Result<Self> {
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let resets = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (r, c) = (resets.clone(), connections.clone());
        let netns = netns.map(str::to_owned);
        let thread = std::thread::spawn(move || {
            let started = (|| -> anyhow::Result<_> {
                if let Some(ns) = &netns {
                    super::netns::enter(ns)?;
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let listener = rt.block_on(TcpListener::bind(listen))?;
                Ok((rt, listener))
            })();
            let (rt, listener) = match started {
                Ok(v) => v,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(listener.local_addr().map_err(Into::into));
            rt.block_on(serve(listener, upstream, settings, stop_rx, r, c));
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the relay thread did not start")??;
        Ok(Self {
            addr,
            stop,
            resets,
            connections,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many resets it made (each resetting every connection open then).
    pub fn resets(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: TcpListener,
    upstream: SocketAddr,
    settings: RelaySettings,
    mut stop: watch::Receiver<bool>,
    resets: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
) {
    // The generation of connections: each reset bumps it, and every connection of an older
    // generation is reset.
    let (generation, _) = watch::channel(0u64);
    let period = settings.reset_every.unwrap_or(Duration::from_secs(86_400));
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick(), if settings.reset_every.is_some() => {
                resets.fetch_add(1, Ordering::Relaxed);
                generation.send_modify(|g| *g += 1);
            }
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                let reset = generation.subscribe();
                let stop = stop.clone();
                tasks.spawn(connection(client, upstream, settings.delay, reset, stop));
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
}

/// Relays one connection until either end closes, a reset comes or the relay stops.
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    delay: Duration,
    mut reset: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(Ok(server)) =
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(upstream)).await
    else {
        linger_zero(client.as_raw_fd());
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The descriptors, to set SO_LINGER 0 on a reset (an RST instead of a FIN at close). They
    // stay open while `work` is pending: each stream keeps a half in the pipe still running.
    let (c_fd, s_fd) = (client.as_raw_fd(), server.as_raw_fd());
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let work = async { tokio::try_join!(pipe(cr, sw, delay), pipe(sr, cw, delay)) };
    tokio::pin!(work);
    let cut = tokio::select! {
        _ = &mut work => false,
        _ = reset.changed() => true,
        _ = stop.changed() => false,
    };
    if cut {
        linger_zero(c_fd);
        linger_zero(s_fd);
    }
}

/// Makes the socket's close send an RST (SO_LINGER with a zero timeout).
fn linger_zero(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket (see the caller) and `linger` outlives the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Copies `from` to `to`, each piece `delay` after it was read. The line holds a few pieces at
/// most: like a network path, not a buffer that would hide the link's speed from the sender.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(8);
    let read = async move {
        loop {
            let mut buf = vec![0u8; 8192];
            let n = from.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            buf.truncate(n);
            if tx.send((Instant::now() + delay, buf)).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async move {
        while let Some((due, buf)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            to.write_all(&buf).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}
