//! The UI's upload form, `multipart/form-data` with its fields in the form's order: the small
//! ones first (`csrf`, `path`: each read whole, but never past [`FIELD_LIMIT`] bytes), then
//! `file`, handed on unread so its bytes stream to the spool. Fields of other names are
//! skipped, but bounded as the small ones are: each at most [`FIELD_LIMIT`] bytes, and at most
//! [`MAX_FIELDS`] fields before the file (the route's body is not limited, so a form of
//! endless small fields would otherwise be read for ever).

use axum::extract::multipart::{Field, Multipart, MultipartError};
use thiserror::Error;

/// The most a small field may hold (a path is at most `paths::MAX_PATH` bytes).
pub const FIELD_LIMIT: usize = 4096;
/// The most fields before `file` (the form has two; a browser may add a button's).
pub const MAX_FIELDS: usize = 8;

/// Why the form is refused.
#[derive(Debug, Error)]
pub enum FormError {
    /// Not valid multipart.
    #[error("the upload form is malformed: {0}")]
    Malformed(#[from] MultipartError),
    /// A small field over [`FIELD_LIMIT`], or not UTF-8.
    #[error("the upload form's {0} field is too long or not text")]
    BadField(&'static str),
    /// No `file` field.
    #[error("the upload form has no file")]
    NoFile,
    /// More than [`MAX_FIELDS`] fields before the file.
    #[error("the upload form has too many fields")]
    TooManyFields,
}

/// The small fields, as far as they came before the file.
#[derive(Debug, Default)]
pub struct Fields {
    /// The `csrf` field.
    pub csrf: Option<String>,
    /// The `path` field.
    pub path: Option<String>,
}

/// Reads `form` up to its `file` field and hands that, unread, to `on_file` with the small
/// fields before it; what `on_file` makes.
pub async fn read<T>(
    form: &mut Multipart,
    on_file: impl AsyncFnOnce(Fields, Field<'_>) -> T,
) -> Result<T, FormError> {
    let mut fields = Fields::default();
    for _ in 0..=MAX_FIELDS {
        let Some(field) = form.next_field().await? else {
            return Err(FormError::NoFile);
        };
        match field.name() {
            Some("csrf") => fields.csrf = Some(small(field, "csrf").await?),
            Some("path") => fields.path = Some(small(field, "path").await?),
            Some("file") => return Ok(on_file(fields, field).await),
            _ => {
                small(field, "other").await?;
            }
        }
    }
    Err(FormError::TooManyFields)
}

/// A small field's text, refused past [`FIELD_LIMIT`] bytes before more is read.
async fn small(mut field: Field<'_>, name: &'static str) -> Result<String, FormError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if bytes.len() + chunk.len() > FIELD_LIMIT {
            return Err(FormError::BadField(name));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| FormError::BadField(name))
}
