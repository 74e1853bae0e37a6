//! The web UI's routes: landing, sign up, log in and out, the folder browser, a file's page
//! (download, share, revoke, rename, move, delete), what is shared with me, the upload the
//! page's script sends, and the live notices' WebSocket. Every change is a POST carrying the
//! session's CSRF token; a page asked for without a session goes to `/`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Form, FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::pages;
use super::session::Sessions;
use crate::app::App;
use crate::db::User;
use crate::{accounts, paths};

/// The logged-in browser: its user, session cookie value and CSRF token.
pub struct WebUser {
    /// Who.
    pub user: User,
    /// The session's CSRF token.
    pub csrf: String,
}

impl FromRequestParts<Arc<App>> for WebUser {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<WebUser, Redirect> {
        let value = Sessions::cookie(&parts.headers).ok_or(Redirect::to("/"))?;
        let id = app.sessions.user_id(value).ok_or(Redirect::to("/"))?;
        let user = app
            .store
            .user_by_id(&id)
            .await
            .ok()
            .flatten()
            .ok_or(Redirect::to("/"))?;
        Ok(WebUser {
            user,
            csrf: app.sessions.csrf(value),
        })
    }
}

/// The UI's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(landing))
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/files", get(folder))
        // The upload streams past axum's 2 MB default: `api::accept` enforces the limits.
        .route(
            "/files/upload",
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/files/{id}", get(file))
        .route("/files/{id}/download", get(download))
        .route("/files/{id}/request", post(request_download))
        .route("/files/{id}/cached", get(cached))
        .route("/files/{id}/share", post(share))
        .route("/files/{id}/unshare", post(unshare))
        .route("/files/{id}/rename", post(rename))
        .route("/files/{id}/delete", post(delete))
        .route("/shared", get(shared))
        .route("/socket", get(socket))
}

/// The caller's own file `id`, for a form that changes it: `Err` with the refusal if the form
/// does not carry the session's CSRF token; 404 if the file is not the caller's.
async fn own(
    app: &App,
    user: &WebUser,
    id: &str,
    csrf: &str,
) -> Result<Result<crate::db::Media, Response>, ApiError> {
    if csrf != user.csrf {
        return Ok(Err(refused()));
    }
    let m = app
        .store
        .owned(&user.user.id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Ok(m))
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form did not come from this page (CSRF token missing or wrong)\n",
    )
        .into_response()
}

async fn landing(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let logged_in = Sessions::cookie(&headers)
        .and_then(|v| app.sessions.user_id(v))
        .is_some();
    if logged_in {
        Redirect::to("/files").into_response()
    } else {
        Html(pages::landing()).into_response()
    }
}

async fn signup_page() -> Html<String> {
    Html(pages::account_form(true, None, ""))
}

async fn login_page() -> Html<String> {
    Html(pages::account_form(false, None, ""))
}

#[derive(Deserialize)]
struct Account {
    username: String,
    password: String,
    email: Option<String>,
}

fn logged_in(app: &App, user: &User) -> Response {
    (
        [(header::SET_COOKIE, app.sessions.issue(&user.id))],
        Redirect::to("/files"),
    )
        .into_response()
}

async fn signup(State(app): State<Arc<App>>, Form(f): Form<Account>) -> Response {
    let email = f.email.unwrap_or_default();
    match accounts::sign_up(&app.store, &f.username, &f.password, &email).await {
        Ok(user) => logged_in(&app, &user),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Html(pages::account_form(true, Some(&e.to_string()), &f.username)),
        )
            .into_response(),
    }
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<Account>,
) -> Response {
    if !app.sessions.may_try(&f.username, peer.ip()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Html(pages::account_form(
                false,
                Some("too many failed log-ins: wait five minutes"),
                &f.username,
            )),
        )
            .into_response();
    }
    match accounts::log_in(&app.store, &f.username, &f.password).await {
        Ok(user) => logged_in(&app, &user),
        Err(e) => {
            app.sessions.failed(&f.username, peer.ip());
            (
                StatusCode::UNAUTHORIZED,
                Html(pages::account_form(
                    false,
                    Some(&e.to_string()),
                    &f.username,
                )),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct Csrf {
    csrf: String,
}

async fn logout(user: WebUser, Form(f): Form<Csrf>) -> Response {
    if f.csrf != user.csrf {
        return refused();
    }
    ([(header::SET_COOKIE, Sessions::end())], Redirect::to("/")).into_response()
}

#[derive(Deserialize)]
struct FolderQuery {
    path: Option<String>,
}

async fn folder(
    State(app): State<Arc<App>>,
    user: WebUser,
    Query(q): Query<FolderQuery>,
) -> Result<Response, ApiError> {
    let path = q.path.unwrap_or_else(|| paths::ROOT.to_owned());
    let path = path.trim_end_matches('/').to_owned();
    let path = if path.is_empty() {
        paths::ROOT.to_owned()
    } else {
        path
    };
    paths::check_path(&path)?;
    let listing = app.store.list(&user.user.id, &path).await?;
    let files = listing.files().map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the listing is damaged: {e}"),
        )
    })?;
    Ok(Html(pages::folder(
        &user.user,
        &user.csrf,
        &path,
        &files,
        &listing.folders,
    ))
    .into_response())
}

