//! The accept loop of both ports: TCP, the TLS handshake (bounded in time), then HTTP/1.1
//! with hyper, each request carrying the peer's certificate identity ([`KioskPeer`]).
//!
//! It is smaller than the gateway's: the hub serves one hall (a few kiosks and screens), has no
//! revocation list to enforce mid-connection, and keeps the display's event stream open, so
//! connections are bounded by a semaphore and each runs in its own task until it ends or the
//! hub stops. Against a machine on the LAN that opens connections and trickles them, each
//! address has a few connections at most, headers must arrive within 10 s. (A device of another site
//! still gets its refusal in words: only a certificate of the province's CA gets that far.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use motcua_identity::PeerIdentity;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::tls::KioskPeer;

/// A peer that has not finished its handshake after this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once (a hall has a handful of kiosks, screens and counter PCs).
const MAX_CONNECTIONS: usize = 256;
/// Connections open at once from one address (a browser opens about six, plus the display's
/// event stream).
const MAX_PER_ADDRESS: usize = 12;
/// Headers of a request must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Open connections per address; a guard gives its slot back when dropped.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct Slot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Slot(Arc::clone(self), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_address = Arc::new(PerAddress::default());
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = per_address.take(remote.ip()) else {
            // Closed at once: this address already holds its share.
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%remote, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%remote, "TLS handshake timed out: connection closed");
                    return;
                }
            };
            let peer = KioskPeer(
                tls.get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|der| PeerIdentity::from_der(der).ok())
                    .map(Arc::new),
            );
            let service = hyper::service::service_fn(move |mut request| {
                request.extensions_mut().insert(peer.clone());
                request.extensions_mut().insert(remote);
                router.clone().call(request)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new());
            builder.header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "connection ended with an error");
                    }
                }
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}
