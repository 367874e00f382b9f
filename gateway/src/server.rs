//! The accept loop: TCP, then the TLS handshake, then HTTP/1.1 with hyper, each request
//! carrying the connection's [`Peer`]. (axum's own `serve` cannot do TLS.)
//!
//! Every connection of a client certificate is registered under its serial in
//! [`Connections`], so revoking a certificate closes its connections at once: an upload in
//! progress stops mid-body instead of running to its end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::tls::{peer_of, Peer};

/// A peer that has not finished its handshake after this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long in-flight requests may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Open connections by the serial of their client certificate.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    next: AtomicU64,
    by_serial: Mutex<HashMap<String, HashMap<u64, CancellationToken>>>,
}

impl Connections {
    fn register(&self, serial: &str) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.lock()
            .entry(serial.to_string())
            .or_default()
            .insert(id, token.clone());
        (id, token)
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
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let draining = CancellationToken::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    tasks.spawn(connection(
                        tcp,
                        remote,
                        acceptor.clone(),
                        router.clone(),
                        Arc::clone(&connections),
                        draining.clone(),
                    ));
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
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%remote, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let peer = peer_of(tls.get_ref().1);
    let serial = match &peer {
        Peer::Identified(identity) => Some(identity.serial.clone()),
        _ => None,
    };
    let registration = serial.as_deref().map(|s| connections.register(s));
    let revoked = registration
        .as_ref()
        .map_or_else(CancellationToken::new, |(_, t)| t.clone());
    let service = hyper::service::service_fn(move |mut request| {
        request.extensions_mut().insert(peer.clone());
        router.clone().call(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    let conn = builder
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades();
    tokio::pin!(conn);
    let outcome = tokio::select! {
        r = conn.as_mut() => Some(r),
        _ = revoked.cancelled() => None,
        _ = draining.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                r = conn.as_mut() => Some(r),
                _ = revoked.cancelled() => None,
            }
        }
    };
    match outcome {
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::debug!(%remote, error = %e, "connection ended with an error"),
        None => {
            tracing::info!(%remote, serial = ?serial, "connection closed: its certificate was revoked")
        }
    }
    if let (Some(serial), Some((id, _))) = (serial, registration) {
        connections.unregister(&serial, id);
    }
}
