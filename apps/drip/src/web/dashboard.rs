//! The node dashboard at `/dashboard`: the window's (`dashboard` crate: the cluster, this
//! node's home, processes, supervision trees, GenStage pipelines, OS figures and metrics, and
//! any node the cookie opens), nested under `/dashboard`, as Phoenix apps mount
//! LiveDashboard. Only admins get in — accounts an operator made admins with `drip admin
//! grant NAME` (a property of the account in the database, never a name in the settings that
//! anyone could sign up under): a browser without a session goes to `/`, like every page; a
//! logged-in user who is not an admin gets 403.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;

use super::pages;
use super::ui::WebUser;
use crate::app::App;

/// Where the dashboard is mounted.
pub const BASE: &str = "/dashboard";

/// `/dashboard` and everything under it, for admins.
pub fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let dashboard = dashboard::router(
        app.node.clone(),
        // Drip authenticates every request (`admins_only`, below) before the dashboard sees
        // it; behind a reverse proxy the Host is the proxy's, so the dashboard checks none.
        dashboard::Config {
            base: BASE.to_owned(),
            ..dashboard::Config::new(vec![app.node.name().clone()], dashboard::Access::HostApp)
        },
    )
    .layer(axum::middleware::from_fn_with_state(
        app.clone(),
        admins_only,
    ));
    Router::new().nest_service(BASE, dashboard)
}

async fn admins_only(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let user = match WebUser::from_request_parts(&mut parts, &app).await {
        Ok(u) => u,
        Err(to_landing) => return to_landing.into_response(),
    };
    if !user.user.admin {
        tracing::warn!(user = %user.user.username, "a user who is not an admin asked for the dashboard");
        return (
            StatusCode::FORBIDDEN,
            Html(pages::layout(
                "dashboard",
                Some((&user.user, &user.csrf)),
                "<h2>dashboard</h2><p class=\"error\">The node dashboard is for Drip's admins (an operator makes one with <code>drip admin grant NAME</code>).</p>",
            )),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
