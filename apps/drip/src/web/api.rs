//! The JSON API (for scripts and the CLI), bearer tokens from `POST /api/sessions`. Every file
//! route looks the file up as the caller's (owned, or shared with it for reading): another
//! user's file is "no such file", 404, whether or not it exists.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;

use super::client::ClientAddr;
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::accounts::AccountError;
use crate::app::{self, App};
use crate::arrival::{self, ArrivalError};
use crate::config::Signup;
use crate::db::{Media, User};
use crate::notify::Notice;
use crate::{accounts, crypto, paths};

/// The caller, from its bearer token.
pub struct ApiUser(pub User, pub String);

impl FromRequestParts<Arc<App>> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<ApiUser, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let hash = accounts::token_hash(token);
        match app.store.token_user(&hash).await? {
            Some(user) => Ok(ApiUser(user, hash)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// The API's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/users", post(sign_up))
        .route("/api/sessions", post(log_in).delete(log_out))
        .route("/api/files", get(list).post(upload))
        .route(
            "/api/files/{id}",
            get(metadata).patch(change).delete(remove),
        )
        .route("/api/files/{id}/content", get(content))
        .route("/api/files/{id}/download", post(ask_download))
        .route("/api/files/{id}/cached", get(cached))
        .route("/api/files/{id}/shares", post(share))
        .route("/api/files/{id}/shares/{username}", delete(unshare))
        .route("/api/shared", get(shared))
        .route("/api/openapi.json", get(openapi))
}

#[derive(Deserialize)]
struct SignUp {
    username: String,
    password: String,
    email: String,
    /// An invite's token, where sign-up needs one.
    invite: Option<String>,
}

async fn sign_up(
    State(app): State<Arc<App>>,
    from: ClientAddr,
    ApiJson(form): ApiJson<SignUp>,
) -> Result<Response, ApiError> {
    let invite = form.invite.as_deref().filter(|i| !i.is_empty());
    if invite.is_none() && app.config.signup != Signup::Open {
        return Err(AccountError::InviteOnly.into());
    }
    if let Err(wait) = app.throttle.sign_up(from) {
        return Ok(too_many(wait, "sign-ups from your address"));
    }
    let user = accounts::sign_up(
        &app.store,
        &app.hasher,
        &form.username,
        &form.password,
        &form.email,
        invite,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": user.id, "username": user.username })),
    )
        .into_response())
}

/// 429 with `Retry-After` and the API's error body.
fn too_many(wait: std::time::Duration, what: &str) -> Response {
    let (status, headers, text) = super::account::too_many(wait, what);
    (status, headers, Json(serde_json::json!({ "error": text }))).into_response()
}

#[derive(Deserialize)]
struct LogIn {
    username: String,
    password: String,
}

async fn log_in(
    State(app): State<Arc<App>>,
    from: ClientAddr,
    ApiJson(form): ApiJson<LogIn>,
) -> Result<Response, ApiError> {
    if let Err(wait) = app.throttle.log_in(from, &form.username) {
        return Ok(too_many(wait, "log-ins"));
    }
    let user = match accounts::log_in(&app.store, &app.hasher, &form.username, &form.password).await
    {
        Ok(u) => u,
        Err(e) => {
            if matches!(e, AccountError::BadLogin) {
                app.throttle.failed(&form.username);
            } else {
                app.throttle.not_tried(from);
            }
            return Err(e.into());
        }
    };
    app.throttle.succeeded(from, &form.username);
    let (token, hash) = accounts::new_token();
    let expires = crate::db::now_ms() + accounts::TOKEN_LIFETIME.as_millis() as i64;
    app.store.add_token(&hash, &user.id, expires).await?;
    Ok(Json(serde_json::json!({ "token": token, "expires_at": expires })).into_response())
}

async fn log_out(
    State(app): State<Arc<App>>,
    ApiUser(_, hash): ApiUser,
) -> Result<StatusCode, ApiError> {
    app.store.remove_token(&hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Folder {
    path: Option<String>,
}

async fn list(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    ApiQuery(q): ApiQuery<Folder>,
) -> Result<Response, ApiError> {
    let path = q.path.unwrap_or_else(|| paths::ROOT.to_owned());
    paths::check_path(&path)?;
    let listing = app.store.list(&user.id, &path).await?;
    // The files' JSON as the database made it, spliced in whole.
    let body = format!(
        "{{\"path\":{},\"files\":{},\"folders\":{}}}",
        serde_json::Value::from(path),
        listing.files,
        serde_json::to_string(&listing.folders).unwrap_or_else(|_| "[]".to_owned()),
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Deserialize)]
struct Target {
    path: Option<String>,
    name: Option<String>,
}

/// `POST /api/files?path=$/a&name=x.bin` with the bytes as the body: spooled as they come
/// (never held whole), then handed to the upload pipeline; answered once it is stored, `201
/// Created` with the file as `GET /api/files/{id}` shows it (and a `Location` naming that),
/// or with the error that failed it. With a Content-Length, a taken name or an upload over
/// the quota is refused before its body is read.
async fn upload(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    ApiQuery(q): ApiQuery<Target>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = q.path.unwrap_or_else(|| paths::ROOT.to_owned());
    let name = q.name.ok_or_else(|| ApiError::bad("name= is missing"))?;
    // The declared length (hyper has checked it), read from the header: the body reaches us
    // wrapped in the stall timeout, which does not pass its size on.
    let expected = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let media =
        arrival::accept(&app, &user, &path, &name, expected, body.into_data_stream()).await?;
    Ok(created(&media))
}

/// `201 Created` with `media`, and its `Location`.
pub fn created(media: &Media) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/files/{}", media.id))],
        Json(media),
    )
        .into_response()
}

