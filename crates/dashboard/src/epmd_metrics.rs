//! `/metrics` for an EPMD daemon (`rotp epmd --metrics ADDR`): the requests it handled by
//! kind and the nodes registered now (`window::metrics::epmd_exposition`).

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