/// The upload form (`multipart/form-data`, fields in the form's order: `csrf`, `path`, then
/// `file`), streamed: the file's bytes go to the spool as they arrive, never held whole. The
/// page's script sends the same form with a progress bar and gets `202 {"id"}`; without the
/// script the browser posts it and is sent back to the folder.
async fn upload(
    State(app): State<Arc<App>>,
    user: WebUser,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let from_script = headers.contains_key("x-requested-with");
    super::upload_form::read(&mut form, async |fields, file| {
        if fields.csrf.as_deref() != Some(user.csrf.as_str()) {
            return Ok(refused());
        }
        let path = fields
            .path
            .ok_or_else(|| ApiError::bad("the upload form has no folder"))?;
        let name = file.file_name().unwrap_or_default().to_owned();
        // A form's length is the whole form's: the file's own is not known until it ends.
        let id = super::api::accept(&app, &user.user, &path, &name, None, Box::pin(file)).await?;
        Ok(if from_script {
            (StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id }))).into_response()
        } else {
            Redirect::to(&format!("/files?path={}", pages::url(&path))).into_response()
        })
    })
    .await
    .map_err(|e| ApiError::bad(e.to_string()))?
}

async fn file(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let m = super::api::readable(&app, &user.user.id, &id).await?;
    let shares = if m.owner_id == user.user.id {
        Some(app.store.shares_of(&id).await?)
    } else {
        None
    };
    Ok(Html(pages::file(
        &user.user,
        &user.csrf,
        &m,
        shares.as_deref(),
        None,
    ))
    .into_response())
}

async fn download(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let m = super::api::readable(&app, &user.user.id, &id).await?;
    let body = super::api::stream_plain(&app, &m).await?;
    Ok(super::api::attachment(&m, body))
}

/// Step one of the two-step download (the page's script posts it and stays on the page).
async fn request_download(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
    Form(f): Form<Csrf>,
) -> Result<Response, ApiError> {
    if f.csrf != user.csrf {
        return Ok(refused());
    }
    let m = super::api::readable(&app, &user.user.id, &id).await?;
    super::api::request_download(&app, m, &user.user.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        "requested: you will be told here when it is ready\n",
    )
        .into_response())
}

/// Step two: the link the "download ready" notice carries.
async fn cached(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let m = super::api::readable(&app, &user.user.id, &id).await?;
    super::api::serve_cached(&app, &m).await
}

#[derive(Deserialize)]
struct Named {
    csrf: String,
    username: String,
}

async fn share(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
    Form(f): Form<Named>,
) -> Result<Response, ApiError> {
    let m = match own(&app, &user, &id, &f.csrf).await? {
        Ok(m) => m,
        Err(refused) => return Ok(refused),
    };
    let error = super::api::share_with(&app, &user.user, &m, &f.username)
        .await
        .err()
        .map(|e| e.1);
    if let Some(e) = error {
        return file_again(&app, &user, &m, &e).await;
    }
    Ok(Redirect::to(&format!("/files/{id}")).into_response())
}

async fn unshare(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
    Form(f): Form<Named>,
) -> Result<Response, ApiError> {
    if let Err(refused) = own(&app, &user, &id, &f.csrf).await? {
        return Ok(refused);
    }
    if let Some(other) = app.store.user_named(&f.username).await? {
        app.store.unshare(&id, &other.id).await?;
    }
    Ok(Redirect::to(&format!("/files/{id}")).into_response())
}

#[derive(Deserialize)]
struct Rename {
    csrf: String,
    name: String,
    path: String,
}

async fn rename(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
    Form(f): Form<Rename>,
) -> Result<Response, ApiError> {
    let m = match own(&app, &user, &id, &f.csrf).await? {
        Ok(m) => m,
        Err(refused) => return Ok(refused),
    };
    let error = match (paths::check_name(&f.name), paths::check_path(&f.path)) {
        (Err(e), _) | (_, Err(e)) => Some(e.to_string()),
        // A sentence for the user; what the database said goes to the log.
        _ => app
            .store
            .rename(&user.user.id, &id, &f.path, &f.name)
            .await
            .err()
            .map(|e| ApiError::from(e).1),
    };
    if let Some(e) = error {
        return file_again(&app, &user, &m, &e).await;
    }
    Ok(Redirect::to(&format!("/files/{id}")).into_response())
}