impl From<ArrivalError> for ApiError {
    fn from(e: ArrivalError) -> ApiError {
        let status = match &e {
            ArrivalError::Path(_) | ArrivalError::BrokeOff(_) => StatusCode::BAD_REQUEST,
            ArrivalError::TooLarge(_) | ArrivalError::OverQuota(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ArrivalError::Taken | ArrivalError::Gone => StatusCode::CONFLICT,
            ArrivalError::NoRoom => StatusCode::INSUFFICIENT_STORAGE,
            ArrivalError::Db(_) | ArrivalError::Storage | ArrivalError::StillStoring => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(inner) = std::error::Error::source(&e) {
            tracing::warn!("an upload was refused: {e}: {inner}");
        }
        ApiError(status, e.to_string())
    }
}

async fn metadata(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Media>, ApiError> {
    app.store
        .readable(&user.id, &id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// A stored file's bytes, decrypted as they stream from storage. A chunk that does not verify
/// ends the body there (the client sees it cut short); nothing unverified is ever sent.
pub async fn stream_plain(app: &App, media: &Media) -> Result<Body, ApiError> {
    if media.uploaded_at.is_none() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "that file is not stored yet".into(),
        ));
    }
    let key = app.file_key(media).map_err(|e| {
        tracing::error!(media = %media.id, "{e}");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the file's key does not open: tell the operator".into(),
        )
    })?;
    let stored = app
        .storage
        .read(&media.storage_key)
        .await
        .map_err(unavailable)?;
    let plain = opened(stored, crypto::Decryptor::new(&key, &media.id));
    Ok(Body::from_stream(plain))
}

/// Stored bytes gathered into batches of this many before they are opened.
const OPEN_BATCH: usize = 4 << 20;

/// `stored` opened by `opener` as it comes: its pieces gathered into batches (so every core
/// opens a batch's chunks together), each opened on a blocking thread. The first chunk that
/// does not verify ends the stream with an error, so nothing unverified is sent.
fn opened(
    mut stored: futures::stream::BoxStream<
        'static,
        Result<bytes::Bytes, crate::storage::StorageError>,
    >,
    opener: crypto::Decryptor,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let mut opener = opener;
        loop {
            let mut batch = Vec::new();
            let mut ended = false;
            while batch.len() < OPEN_BATCH {
                match stored.next().await {
                    Some(Ok(piece)) => batch.extend_from_slice(&piece),
                    Some(Err(e)) => {
                        tracing::warn!("a download is cut short: the storage failed: {e}");
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            let opened = tokio::task::spawn_blocking(move || {
                let mut plain = opener.push(&batch)?;
                if ended {
                    plain.extend(opener.finish()?);
                    return Ok((plain, None));
                }
                Ok::<_, crypto::CryptoError>((plain, Some(opener)))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r.map_err(std::io::Error::other));
            let (plain, next) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::warn!("a download is cut short: a chunk does not open: {e}");
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let sent = tx.send(Ok(bytes::Bytes::from(plain))).await.is_ok();
            match next {
                Some(next) if sent => opener = next,
                _ => return,
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A download response: the streamed bytes as an attachment named as the file.
pub fn attachment(media: &Media, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, media.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    media.name.replace(['"', '\\'], "_")
                ),
            ),
        ],
        body,
    )
        .into_response()
}

async fn content(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let media = readable(&app, &user.id, &id).await?;
    let body = stream_plain(&app, &media).await?;
    Ok(attachment(&media, body))
}

#[derive(Deserialize)]
struct Change {
    name: Option<String>,
    path: Option<String>,
}

async fn change(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<Change>,
) -> Result<Json<Media>, ApiError> {
    let media = app
        .store
        .owned(&user.id, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let name = c.name.unwrap_or(media.name);
    let path = c.path.unwrap_or(media.path);
    paths::check_name(&name)?;
    paths::check_path(&path)?;
    app.store.rename(&user.id, &id, &path, &name).await?;
    app.store
        .owned(&user.id, &id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn remove(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let media = app
        .store
        .owned(&user.id, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if media.uploaded_at.is_none() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "that file is still being stored".into(),
        ));
    }
    remove_file(&app, &media).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The file `id` as `user_id` may read it (its own, or shared with it): "no such file"
/// otherwise, whether or not it exists.
pub async fn readable(app: &App, user_id: &str, id: &str) -> Result<Media, ApiError> {
    app.store
        .readable(user_id, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// 503 with the sentence users get; what failed goes to the log.
fn unavailable(e: crate::storage::StorageError) -> ApiError {
    tracing::warn!("{e}");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        crate::storage::UNAVAILABLE.into(),
    )
}

/// Deletes a stored file: its object, then its row, then its download cache wherever it runs.
pub async fn remove_file(app: &App, media: &Media) -> Result<(), ApiError> {
    if media.uploaded_at.is_none() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "that file is still being stored".into(),
        ));
    }
    app.storage
        .delete(&media.storage_key)
        .await
        .map_err(unavailable)?;
    app.store.delete_media(&media.id).await?;
    crate::cache::expire(app, &media.id).await;
    Ok(())
}

/// The two-step download's first step: the caller asks for a stored file; the "download
/// ready" notice with its link follows on the caller's socket.
pub async fn request_download(app: &App, media: Media, user_id: &str) -> Result<(), ApiError> {
    if media.uploaded_at.is_none() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "that file is not stored yet".into(),
        ));
    }
    match app::request_download(app, media, user_id).await {
        app::Asked::Ready | app::Asked::Queued => Ok(()),
        app::Asked::TooMany => Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "you have {} downloads on their way already: wait for them to be ready",
                crate::pipeline::download::MAX_ASKED
            ),
        )),
        app::Asked::Unavailable => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "downloads are starting again: try again in a moment".into(),
        )),
    }
}

