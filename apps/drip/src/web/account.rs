//! The account pages: landing, sign up (open, by invite, or closed: `--signup`), log in, log
//! out, and the account page with "log out everywhere" and, for admins, invites. The log-in
//! and sign-up forms carry a token tied to a pre-session cookie (no cross-site form can log a
//! victim into another account); every try is rate limited by client address and username
//! ([`super::throttle`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::client::ClientAddr;
use super::pages;
use super::session::Sessions;
use super::ui::{refused, WebUser};
use crate::accounts::{self, AccountError};
use crate::app::App;
use crate::config::Signup;
use crate::db::User;

/// How long an invite link works.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The account routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(landing))
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/logout-everywhere", post(logout_everywhere))
        .route("/account/invites", post(make_invite))
}

/// A 429 page or answer saying how long to wait, with `Retry-After`.
pub fn too_many(
    wait: Duration,
    what: &str,
) -> (StatusCode, [(header::HeaderName, String); 1], String) {
    let secs = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        format!("too many {what}: try again in {secs} s"),
    )
}

async fn landing(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let logged_in = match Sessions::cookie(&headers) {
        Some(v) => app
            .sessions
            .user(&app.store, v)
            .await
            .ok()
            .flatten()
            .is_some(),
        None => false,
    };
    if logged_in {
        Redirect::to("/files").into_response()
    } else {
        Html(pages::landing(app.config.signup == Signup::Open)).into_response()
    }
}

#[derive(Deserialize)]
struct InviteQuery {
    invite: Option<String>,
}

/// A form page with its pre-session cookie (set if the browser has none yet).
fn form_page(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    page: impl FnOnce(&str) -> String,
) -> Response {
    let (pre, set) = app.sessions.pre_session(headers);
    let body = Html(page(&app.sessions.pre_csrf(&pre)));
    match set {
        Some(cookie) => (status, [(header::SET_COOKIE, cookie)], body).into_response(),
        None => (status, body).into_response(),
    }
}

/// Whether sign-up is possible with `invite` (without one, only when it is open).
fn may_sign_up(app: &App, invite: Option<&str>) -> bool {
    invite.is_some() || app.config.signup == Signup::Open
}

async fn signup_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<InviteQuery>,
) -> Response {
    let invite = q.invite.filter(|i| !i.is_empty());
    if !may_sign_up(&app, invite.as_deref()) {
        return closed_page(&app);
    }
    form_page(&app, &headers, StatusCode::OK, |csrf| {
        pages::account_form(true, None, "", csrf, invite.as_deref())
    })
}

fn closed_page(app: &App) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(pages::signup_closed(app.config.signup)),
    )
        .into_response()
}

async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    form_page(&app, &headers, StatusCode::OK, |csrf| {
        pages::account_form(false, None, "", csrf, None)
    })
}

#[derive(Deserialize)]
struct AccountForm {
    #[serde(default)]
    csrf: String,
    username: String,
    password: String,
    email: Option<String>,
    invite: Option<String>,
}

/// Logged in: the session's cookie, and on to the files.
async fn logged_in(app: &App, user: &User) -> Response {
    match app.sessions.start(&app.store, &user.id).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/files")).into_response(),
        Err(e) => super::error::ApiError::from(e).into_response(),
    }
}

async fn signup(
    State(app): State<Arc<App>>,
    from: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<AccountForm>,
) -> Response {
    let invite = f.invite.as_deref().filter(|i| !i.is_empty());
    if !may_sign_up(&app, invite) {
        return closed_page(&app);
    }
    if !app.sessions.pre_csrf_ok(&headers, &f.csrf) {
        return refused();
    }
    let again = |status: StatusCode, error: &str| {
        form_page(&app, &headers, status, |csrf| {
            pages::account_form(true, Some(error), &f.username, csrf, invite)
        })
    };
    if let Err(wait) = app.throttle.sign_up(from) {
        let (status, _, text) = too_many(wait, "sign-ups from your address");
        return again(status, &text);
    }
    let email = f.email.unwrap_or_default();
    match accounts::sign_up(
        &app.store,
        &app.hasher,
        &f.username,
        &f.password,
        &email,
        invite,
    )
    .await
    {
        Ok(user) => logged_in(&app, &user).await,
        Err(e) => again(account_status(&e), &account_message(&e)),
    }
}