async fn delete(
    State(app): State<Arc<App>>,
    user: WebUser,
    Path(id): Path<String>,
    Form(f): Form<Csrf>,
) -> Result<Response, ApiError> {
    let m = match own(&app, &user, &id, &f.csrf).await? {
        Ok(m) => m,
        Err(refused) => return Ok(refused),
    };
    super::api::remove_file(&app, &m).await?;
    Ok(Redirect::to(&format!("/files?path={}", pages::url(&m.path))).into_response())
}

/// The owner's file page again, with what was wrong.
async fn file_again(
    app: &App,
    user: &WebUser,
    m: &crate::db::Media,
    error: &str,
) -> Result<Response, ApiError> {
    let shares = app.store.shares_of(&m.id).await?;
    Ok((
        StatusCode::BAD_REQUEST,
        Html(pages::file(
            &user.user,
            &user.csrf,
            m,
            Some(&shares),
            Some(error),
        )),
    )
        .into_response())
}

async fn shared(State(app): State<Arc<App>>, user: WebUser) -> Result<Response, ApiError> {
    let files = app.store.shared_with(&user.user.id).await?;
    Ok(Html(pages::shared(&user.user, &user.csrf, &files)).into_response())
}

/// The live notices: a socket follows its own user's notices only (the user is the session's;
/// there is no topic to ask for).
/// Who opened a socket: a browser's session, or a script's bearer token.
struct SocketUser(User);

impl FromRequestParts<Arc<App>> for SocketUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<SocketUser, ApiError> {
        if let Ok(web) = WebUser::from_request_parts(parts, app).await {
            return Ok(SocketUser(web.user));
        }
        let super::api::ApiUser(user, _) =
            super::api::ApiUser::from_request_parts(parts, app).await?;
        Ok(SocketUser(user))
    }
}

async fn socket(State(app): State<Arc<App>>, user: SocketUser, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| follow(app, user.0, socket))
}

/// A text frame of `value`.
fn frame(value: serde_json::Value) -> WsMessage {
    WsMessage::Text(value.to_string().into())
}

/// The live socket, the book's channels without their hole: the client joins topics by
/// sending `{"join": TOPIC}`, and may join only `user:<its own id>` (its notices; joining it
/// also counts the connection as online) and `presence` (who is online, cluster-wide, sent
/// whenever it changes). Any other topic is answered `{"event": "refused", ...}` and nothing
/// of it is sent.
async fn follow(app: Arc<App>, user: User, mut socket: WebSocket) {
    let own = format!("user:{}", user.id);
    let mut notices = app.notices.follow();
    let mut joined_own = None;
    // Whether it follows presence, and the list it was sent last.
    let mut watching = false;
    let mut presence: Option<Vec<crate::presence::OnlineUser>> = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            notice = notices.recv() => match notice {
                Ok(n) if joined_own.is_some() && n.user_id == user.id => {
                    let mut value = serde_json::to_value(&n).unwrap_or_default();
                    value["event"] = "notice".into();
                    value["topic"] = own.clone().into();
                    if socket.send(frame(value)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick(), if watching => {
                let now = crate::presence::online(&app.node);
                if presence.as_ref() != Some(&now) {
                    let users = serde_json::to_value(&now).unwrap_or_default();
                    presence = Some(now);
                    let value = serde_json::json!({"event": "presence", "topic": "presence", "users": users});
                    if socket.send(frame(value)).await.is_err() {
                        return;
                    }
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let topic = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v.get("join").and_then(|t| t.as_str()).map(str::to_owned));
                    let Some(topic) = topic else {
                        let value = serde_json::json!({"event": "error", "reason": "send {\"join\": TOPIC}"});
                        if socket.send(frame(value)).await.is_err() {
                            return;
                        }
                        continue;
                    };
                    let answer = if topic == own {
                        if joined_own.is_none() {
                            joined_own = Some(crate::presence::join(&app.node, &user.username).await);
                        }
                        serde_json::json!({"event": "joined", "topic": topic})
                    } else if topic == "presence" {
                        // The next tick sends the list.
                        watching = true;
                        presence = None;
                        tick.reset_immediately();
                        serde_json::json!({"event": "joined", "topic": topic})
                    } else {
                        tracing::warn!(user = %user.username, topic = %topic, "a socket asked to join a topic not its own");
                        serde_json::json!({"event": "refused", "topic": topic, "reason": "a socket may join only its own user's topic and presence"})
                    };
                    if socket.send(frame(answer)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
