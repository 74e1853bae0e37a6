//! Serving the router with every wait on a client bounded (M8 of the 2026-12-07 review;
//! `axum::serve` builds hyper without a timer, so none of hyper's timeouts applied):
//!
//! - a client has `header_timeout` to send a request's headers, and an idle keep-alive
//!   connection as long to start the next one (hyper's `header_read_timeout`);
//! - a request body may stall at most `body_timeout` between two reads (`tower-http`'s
//!   `TimeoutBody`): an upload that keeps sending, however slowly, is never cut, one that
//!   stops is;
//! - at most `max_connections` are open; more wait in the kernel's backlog;
//! - a stop (the `stop` future) closes the listener, asks every connection to finish its
//!   request in flight and waits for them until `drain_until`, then drops what is left (a
//!   dashboard's live page, a stalled upload): [`serve`] always returns by then.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::config::HttpLimits;

/// Serves `router` on `listener` within `limits` until `stop` resolves, then lets the
/// connections finish until `drain_until`; whether every one finished.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    stop: impl std::future::Future<Output = tokio::time::Instant>,
) -> bool {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let http = http.http1_only();
    let mut backoff = Duration::from_millis(10);
    tokio::pin!(stop);
    let drain_until = loop {
        let slot = tokio::select! {
            at = &mut stop => break at,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break tokio::time::Instant::now(),
            },
        };
        let (stream, peer) = tokio::select! {
            at = &mut stop => break at,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::from_millis(10);
                    a
                }
                // Out of descriptors, or the like: wait a little rather than spin.
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = connection_service(router.clone(), peer, limits.body_timeout);
        let (http, watcher, first_byte) = (http.clone(), graceful.watcher(), limits.header_timeout);
        tokio::spawn(async move {
            // hyper's header timer starts only once the connection has said which HTTP it
            // speaks: one that never sends a byte is cut here instead.
            let mut byte = [0u8; 1];
            if !matches!(
                tokio::time::timeout(first_byte, stream.peek(&mut byte)).await,
                Ok(Ok(1..))
            ) {
                drop(slot);
                return;
            }
            let conn = http.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let _ = watcher.watch(conn.into_owned()).await;
            drop(slot);
        });
    };
    drop(listener);
    tokio::time::timeout_at(drain_until, graceful.shutdown())
        .await
        .is_ok()
}

/// The router for one connection from `peer`: the peer's address where `ConnectInfo` finds it,
/// and the request body's stall timeout.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    tower::service_fn(move |request: axum::http::Request<hyper::body::Incoming>| {
        let mut request = request.map(|body| {
            axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body))
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    })
}
