//! Drip over HTTP (axum): the web UI ([`ui`], [`pages`], [`session`]), the JSON API
//! ([`api`]), `GET /health` as the book has it, `/metrics` (Drip's own and the node's), and
//! the node dashboard for admins ([`dashboard`]).
//! Each request is counted and timed.

pub mod api;
pub mod dashboard;
pub mod error;
pub mod openapi;
pub mod pages;
pub mod session;
pub mod ui;
pub mod upload_form;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::app::App;

/// Every route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(api::routes())
        .merge(ui::routes())
        .merge(dashboard::routes(&app))
        .layer(axum::middleware::from_fn_with_state(app.clone(), count))
        .with_state(app)
}

async fn count(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics
        .request(&method, response.status().as_u16(), started.elapsed());
    response
}

/// `{ok, hostname, node, connected_to}`, as the book's health endpoint answers.
async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "ok": true,
        "hostname": node::name::hostname(),
        "node": app.node.name().as_str(),
        "connected_to": app.node.nodes(false).iter().map(|n| n.as_str().to_owned()).collect::<Vec<_>>(),
    }))
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let node = match window::collect(&app.node, app.node.name(), Duration::from_secs(10)).await {
        Ok(s) => window::metrics::exposition(&s),
        Err(e) => {
            tracing::warn!("the node's own figures: {e}");
            "# EOF\n".to_owned()
        }
    };
    // Drip's families, then the node's (which end the exposition with its `# EOF`).
    let body = format!("{}\n{node}", app.metrics.exposition());
    (
        [(header::CONTENT_TYPE, window::metrics::CONTENT_TYPE)],
        body,
    )
        .into_response()
}
