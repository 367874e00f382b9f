//! The accept loop: TCP, then the TLS handshake, then HTTP/1.1 with hyper, each request
//! carrying the connection's [`Peer`]. (axum's own `serve` cannot do TLS.)
//!
//! Every connection of a client certificate is registered under its serial in
//! [`Connections`], so revoking a certificate closes its connections at once: an upload in
//! progress stops mid-body instead of running to its end. The registration is a guard
//! ([`Registration`]) that removes itself when dropped, so a connection task that panics or is
//! aborted (at shutdown) leaves no entry behind.
//!
//! At most `max_connections` connections are open at once (a semaphore): when all permits are
//! taken the loop stops accepting until one is returned, so further peers wait in the kernel's
//! listen backlog (and get refused by the kernel when that is full) instead of each costing a
//! task, a TLS state and a file descriptor. The permit is taken *before* `accept`, so no
//! accepted socket ever waits for one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::tls::{peer_of, Peer};

/// A peer that has not finished its handshake after this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// At the connection limit, the warning is logged at most this often.
const FULL_LOG_EVERY: Duration = Duration::from_secs(60);
/// How long in-flight requests may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// After a request the HTTP layer refuses (a malformed header: hyper's own 400), how long and
/// how much of the rest of it is read and dropped before the socket closes; see [`linger`].
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Open connections by the serial of their client certificate.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    next: AtomicU64,
    by_serial: Mutex<HashMap<String, HashMap<u64, CancellationToken>>>,
}

/// One connection's entry in [`Connections`]; dropping it (however the connection task ends:
/// normally, by a panic, or aborted) removes the entry.
pub(crate) struct Registration {
    connections: Arc<Connections>,
    serial: String,
    id: u64,
    token: CancellationToken,
}

impl Registration {
    /// Cancelled when the certificate is revoked.
    fn revoked(&self) -> CancellationToken {
        self.token.clone()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.unregister(&self.serial, self.id);
    }
}