/// The two-step download's link: the file from its cache, wherever in the cluster it runs (a
/// file too large to keep streams from storage); 410 once the cache has expired.
pub async fn serve_cached(app: &App, media: &Media) -> Result<Response, ApiError> {
    match crate::cache::get(app, &media.id).await {
        Some(crate::cache::Cached::Bytes(bytes)) => Ok(attachment(media, Body::from(bytes))),
        Some(crate::cache::Cached::Stream) => {
            Ok(attachment(media, stream_plain(app, media).await?))
        }
        None => Err(ApiError(
            StatusCode::GONE,
            "this download link has expired: request the download again".into(),
        )),
    }
}

async fn ask_download(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let media = readable(&app, &user.id, &id).await?;
    let link = format!("/api/files/{id}/cached");
    request_download(&app, media, &user.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "requested": id, "link": link })),
    )
        .into_response())
}

async fn cached(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let media = readable(&app, &user.id, &id).await?;
    serve_cached(&app, &media).await
}

#[derive(Deserialize)]
struct ShareWith {
    username: String,
}

async fn share(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path(id): Path<String>,
    ApiJson(s): ApiJson<ShareWith>,
) -> Result<StatusCode, ApiError> {
    let media = app
        .store
        .owned(&user.id, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    share_with(&app, &user, &media, &s.username).await?;
    Ok(StatusCode::CREATED)
}

/// Shares `media` (`owner`'s) with the user named `username`, who is told at once. 422 for no
/// such user (the file exists; the body names someone who does not), 400 for the owner's own
/// name, 409 for a share that exists.
pub async fn share_with(
    app: &App,
    owner: &User,
    media: &Media,
    username: &str,
) -> Result<(), ApiError> {
    let other = app
        .store
        .user_named(username)
        .await?
        .ok_or_else(|| ApiError(StatusCode::UNPROCESSABLE_ENTITY, "no such user".into()))?;
    if other.id == owner.id {
        return Err(ApiError::bad("a file is yours already"));
    }
    app.store.share(&media.id, &other.id).await?;
    app.notices.send(Notice {
        user_id: other.id,
        kind: "shared".into(),
        text: format!("{} shared {} with you", owner.username, media.name),
        media_id: Some(media.id.clone()),
        link: Some(format!("/files/{}", media.id)),
    });
    Ok(())
}

async fn unshare(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
    Path((id, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.store
        .owned(&user.id, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let other = app
        .store
        .user_named(&username)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such user".into()))?;
    if app.store.unshare(&id, &other.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            "that file is not shared with that user".into(),
        ))
    }
}

async fn shared(
    State(app): State<Arc<App>>,
    ApiUser(user, _): ApiUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let files: Vec<serde_json::Value> = app
        .store
        .shared_with(&user.id)
        .await?
        .into_iter()
        .map(|(m, owner)| serde_json::json!({ "file": m, "owner": owner }))
        .collect();
    Ok(Json(serde_json::json!({ "files": files })))
}

/// `GET /api/openapi.json`: the API described (OpenAPI 3.0).
async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}
