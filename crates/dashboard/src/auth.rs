//! Who may use the dashboard ([`Access`](crate::Access)).
//!
//! With its own token ([`Access::Token`](crate::Access::Token)) every request, first, names a
//! `Host` the dashboard answers to ([`AllowedHosts`]), and then shows the token:
//!
//! - scripts and Prometheus send `Authorization: Bearer TOKEN` (Prometheus's
//!   `authorization: {credentials: TOKEN}` scrape setting);
//! - a browser logs in once, at `/login` with the token as its password, or through a login
//!   link `/?token=TOKEN` (as Jupyter's: the session is set and the browser is sent on to the
//!   same URL without the token), and then shows a session cookie (`HttpOnly`,
//!   `SameSite=Strict`, random, kept in memory only; `/logout` ends it).
//!
//! A request without either gets `401` with `WWW-Authenticate: Bearer`, or, for a page a
//! browser asked for, a redirect to `/login`. Tokens are compared in constant time; wrong
//! guesses at a chosen token are limited per address (`guesses`).
//!
//! Under a host application ([`Access::HostApp`](crate::Access::HostApp)) that application
//! has authenticated the request already; the dashboard checks neither `Host` nor a token.
//!
//! Either way a request that changes something must come from the dashboard's own pages
//! (`origin::same_origin`), and its forms carry the dashboard's form token.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use subtle::ConstantTimeEq;

use crate::guesses::{Client, Guesses};
use crate::origin::{self, AllowedHosts};
use crate::{pages, Token, Watch};

/// The session cookie's name.
const COOKIE: &str = "rotp_dashboard_session";
/// Sessions kept at once; a login past this ends the oldest.
const MAX_SESSIONS: usize = 256;

/// The token, the `Host` names it answers to, the sessions browsers logged in with, and the
/// wrong guesses.
pub(crate) struct Auth {
    token: Token,
    hosts: AllowedHosts,
    sessions: Mutex<VecDeque<String>>,
    guesses: Guesses,
}

/// What a token check found.
enum Verdict {
    Right,
    Wrong,
    /// Too many wrong guesses from this address: not checked; try again after this.
    Throttled(Duration),
}

impl Auth {
    pub(crate) fn new(token: Token, hosts: AllowedHosts) -> Auth {
        Auth {
            token,
            hosts,
            sessions: Mutex::default(),
            guesses: Guesses::default(),
        }
    }

