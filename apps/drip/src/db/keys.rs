//! The store's side of a master key rotation: every file's wrapped key, a page at a time, and
//! replacing one only if it is still what was read.

use sqlx::Row;

use super::{DbError, Store};

/// One file's wrapped key, with what it is bound to.
#[derive(Clone, Debug)]
pub struct WrappedKey {
    /// The file.
    pub media_id: String,
    /// Its owner.
    pub owner_id: String,
    /// Its key, wrapped, as hex.
    pub wrapped_key: String,
}

impl Store {
    /// Up to `limit` files' wrapped keys, in id order, after `after` (from the start for "").
    pub async fn wrapped_keys(&self, after: &str, limit: i64) -> Result<Vec<WrappedKey>, DbError> {
        let rows = sqlx::query(
            "SELECT id, owner_id, wrapped_key FROM media WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WrappedKey {
                    media_id: r.try_get("id")?,
                    owner_id: r.try_get("owner_id")?,
                    wrapped_key: r.try_get("wrapped_key")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Replaces a file's wrapped key, if it is still `was`; whether it did.
    pub async fn rewrap(&self, media_id: &str, was: &str, now: &str) -> Result<bool, DbError> {
        let done =
            sqlx::query("UPDATE media SET wrapped_key = $1 WHERE id = $2 AND wrapped_key = $3")
                .bind(now)
                .bind(media_id)
                .bind(was)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
