//! The accept loop: hyper connections configured for a gateway that faces slow or hostile
//! clients, with graceful shutdown.
//!
//! `axum::serve` leaves hyper's defaults, which read a request head for as long as a client
//! cares to send it. Here every connection has a header read timeout (a slowloris client is
//! dropped) and a bound on the request head (a larger head is answered 431 by hyper). On
//! shutdown the loop stops accepting, asks every connection to finish its request in flight,
//! and returns when all have.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// What the server allows a client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// To send a request's head.
    pub header_read_timeout: Duration,
    /// Bytes of a request head (at least 8192, hyper's smallest buffer).
    pub max_header_bytes: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the connections'
/// requests in flight.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    // Every connection task holds a sender: when the last is gone, all connections ended.
    let (stop, stopping) = watch::channel(false);
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let mut stopping = stopping.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let mut asked = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!("connection ended with an error: {e}");
                        }
                        break;
                    }
                    changed = stopping.changed(), if !asked => {
                        asked = true;
                        if changed.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = all_closed.recv().await;
}