impl Connections {
    /// Registers a connection of the certificate `serial` until the guard is dropped.
    pub(crate) fn register(self: &Arc<Self>, serial: &str) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.lock()
            .entry(serial.to_string())
            .or_default()
            .insert(id, token.clone());
        Registration {
            connections: Arc::clone(self),
            serial: serial.to_string(),
            id,
            token,
        }
    }

    /// How many connections are registered (those of client certificates).
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    fn unregister(&self, serial: &str, id: u64) {
        let mut map = self.lock();
        if let Some(conns) = map.get_mut(serial) {
            conns.remove(&id);
            if conns.is_empty() {
                map.remove(serial);
            }
        }
    }

    /// Closes every open connection of these certificates; returns how many there were.
    pub(crate) fn close<'a>(&self, serials: impl IntoIterator<Item = &'a String>) -> usize {
        let map = self.lock();
        let mut closed = 0;
        for serial in serials {
            for token in map.get(serial).into_iter().flat_map(|c| c.values()) {
                token.cancel();
                closed += 1;
            }
        }
        closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, CancellationToken>>> {
        self.by_serial.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves until `stop` fires (or its sender is dropped), then stops accepting, lets in-flight
/// requests finish for at most [`DRAIN_TIMEOUT`] and drops what is left.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    connections: Arc<Connections>,
    max_connections: usize,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let draining = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let permits = Arc::new(Semaphore::new(max_connections));
    // The permit of the next connection, taken before it is accepted.
    let mut permit = None;
    let mut full_logged: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            taken = Arc::clone(&permits).acquire_owned(), if permit.is_none() => match taken {
                Ok(taken) => permit = Some(taken),
                Err(_) => break, // closed: never happens, the semaphore is ours
            },
            accepted = listener.accept(), if permit.is_some() => match accepted {
                Ok((tcp, remote)) => {
                    let held = permit.take();
                    let task = connection(
                        tcp,
                        remote,
                        acceptor.clone(),
                        router.clone(),
                        Arc::clone(&connections),
                        draining.clone(),
                    );
                    tasks.spawn(async move {
                        let _held = held;
                        task.await
                    });
                    let now = std::time::Instant::now();
                    if permits.available_permits() == 0
                        && full_logged.is_none_or(|at| now.duration_since(at) >= FULL_LOG_EVERY)
                    {
                        full_logged = Some(now);
                        tracing::warn!(
                            max_connections,
                            "connection limit reached: further connections wait in the listen \
                             backlog until one ends"
                        );
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    draining.cancel();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "requests still running after 10 s; closing their connections"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    connections: Arc<Connections>,
    draining: CancellationToken,
) {
    // A second handle on the socket, for the lingering close after a refused request.
    let (tcp, lingering) = match tcp.into_std().and_then(|std| {
        let second = std.try_clone()?;
        Ok((TcpStream::from_std(std)?, second))
    }) {
        Ok((tcp, second)) => (tcp, Some(second)),
        Err(e) => {
            tracing::warn!(%remote, error = %e, "cannot set up a connection");
            return;
        }
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%remote, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            // Info, not debug: the peer sees only its connection end (a Python client says
            // "EOF occurred in violation of protocol"), so this line is what explains it, and
            // an overloaded gateway or a very weak link shows here first.
            tracing::info!(%remote, timeout_s = HANDSHAKE_TIMEOUT.as_secs(), "TLS handshake timed out: connection closed");
            return;
        }
    };
    let peer = peer_of(tls.get_ref().1);
    let serial = match &peer {
        Peer::Identified(identity) => Some(identity.serial.clone()),
        _ => None,
    };
    // Unregistered when dropped, however this task ends.
    let registration = serial.as_deref().map(|s| connections.register(s));
    let revoked = registration
        .as_ref()
        .map_or_else(CancellationToken::new, Registration::revoked);
    let service = hyper::service::service_fn(move |mut request| {
        request.extensions_mut().insert(peer.clone());
        router.clone().call(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    // In a block so that the TLS stream is gone before the lingering close.
    let outcome = {
        let conn = builder
            .serve_connection(TokioIo::new(tls), service)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => Some(r),
            _ = revoked.cancelled() => None,
            _ = draining.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    r = conn.as_mut() => Some(r),
                    _ = revoked.cancelled() => None,
                }
            }
        }
    };
    match outcome {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::debug!(%remote, error = %e, "connection ended with an error");
            if let Some(socket) = lingering {
                linger(socket).await;
            }
        }
        None => {
            tracing::info!(%remote, serial = ?serial, "connection closed: its certificate was revoked")
        }
    }
    drop(registration);
}

/// A lingering close: hyper has answered a request it could not parse (400) and ended the
/// connection, but the client may still be sending that request's body. Closing a socket with
/// bytes unread makes the kernel send a reset, which can destroy the 400 before the client reads
/// it (the client then sees a dropped connection, not the refusal). So the socket is half-closed
/// and the rest read and dropped, for a bounded time and size, before it is closed.
async fn linger(socket: std::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut socket) = TcpStream::from_std(socket) else {
        return;
    };
    if socket.shutdown().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut read = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while read < LINGER_BYTES {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection task that panics (or is aborted) still leaves the registry: the entry is
    /// a guard.
    #[tokio::test]
    async fn a_connection_that_panics_or_is_aborted_is_unregistered() {
        let connections = Arc::new(Connections::default());
        let c = Arc::clone(&connections);
        let panicked = tokio::spawn(async move {
            let _registration = c.register("ab01");
            panic!("a bug in a connection task");
        })
        .await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
        assert_eq!(connections.open(), 0);

        let c = Arc::clone(&connections);
        let (registered, wait) = oneshot::channel();
        let stuck = tokio::spawn(async move {
            let _registration = c.register("ab02");
            let _ = registered.send(());
            std::future::pending::<()>().await;
        });
        wait.await.expect("registered");
        assert_eq!(connections.open(), 1);
        assert_eq!(connections.close(&["ab02".to_string()]), 1);
        stuck.abort();
        assert!(stuck.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(connections.open(), 0);
        assert_eq!(connections.close(&["ab02".to_string()]), 0);
    }
}
