//! Drip over HTTP (axum): the account pages ([`account`]), the web UI ([`ui`], [`pages`],
//! [`session`]), the live socket ([`socket`]), the JSON API ([`api`]), `GET /health` as the
//! book has it, `/metrics` (Drip's own and the node's; behind a token, or on a listener of its
//! own: [`metrics_router`]), and the node dashboard for admins ([`dashboard`]). Every response
//! carries the security headers ([`headers`]); each request is counted and timed. [`serve`]
//! runs it with every wait on a client bounded.

pub mod account;
pub mod api;
pub mod client;
pub mod dashboard;
pub mod error;
pub mod headers;
pub mod openapi;
pub mod pages;
pub mod serve;
pub mod session;
pub mod socket;
pub mod throttle;
pub mod ui;
pub mod upload_form;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use subtle::ConstantTimeEq;

use crate::app::App;

/// Every route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(guarded_metrics))
        .route("/socket", get(socket::socket))
        .merge(account::routes())
        .merge(api::routes())
        .merge(ui::routes())
        .merge(dashboard::routes(&app))
        .layer(axum::middleware::from_fn_with_state(app.clone(), count))
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(app)
}

/// `/metrics` alone, without a token: for `--metrics ADDR`, a listener of its own that only
/// Prometheus reaches.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// The method as metrics label it: one of a fixed few, so no client can add label values.
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

async fn count(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics
        .request(method, response.status().as_u16(), started.elapsed());
    response
}

/// Whether `headers` carry `--metrics-token` as a bearer token (none is set: never).
fn metrics_token_ok(app: &App, headers: &HeaderMap) -> bool {
    let Some(want) = app.config.metrics_token.as_deref() else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|got| bool::from(got.trim().as_bytes().ct_eq(want.as_bytes())))
}

/// `{ok}`, and for the metrics token's holder what the book's health endpoint tells:
/// `hostname`, `node`, `connected_to` (which a stranger has no need of).
async fn health(State(app): State<Arc<App>>, headers: HeaderMap) -> Json<serde_json::Value> {
    if !metrics_token_ok(&app, &headers) {
        return Json(serde_json::json!({ "ok": true }));
    }
    Json(serde_json::json!({
        "ok": true,
        "hostname": node::name::hostname(),
        "node": app.node.name().as_str(),
        "connected_to": app.node.nodes(false).iter().map(|n| n.as_str().to_owned()).collect::<Vec<_>>(),
    }))
}

/// How long the node's scheduler may take to run a new process before Drip counts as stuck.
const LIVE_WITHIN: Duration = Duration::from_secs(5);

/// The liveness probe: 200 while the node's scheduler runs a new process within
/// [`LIVE_WITHIN`] (a node that cannot is stuck, and restarting it is the cure); never
/// anything that load or a database away would fail, which a restart would not mend.
async fn live(State(app): State<Arc<App>>) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.node.runtime().spawn(move |_| async move {
        let _ = tx.send(());
        runtime::ExitReason::Normal
    });
    match tokio::time::timeout(LIVE_WITHIN, rx).await {
        Ok(Ok(())) => Json(serde_json::json!({ "live": true })).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "live": false })),
        )
            .into_response(),
    }
}

/// The readiness probe: 200 while Drip takes requests; 503 from the moment it is told to stop
/// (SIGTERM, `drip stop`), so a load balancer sends it nothing new while it drains.
async fn ready(State(app): State<Arc<App>>) -> Response {
    if *app.stopping.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "stopping": true })),
        )
            .into_response();
    }
    Json(serde_json::json!({ "ready": true })).into_response()
}

/// `/metrics` on the main listener: for the holder of `--metrics-token` only.
async fn guarded_metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if metrics_token_ok(&app, &headers) {
        return metrics(State(app)).await;
    }
    if app.config.metrics_token.is_some() {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics need Authorization: Bearer <the --metrics-token>\n",
        )
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        "metrics are served with --metrics ADDR, or here with --metrics-token\n",
    )
        .into_response()
}

/// How long one snapshot of the node's figures is served: scrapes in between cost nothing.
const NODE_SNAPSHOT: Duration = Duration::from_secs(5);

async fn metrics(State(app): State<Arc<App>>) -> Response {
    if let Err(e) = app.metrics.read_filesystem(&app.spool) {
        tracing::warn!(
            "the data directory's file system ({}): {e}",
            app.spool.display()
        );
    }
    let node = app
        .metrics
        .node_snapshot(NODE_SNAPSHOT, async || {
            match window::collect(&app.node, app.node.name(), Duration::from_secs(10)).await {
                Ok(s) => window::metrics::exposition(&s),
                Err(e) => {
                    tracing::warn!("the node's own figures: {e}");
                    "# EOF\n".to_owned()
                }
            }
        })
        .await;
    // Drip's families, then the node's (which end the exposition with its `# EOF`).
    let body = format!("{}\n{node}", app.metrics.exposition());
    (
        [(header::CONTENT_TYPE, window::metrics::CONTENT_TYPE)],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_labelled_from_a_fixed_set() {
        let odd = axum::http::Method::from_bytes(b"FOO123").expect("a token");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&axum::http::Method::GET), "GET");
    }
}
