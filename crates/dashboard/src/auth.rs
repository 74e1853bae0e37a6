//! The dashboard's optional access token. Without one the dashboard is open to whoever can
//! reach its address (127.0.0.1 unless told otherwise). With one, every request shows it:
//!
//! - scripts and Prometheus send `Authorization: Bearer TOKEN` (Prometheus's
//!   `authorization: {credentials: TOKEN}` scrape setting);
//! - a browser logs in once at `/login` with the token as its password and gets a session
//!   cookie (`HttpOnly`, `SameSite=Strict`, random, kept in memory only; `/logout` ends it).
//!
//! A request without either gets `401` with `WWW-Authenticate: Bearer`, or, for a page a
//! browser asked for, a redirect to `/login`. Tokens are compared in constant time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::{pages, Watch};

/// The session cookie's name.
const COOKIE: &str = "rotp_dashboard_session";
/// Sessions kept at once; a login past this ends the oldest.
const MAX_SESSIONS: usize = 256;

/// The token, and the sessions browsers logged in with.
pub(crate) struct Auth {
    token: String,
    sessions: Mutex<VecDeque<String>>,
}

impl Auth {
    pub(crate) fn new(token: String) -> Auth {
        Auth {
            token,
            sessions: Mutex::default(),
        }
    }

    fn is_token(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn has_session(&self, id: &str) -> bool {
        self.sessions()
            .iter()
            .any(|s| bool::from(s.as_bytes().ct_eq(id.as_bytes())))
    }

    /// Whether `headers` carry the bearer token or a live session.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| self.is_token(t.trim())) {
            return true;
        }
        session_cookie(headers).is_some_and(|id| self.has_session(id))
    }
}

/// The session id in a `Cookie` header, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Lets a request through if the dashboard has no token or the request shows it.
pub(crate) async fn guard(
    State(watch): State<Arc<Watch>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(auth) = &watch.auth else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/login" || auth.admits(request.headers()) {
        return next.run(request).await;
    }
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        return Redirect::to(&format!("{}/login", watch.base)).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"rotp dashboard\"")],
        "this dashboard wants its token: Authorization: Bearer TOKEN, or log in at /login\n",
    )
        .into_response()
}

/// `GET /login`.
pub(crate) async fn login_page(State(watch): State<Arc<Watch>>) -> Html<String> {
    Html(login_form(&watch.base, None))
}

fn login_form(base: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"down\">{}</p>", pages::escape(e))
    });
    pages::frame(
        base,
        "log in",
        None,
        &format!(
            "<h2>Log in</h2>{error}<form method=\"post\" action=\"{base}/login\">\
             <label>access token <input type=\"password\" name=\"token\" autofocus></label> \
             <button>log in</button></form>\
             <p>The token is the one this dashboard was started with (<code>--token</code>).</p>"
        ),
    )
}

/// The login form's field.
#[derive(serde::Deserialize)]
pub(crate) struct Login {
    token: String,
}

/// `POST /login`: a session cookie for the right token.
pub(crate) async fn login(State(watch): State<Arc<Watch>>, Form(form): Form<Login>) -> Response {
    let Some(auth) = &watch.auth else {
        return Redirect::to(&format!("{}/", watch.base)).into_response();
    };
    if !auth.is_token(&form.token) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_form(
                &watch.base,
                Some("That is not this dashboard's token."),
            )),
        )
            .into_response();
    }
    let id = crate::random_hex();
    {
        let mut sessions = auth.sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.pop_front();
        }
        sessions.push_back(id.clone());
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}={id}; Path={}/; HttpOnly; SameSite=Strict",
                watch.base
            ),
        )],
        Redirect::to(&format!("{}/", watch.base)),
    )
        .into_response()
}

/// `POST /logout`: ends the session.
pub(crate) async fn logout(State(watch): State<Arc<Watch>>, headers: HeaderMap) -> Response {
    if let (Some(auth), Some(id)) = (&watch.auth, session_cookie(&headers)) {
        auth.sessions().retain(|s| s != id);
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}=; Path={}/; HttpOnly; SameSite=Strict; Max-Age=0",
                watch.base
            ),
        )],
        Redirect::to(&format!("{}/login", watch.base)),
    )
        .into_response()
}
