//! The store's side of an upload's life. Its row goes in *before* its body is read
//! ([`Store::reserve`]), `receiving`, holding room against its owner's quota; the room grows
//! as bytes arrive ([`Store::reserve_more`]); once the body is whole and spooled the row is
//! `queued` with its real size ([`Store::received`]) and the pipeline has it; its Notifier
//! marks it `stored` ([`Store::stored`]), and only then is the client answered. So the quota
//! counts every upload under way, a taken name is refused before any byte, the spool janitor
//! always sees a row for a file still arriving, and a node starting again tells an upload
//! still arriving (dropped) from one whose bytes were whole (taken up again):
//! [`Store::unfinished`].
//!
//! A row under way is leased by its node (`pipeline_node`) until `lease_until`: the node
//! moves it on while it runs ([`Store::renew`]), and a row whose lease ran out (its node was
//! killed, or cut off from the database) is removed by any node's janitor
//! ([`Store::expired`], [`Store::reap`]), so its name and its quota are free again. A node
//! that comes back after that finds the row gone at its next step and gives its attempt up.
//!
//! A reservation is one transaction that first writes its user's row
//! (`users.quota_checked_at`), which locks it: two reservations for one user take turns,
//! whichever node of a shared PostgreSQL makes them (SQLite has one writer at a time anyway),
//! so the sum they check cannot change under them.

use sqlx::Row;

use super::{media, now_ms, unique, DbError, Media, Store, MEDIA};

/// Where an upload is, as its row's `upload_state` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadState {
    /// Its body is arriving and its client has had no answer.
    Receiving,
    /// Its body is whole and spooled: the upload pipeline has it (its client waits for the
    /// answer until it is stored).
    Queued,
    /// Stored.
    Stored,
}

impl UploadState {
    /// As the column holds it.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Receiving => "receiving",
            UploadState::Queued => "queued",
            UploadState::Stored => "stored",
        }
    }

    fn parse(s: &str) -> UploadState {
        match s {
            "receiving" => UploadState::Receiving,
            "queued" => UploadState::Queued,
            _ => UploadState::Stored,
        }
    }
}

/// Room asked of a user's quota: at least `needed` bytes, up to `wanted` if there is room.
#[derive(Clone, Copy, Debug)]
pub struct Ask {
    /// Less than this is a refusal.
    pub needed: u64,
    /// As much as this if the quota leaves it.
    pub wanted: u64,
    /// The user's quota.
    pub quota: u64,
    /// The row's lease runs until then (ms since the epoch).
    pub lease_until: i64,
}

/// What a reservation got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Room for this many bytes (between what was needed and what was wanted).
    Granted(u64),
    /// Not even what was needed fits: this many bytes are left.
    OverQuota {
        /// Bytes the quota has left for this upload.
        left: u64,
    },
    /// The upload's row (or its user) is gone: it was given up meanwhile.
    Gone,
}

/// What marking a file stored found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marked {
    /// Marked now.
    Stored,
    /// Marked before (by another attempt, or by this one's earlier try), naming this object.
    AlreadyStored(String),
    /// Its row is gone (deleted, or its upload given up).
    Gone,
}

/// A file's row as `drip check` compares it with storage and the spool.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The file's id.
    pub id: String,
    /// `path/name`.
    pub full_path: String,
    /// Its object's key.
    pub storage_key: String,
    /// Where its upload is.
    pub state: UploadState,
    /// The node whose upload it is, while under way.
    pub node: Option<String>,
    /// Its lease, while under way (ms since the epoch).
    pub lease_until: Option<i64>,
}

