//! The web UI's routes: landing, sign up, log in and out, the folder browser, a file's page
//! (download, share, revoke, rename, move, delete), what is shared with me, the upload the
//! page's script sends, and the live notices' WebSocket. Every change is a POST carrying the
//! session's CSRF token; a page asked for without a session goes to `/`.

use std::sync::Arc;

use axum::extract::{Form, FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::error::ApiError;
use super::pages;
use super::session::Sessions;
use crate::app::App;
use crate::db::User;
use crate::paths;
use subtle::ConstantTimeEq;

/// The logged-in browser: its user, session cookie value and CSRF token.
pub struct WebUser {
    /// Who.
    pub user: User,
    /// The session cookie's value.
    pub session: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl WebUser {
    /// Whether a form's `token` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, token: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

impl FromRequestParts<Arc<App>> for WebUser {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<WebUser, Redirect> {
        let value = Sessions::cookie(&parts.headers).ok_or(Redirect::to("/"))?;
        let user = app
            .sessions
            .user(&app.store, value)
            .await
            .ok()
            .flatten()
            .ok_or(Redirect::to("/"))?;
        Ok(WebUser {
            user,
            csrf: app.sessions.csrf(value),
            session: value.to_owned(),
        })
    }
}

/// The UI's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/files", get(folder))
        // The upload streams past axum's 2 MB default: `arrival::accept` enforces the limits.
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
}

/// The caller's own file `id`, for a form that changes it: `Err` with the refusal if the form
/// does not carry the session's CSRF token; 404 if the file is not the caller's.
async fn own(
    app: &App,
    user: &WebUser,
    id: &str,
    csrf: &str,
) -> Result<Result<crate::db::Media, Response>, ApiError> {
    if !user.csrf_ok(csrf) {
        return Ok(Err(refused()));
    }
    let m = app
        .store
        .owned(&user.user.id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Ok(m))
}

/// 403: a form without its page's CSRF token.
pub fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form did not come from this page (CSRF token missing or wrong)\n",
    )
        .into_response()
}

#[derive(Deserialize)]
struct Csrf {
    csrf: String,
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
/// page's script sends the same form with a progress bar and gets `201` with the file once it
/// is stored (as the API answers); without the script the browser posts it and, once it is
/// stored, is sent back to the folder.
async fn upload(
    State(app): State<Arc<App>>,
    user: WebUser,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let from_script = headers.contains_key("x-requested-with");
    super::upload_form::read(&mut form, async |fields, file| {
        if !fields.csrf.as_deref().is_some_and(|c| user.csrf_ok(c)) {
            return Ok(refused());
        }
        let path = fields
            .path
            .ok_or_else(|| ApiError::bad("the upload form has no folder"))?;
        let name = file.file_name().unwrap_or_default().to_owned();
        // A form's length is the whole form's: the file's own is not known until it ends.
        let media =
            crate::arrival::accept(&app, &user.user, &path, &name, None, Box::pin(file)).await?;
        Ok(if from_script {
            super::api::created(&media)
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
    if !user.csrf_ok(&f.csrf) {
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