/// The status an account error is answered with.
pub fn account_status(e: &AccountError) -> StatusCode {
    match e {
        AccountError::Invalid(_) => StatusCode::BAD_REQUEST,
        AccountError::BadLogin => StatusCode::UNAUTHORIZED,
        AccountError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        AccountError::InviteOnly | AccountError::BadInvite => StatusCode::FORBIDDEN,
        AccountError::Db(crate::db::DbError::Taken(_)) => StatusCode::CONFLICT,
        AccountError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a user is told of an account error (a database failure in one sentence; its details
/// go to the log).
pub fn account_message(e: &AccountError) -> String {
    match e {
        AccountError::Db(crate::db::DbError::Taken(_)) => e.to_string(),
        AccountError::Db(d) => {
            tracing::error!("{d}");
            "the metadata database failed: try again later".to_owned()
        }
        _ => e.to_string(),
    }
}

async fn login(
    State(app): State<Arc<App>>,
    from: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<AccountForm>,
) -> Response {
    if !app.sessions.pre_csrf_ok(&headers, &f.csrf) {
        return refused();
    }
    let again = |status: StatusCode, error: &str| {
        form_page(&app, &headers, status, |csrf| {
            pages::account_form(false, Some(error), &f.username, csrf, None)
        })
    };
    if let Err(wait) = app.throttle.log_in(from, &f.username) {
        let (status, _, text) = too_many(wait, "log-ins");
        return again(status, &text);
    }
    match accounts::log_in(&app.store, &app.hasher, &f.username, &f.password).await {
        Ok(user) => {
            app.throttle.succeeded(from, &f.username);
            logged_in(&app, &user).await
        }
        Err(e) => {
            if matches!(e, AccountError::BadLogin) {
                app.throttle.failed(&f.username);
            } else {
                app.throttle.not_tried(from);
            }
            again(account_status(&e), &account_message(&e))
        }
    }
}

#[derive(Deserialize)]
struct Csrf {
    csrf: String,
}

async fn logout(State(app): State<Arc<App>>, user: WebUser, Form(f): Form<Csrf>) -> Response {
    if !user.csrf_ok(&f.csrf) {
        return refused();
    }
    if let Err(e) = app.sessions.end(&app.store, &user.session).await {
        return super::error::ApiError::from(e).into_response();
    }
    (
        [(header::SET_COOKIE, app.sessions.end_cookie())],
        Redirect::to("/"),
    )
        .into_response()
}

async fn account(State(app): State<Arc<App>>, user: WebUser) -> Response {
    account_page(&app, &user, None, StatusCode::OK).await
}

async fn account_page(
    app: &App,
    user: &WebUser,
    made: Option<&str>,
    status: StatusCode,
) -> Response {
    let invites = if user.user.admin {
        match app.store.invites(Some(&user.user.id)).await {
            Ok(i) => Some(i),
            Err(e) => return super::error::ApiError::from(e).into_response(),
        }
    } else {
        None
    };
    (
        status,
        Html(pages::account(
            &user.user,
            &user.csrf,
            invites.as_deref(),
            made,
        )),
    )
        .into_response()
}

async fn logout_everywhere(
    State(app): State<Arc<App>>,
    user: WebUser,
    Form(f): Form<Csrf>,
) -> Response {
    if !user.csrf_ok(&f.csrf) {
        return refused();
    }
    if let Err(e) = app.store.log_out_everywhere(&user.user.id).await {
        return super::error::ApiError::from(e).into_response();
    }
    tracing::info!(user = %user.user.id, "logged out everywhere");
    (
        [(header::SET_COOKIE, app.sessions.end_cookie())],
        Redirect::to("/"),
    )
        .into_response()
}

/// An invite link for a new account: its URL (under `--public-url`, else the address the admin
/// reached Drip at) and the token's hash to store.
pub fn invite_link(app: &App, headers: &HeaderMap) -> (String, String) {
    let (token, hash) = accounts::new_token();
    let base = match &app.config.public_url {
        Some(url) => url.clone(),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(String::new, |host| format!("http://{host}")),
    };
    (format!("{base}/signup?invite={token}"), hash)
}

async fn make_invite(
    State(app): State<Arc<App>>,
    user: WebUser,
    headers: HeaderMap,
    Form(f): Form<Csrf>,
) -> Response {
    if !user.csrf_ok(&f.csrf) {
        return refused();
    }
    if !user.user.admin {
        return (StatusCode::FORBIDDEN, "only admins make invites\n").into_response();
    }
    if app.config.signup == Signup::Closed {
        return (
            StatusCode::FORBIDDEN,
            "sign-up is closed: the operator makes invites with `drip admin invite`\n",
        )
            .into_response();
    }
    let (link, hash) = invite_link(&app, &headers);
    let expires = crate::db::now_ms() + INVITE_LIFETIME.as_millis() as i64;
    if let Err(e) = app
        .store
        .add_invite(&hash, Some(&user.user.id), false, expires)
        .await
    {
        return super::error::ApiError::from(e).into_response();
    }
    account_page(&app, &user, Some(&link), StatusCode::CREATED).await
}