/// A row under way whose lease ran out: what its removal frees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    /// The file's id.
    pub id: String,
    /// Its row's object key: its attempts' objects are this, `.`, the attempt.
    pub storage_key: String,
    /// The node that held it.
    pub node: Option<String>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Puts in `m`'s row, `receiving` on this node, holding the room `ask` gets; `Taken` if
    /// its folder has its name.
    pub async fn reserve(&self, m: &Media, ask: Ask) -> Result<Reserved, DbError> {
        self.reservation(m, ask, true).await
    }

    /// Grows (or sets) the room `m`'s receiving row holds.
    pub async fn reserve_more(&self, m: &Media, ask: Ask) -> Result<Reserved, DbError> {
        self.reservation(m, ask, false).await
    }

    async fn reservation(&self, m: &Media, ask: Ask, insert: bool) -> Result<Reserved, DbError> {
        let mut tx = self.pool.begin().await?;
        // First, the lock: this user's reservations take turns from here to the commit.
        let locked = sqlx::query("UPDATE users SET quota_checked_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&m.owner_id)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() != 1 {
            return Ok(Reserved::Gone);
        }
        let used: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) AS used FROM media WHERE owner_id = $1 AND id <> $2",
        )
        .bind(&m.owner_id)
        .bind(&m.id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("used")?;
        let left = ask.quota.saturating_sub(used.max(0).unsigned_abs());
        if left < ask.needed {
            return Ok(Reserved::OverQuota { left });
        }
        let granted = ask.wanted.min(left).max(ask.needed);
        if insert {
            sqlx::query(
                "INSERT INTO media (id, owner_id, file_name, path, file_size, storage_key, wrapped_key, uploaded_at, pipeline_node, inserted_at, upload_state, lease_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, 'receiving', $10)",
            )
            .bind(&m.id)
            .bind(&m.owner_id)
            .bind(&m.name)
            .bind(&m.path)
            .bind(to_i64(granted))
            .bind(&m.storage_key)
            .bind(&m.wrapped_key)
            .bind(&m.pipeline_node)
            .bind(now_ms())
            .bind(ask.lease_until)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "that name in this folder"))?;
        } else {
            let grown = sqlx::query(
                "UPDATE media SET file_size = $1, lease_until = $2 WHERE id = $3 AND upload_state = 'receiving'",
            )
            .bind(to_i64(granted))
            .bind(ask.lease_until)
            .bind(&m.id)
            .execute(&mut *tx)
            .await?;
            if grown.rows_affected() != 1 {
                return Ok(Reserved::Gone);
            }
        }
        tx.commit().await?;
        Ok(Reserved::Granted(granted))
    }

    /// The body of `id` is whole and spooled: its row is `queued`, its size the real one.
    /// Whether its row was still there, receiving.
    pub async fn received(&self, id: &str, size: u64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE media SET upload_state = 'queued', file_size = $1 WHERE id = $2 AND upload_state = 'receiving'",
        )
        .bind(to_i64(size))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Drops the row of an upload not stored: still `receiving`, or `queued` by a request
    /// that was dropped before it could queue it.
    pub async fn abandon(&self, id: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM media WHERE id = $1 AND upload_state IN ('receiving', 'queued')")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a file stored, with its final size and the object that holds it (once: an
    /// attempt that finds it stored already changes nothing).
    pub async fn stored(&self, id: &str, size: i64, object: &str) -> Result<Marked, DbError> {
        let done = sqlx::query(
            "UPDATE media SET uploaded_at = $1, file_size = $2, storage_key = $3, pipeline_node = NULL, lease_until = NULL, upload_state = 'stored' \
             WHERE id = $4 AND upload_state <> 'stored'",
        )
        .bind(now_ms())
        .bind(size)
        .bind(object)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Marked::Stored);
        }
        let there = sqlx::query("SELECT storage_key FROM media WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match there {
            Some(row) => Marked::AlreadyStored(row.try_get("storage_key")?),
            None => Marked::Gone,
        })
    }

    /// The uploads `node` had under way when it stopped, each with where it was.
    pub async fn unfinished(&self, node: &str) -> Result<Vec<(Media, UploadState)>, DbError> {
        let rows = sqlx::query(&format!(
            "{}, upload_state FROM media WHERE uploaded_at IS NULL AND pipeline_node = $1",
            MEDIA.trim_end_matches(" FROM media")
        ))
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("upload_state")?;
                Ok((media(r)?, UploadState::parse(&state)))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The ids of `node`'s uploads still receiving whose rows went in before `before`
    /// (milliseconds since the epoch).
    pub async fn receiving_before(&self, node: &str, before: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT id FROM media WHERE upload_state = 'receiving' AND pipeline_node = $1 AND inserted_at < $2",
        )
        .bind(node)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Moves the lease of every row `node` has under way on to `until` (ms since the epoch):
    /// how many it holds.
    pub async fn renew(&self, node: &str, until: i64) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE media SET lease_until = $1 WHERE pipeline_node = $2 AND upload_state <> 'stored'",
        )
        .bind(until)
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The rows under way whose lease ran out before `now` (ms since the epoch).
    pub async fn expired(&self, now: i64) -> Result<Vec<Expired>, DbError> {
        let rows = sqlx::query(
            "SELECT id, storage_key, pipeline_node FROM media WHERE lease_until < $1 AND upload_state <> 'stored'",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Expired {
                    id: r.try_get("id")?,
                    storage_key: r.try_get("storage_key")?,
                    node: r.try_get("pipeline_node")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Removes the row `id` (and its shares) if it is still under way with its lease run out
    /// before `now`: whether it did. Its node, if it comes back, finds it gone.
    pub async fn reap(&self, id: &str, now: i64) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM shares WHERE media_id IN (SELECT id FROM media WHERE id = $1 AND lease_until < $2 AND upload_state <> 'stored')",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM media WHERE id = $1 AND lease_until < $2 AND upload_state <> 'stored'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every file's row, for `drip check`.
    pub async fn entries(&self) -> Result<Vec<Entry>, DbError> {
        let rows = sqlx::query(
            "SELECT id, path, file_name, storage_key, upload_state, pipeline_node, lease_until FROM media ORDER BY path, file_name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let path: String = r.try_get("path")?;
                let name: String = r.try_get("file_name")?;
                let state: String = r.try_get("upload_state")?;
                Ok(Entry {
                    id: r.try_get("id")?,
                    full_path: crate::paths::join(&path, &name),
                    storage_key: r.try_get("storage_key")?,
                    state: UploadState::parse(&state),
                    node: r.try_get("pipeline_node")?,
                    lease_until: r.try_get("lease_until")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }
}

impl DbError {
    /// Whether trying again may work: the database unreachable, restarting, busy or the
    /// connection lost (PostgreSQL's class 08, 57P0x, serialization failures and too many
    /// connections; SQLite's busy and locked), or its disk full.
    pub fn is_transient(&self) -> bool {
        let DbError::Sqlx(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => match code(d.code().as_deref()) {
                Code::Postgres(c) => {
                    c.starts_with("08")
                        || c.starts_with("57P0")
                        || matches!(c, "40001" | "40P01" | "53300" | "53100")
                }
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL (primary codes of the extended).
                Code::Sqlite(n) => matches!(n & 0xff, 5 | 6 | 13),
                Code::None => false,
            },
            _ => false,
        }
    }

    /// Whether the database's disk is full (SQLite's SQLITE_FULL, PostgreSQL's disk_full).
    pub fn is_full(&self) -> bool {
        match self {
            DbError::Sqlx(sqlx::Error::Database(d)) => match code(d.code().as_deref()) {
                Code::Postgres(c) => c == "53100",
                Code::Sqlite(n) => n & 0xff == 13,
                Code::None => false,
            },
            _ => false,
        }
    }
}

/// A database error's code: PostgreSQL's SQLSTATE (five characters) or SQLite's extended
/// result code (a number).
enum Code<'a> {
    Postgres(&'a str),
    Sqlite(i32),
    None,
}

fn code(code: Option<&str>) -> Code<'_> {
    match code {
        Some(c) if c.len() == 5 => Code::Postgres(c),
        Some(c) => c.parse().map_or(Code::None, Code::Sqlite),
        None => Code::None,
    }
}
