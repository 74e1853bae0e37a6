//! The window's web side: an HTTP server (axum) over a rotp node that reads other nodes (BEAM
//! or rotp, itself included) through the distribution. Today it serves `/metrics`, the
//! Prometheus exposition of each node's figures (`window::metrics`), and `/`, the list of
//! nodes it watches; the dashboard's pages come on top (issue 14).
//!
//! It binds where it is told (the CLI's default is 127.0.0.1) and never shows the cookie.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use etf::Atom;
use node::Node;

/// How long a scrape may wait for a node's figures.
const SCRAPE: Duration = Duration::from_secs(10);

/// What the handlers share: the node that asks, and the nodes it watches (the first is the
/// default one).
struct Watch {
    node: Node,
    targets: Vec<Atom>,
}

/// `?node=NAME@HOST`.
#[derive(serde::Deserialize)]
struct Which {
    node: Option<String>,
}

/// The routes, over `node`, watching `targets` (at least one; `/metrics` without `?node=`
/// is the first's).
pub fn router(node: Node, targets: Vec<Atom>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(Watch { node, targets }))
}

/// Serves [`router`] on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    targets: Vec<Atom>,
) -> std::io::Result<()> {
    axum::serve(listener, router(node, targets)).await
}

async fn metrics(State(watch): State<Arc<Watch>>, Query(which): Query<Which>) -> Response {
    let target = match which.node {
        None => watch.targets.first().cloned(),
        Some(name) => watch.targets.iter().find(|t| t.as_str() == name).cloned(),
    };
    let Some(target) = target else {
        return (StatusCode::NOT_FOUND, "not a node this dashboard watches\n").into_response();
    };
    match window::collect(&watch.node, &target, SCRAPE).await {
        Ok(snapshot) => (
            [(header::CONTENT_TYPE, window::metrics::CONTENT_TYPE)],
            window::metrics::exposition(&snapshot),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn index(State(watch): State<Arc<Watch>>) -> Html<String> {
    let mut rows = String::new();
    for t in &watch.targets {
        let name = escape(t.as_str());
        rows.push_str(&format!(
            "<li><code>{name}</code> — <a href=\"/metrics?node={name}\">/metrics?node={name}</a></li>\n"
        ));
    }
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rotp dashboard</title></head>\n\
         <body><h1>rotp dashboard</h1>\n<p>Watching, through <code>{}</code>:</p>\n<ul>\n{rows}</ul>\n</body></html>\n",
        escape(watch.node.name().as_str())
    ))
}

/// Text for HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
