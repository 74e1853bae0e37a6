//! The API's errors: JSON `{error}` with the status that says what went wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::accounts::AccountError;
use crate::db::DbError;
use crate::paths::PathError;

/// An API error.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    /// 400 with `why`.
    pub fn bad(why: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, why.into())
    }

    /// 404: no such file for this user (whether it exists for another is not said).
    pub fn not_found() -> ApiError {
        ApiError(StatusCode::NOT_FOUND, "no such file".into())
    }

    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "log in first: POST /api/sessions, then Authorization: Bearer TOKEN".into(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::Taken(what) => ApiError(StatusCode::CONFLICT, format!("{what} is taken")),
            other => {
                tracing::error!("{other}");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the metadata database failed".into(),
                )
            }
        }
    }
}

impl From<PathError> for ApiError {
    fn from(e: PathError) -> ApiError {
        ApiError::bad(e.to_string())
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::Invalid(why) => ApiError::bad(why),
            AccountError::BadLogin => ApiError(StatusCode::UNAUTHORIZED, e.to_string()),
            AccountError::Busy => ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            AccountError::InviteOnly | AccountError::BadInvite => {
                ApiError(StatusCode::FORBIDDEN, e.to_string())
            }
            AccountError::Db(d) => d.into(),
        }
    }
}

/// A JSON request body whose refusals are the API's own: 415 without
/// `Content-Type: application/json`, 400 for JSON that does not parse, is not an object (serde
/// would take `[a, b]` for a struct's fields) or does not fit (with what is wrong), 413 past
/// the body limit — each as `{error}`, as the OpenAPI document says.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(v)) if v.is_object() => serde_json::from_value(v)
                .map(ApiJson)
                .map_err(|e| ApiError::bad(format!("the JSON body does not fit: {e}"))),
            Ok(Json(_)) => Err(ApiError::bad("the JSON body is an object")),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON, with Content-Type: application/json".into(),
            )),
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the JSON body is too large".into(),
            )),
            Err(e) => Err(ApiError::bad(e.body_text())),
        }
    }
}

/// A query string whose refusal is the API's own 400 `{error}`.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad(e.body_text()))
    }
}
