//! `/metrics` for an EPMD daemon (`rotp epmd --metrics ADDR`): the requests it handled by
//! kind and the nodes registered now (`window::metrics::epmd_exposition`).
//!
//! ```
//! use net::epmd::{Daemon, DaemonConfig};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `rotp epmd --metrics 127.0.0.1:0`, on a free port of its own.
//! let daemon = Daemon::bind(DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..DaemonConfig::default() })?;
//! let epmd = daemon.local_addrs().into_iter().find(|a| a.is_ipv4()).expect("127.0.0.1");
//! let table = daemon.names_handle();
//! tokio::spawn(daemon.run());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let metrics = listener.local_addr()?;
//! tokio::spawn(rotp_dashboard::epmd_metrics::serve(listener, table));
//!
//! // A node registers with it.
//! let mut drip = node::NodeConfig::new("drip@127.0.0.1", node::name::NameKind::Long, node::cookie::find_cookie(Some("secret"))?);
//! drip.epmd_port = epmd.port();
//! let _drip = node::Node::start(drip).await?;
//! // What Prometheus scrapes.
//! let mut http = tokio::net::TcpStream::connect(metrics).await?;
//! http.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
//! let mut answer = String::new();
//! http.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 200"));
//! assert!(answer.contains("rotp_epmd_registered_nodes 1"));
//! assert!(answer.contains(r#"rotp_epmd_requests_total{kind="alive2_req"} 1"#));
//! # Ok(()) }
//! ```

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use net::epmd::NamesHandle;

/// Serves the daemon's `/metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, daemon: NamesHandle) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let daemon = daemon.clone();
            async move {
                let requests = daemon.requests();
                (
                    [(header::CONTENT_TYPE, window::metrics::CONTENT_TYPE)],
                    window::metrics::epmd_exposition(&requests.by_kind(), daemon.registered()),
                )
                    .into_response()
            }
        }),
    );
    axum::serve(listener, app).await
}