    /// Whether `given` is the token; a chosen token's guesses are limited per `client`.
    fn check(&self, given: &str, client: Client) -> Verdict {
        if !self.token.is_chosen() {
            return if self.token.is(given) {
                Verdict::Right
            } else {
                Verdict::Wrong
            };
        }
        let now = Instant::now();
        if let Some(wait) = self.guesses.throttled(client, now) {
            return Verdict::Throttled(wait);
        }
        if self.token.is(given) {
            Verdict::Right
        } else {
            self.guesses.wrong(client, now);
            Verdict::Wrong
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn has_session(&self, id: &str) -> bool {
        self.sessions()
            .iter()
            .any(|s| bool::from(s.as_bytes().ct_eq(id.as_bytes())))
    }

    /// A new session's id.
    fn open_session(&self) -> String {
        let id = crate::random_hex(16);
        let mut sessions = self.sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.pop_front();
        }
        sessions.push_back(id.clone());
        id
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

/// The bearer token in an `Authorization` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whose guesses a request's are: its peer's address, if the server gave it.
fn client(request: &Request) -> Client {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(Client::Unknown, |ConnectInfo(a)| Client::at(a.ip()))
}

/// The middleware in front of every route: the module's rules.
pub(crate) async fn guard(
    State(watch): State<Arc<Watch>>,
    mut request: Request,
    next: Next,
) -> Response {
    // For the login form's handler, which limits guesses by it too.
    let who = client(&request);
    request.extensions_mut().insert(who);
    if let Some(auth) = &watch.auth {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth.hosts.admits(host) {
            // Debug, not warn: a rebinding page can send these as fast as it likes.
            tracing::debug!(host = %host.escape_debug(), "dashboard: a request for a Host it does not answer to");
            return (
                StatusCode::FORBIDDEN,
                format!(
                    "this dashboard does not answer to the Host {:?}: only to loopback \
                     addresses, localhost, its listen address and the names its operator \
                     allowed (rotp: --allow-host NAME)\n",
                    host.chars().take(100).collect::<String>()
                ),
            )
                .into_response();
        }
    }
    if !origin::same_origin(request.method(), request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "this form did not come from this dashboard's own pages (Origin, Sec-Fetch-Site)\n",
        )
            .into_response();
    }
    let Some(auth) = &watch.auth else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/login" {
        return next.run(request).await;
    }
    if request.method() == Method::GET {
        if let Some(response) = login_link(&watch, auth, &request) {
            return response;
        }
    }
    if session_cookie(request.headers()).is_some_and(|id| auth.has_session(id)) {
        return next.run(request).await;
    }
    if let Some(given) = bearer(request.headers()) {
        match auth.check(given, who) {
            Verdict::Right => return next.run(request).await,
            Verdict::Throttled(wait) => return too_many(wait),
            Verdict::Wrong => {}
        }
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

/// A login link (`?token=TOKEN` on any page): a session, and on to the same page without the
/// token in its URL; `None` if the query has no `token`.
fn login_link(watch: &Watch, auth: &Auth, request: &Request) -> Option<Response> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()).ok()?;
    let given = pairs.iter().find(|(k, _)| k == "token")?.1.clone();
    let who = request
        .extensions()
        .get::<Client>()
        .copied()
        .unwrap_or(Client::Unknown);
    match auth.check(&given, who) {
        Verdict::Right => {}
        Verdict::Throttled(wait) => return Some(too_many(wait)),
        Verdict::Wrong => {
            return Some(
                (
                    StatusCode::UNAUTHORIZED,
                    Html(login_form(
                        &watch.base,
                        Some("That link's token is not this dashboard's."),
                    )),
                )
                    .into_response(),
            )
        }
    }
    let rest: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k != "token")
        .map(|(k, v)| format!("{}={}", pages::url(k), pages::url(v)))
        .collect();
    // A path of `//host` would be another site's address in a Location header.
    let path = match request.uri().path() {
        p if p.starts_with("//") => "/",
        p => p,
    };
    let to = if rest.is_empty() {
        format!("{}{path}", watch.base)
    } else {
        format!("{}{path}?{}", watch.base, rest.join("&"))
    };
    Some(logged_in(watch, auth, &to))
}

/// A session for this browser, and on to `to`.
fn logged_in(watch: &Watch, auth: &Auth, to: &str) -> Response {
    let id = auth.open_session();
    (
        [
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={id}; Path={}/; HttpOnly; SameSite=Strict",
                    watch.base
                ),
            ),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        Redirect::to(to),
    )
        .into_response()
}

/// `429` for an address with no guesses left.
fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        format!("too many wrong tokens from this address: try again in {secs} s\n"),
    )
        .into_response()
}

/// `GET /login`: the form, or, under a host application (no token of its own), on to the
/// cluster page.
pub(crate) async fn login_page(State(watch): State<Arc<Watch>>) -> Response {
    if watch.auth.is_none() {
        return Redirect::to(&format!("{}/", watch.base)).into_response();
    }
    Html(login_form(&watch.base, None)).into_response()
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
             <p>The token is the one this dashboard was started with (<code>--token</code>), \
             or the one in the login link it printed.</p>"
        ),
    )
}

/// The login form's field.
#[derive(serde::Deserialize)]
pub(crate) struct Login {
    token: String,
}

/// `POST /login`: a session cookie for the right token.
pub(crate) async fn login(
    State(watch): State<Arc<Watch>>,
    Extension(client): Extension<Client>,
    Form(form): Form<Login>,
) -> Response {
    let Some(auth) = &watch.auth else {
        return Redirect::to(&format!("{}/", watch.base)).into_response();
    };
    match auth.check(&form.token, client) {
        Verdict::Right => logged_in(&watch, auth, &format!("{}/", watch.base)),
        Verdict::Throttled(wait) => too_many(wait),
        Verdict::Wrong => (
            StatusCode::UNAUTHORIZED,
            Html(login_form(
                &watch.base,
                Some("That is not this dashboard's token."),
            )),
        )
            .into_response(),
    }
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
