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
