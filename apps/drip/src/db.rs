//! The metadata store (sqlx, SQLite or PostgreSQL through sqlx's `Any` driver, migrations
//! embedded from `migrations/`): users, their media, shares and API tokens. Every query a
//! user's request makes is scoped by that user's id here, so no route can reach another
//! user's rows by mistake.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use thiserror::Error;

use crate::paths;

mod accounts;
mod keys;
pub use accounts::Invite;
pub use keys::WrappedKey;
pub mod uploads;

/// What the store could not do.
#[derive(Debug, Error)]
pub enum DbError {
    /// The database said no (or is unreachable).
    #[error("the metadata database failed: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Migrating failed.
    #[error("the metadata database could not be migrated: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique key is taken (a username, a file name in a folder, a share).
    #[error("{0} is taken")]
    Taken(&'static str),
}

/// A user.
#[derive(Clone, Debug)]
pub struct User {
    /// Its id.
    pub id: String,
    /// Its unique name.
    pub username: String,
    /// Its email.
    pub email: String,
    /// Its argon2id PHC string.
    pub password_hash: String,
    /// Whether an operator made it an admin (`drip admin grant`): it may open the node
    /// dashboard and make invites.
    pub admin: bool,
}

/// A file's metadata.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Media {
    /// Its id.
    pub id: String,
    /// Its owner's id.
    #[serde(skip)]
    pub owner_id: String,
    /// Its name.
    pub name: String,
    /// Its folder.
    pub path: String,
    /// `path/name`.
    pub full_path: String,
    /// Plaintext bytes.
    pub size: i64,
    /// Milliseconds since the epoch when it was stored; `None` while the pipeline has it.
    pub uploaded_at: Option<i64>,
    /// The object's key in storage.
    #[serde(skip)]
    pub storage_key: String,
    /// The node whose upload pipeline holds it, until it is stored.
    #[serde(skip)]
    pub pipeline_node: Option<String>,
    /// Its file key, wrapped by the master key, as hex.
    #[serde(skip)]
    pub wrapped_key: String,
}

/// A folder's listing: its files, as the JSON array the database built (`[Listed]`), and
/// the folders below it.
#[derive(Clone, Debug)]
pub struct Listing {
    /// `[{id, name, full_path, size, uploaded_at}]`, in name order.
    pub files: String,
    /// The folders below, in name order.
    pub folders: Vec<paths::Folder>,
}

impl Listing {
    /// The files, parsed.
    pub fn files(&self) -> Result<Vec<Listed>, serde_json::Error> {
        serde_json::from_str(&self.files)
    }
}

/// A file as a folder listing shows it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `path/name`.
    pub full_path: String,
    /// Plaintext bytes.
    pub size: i64,
    /// Milliseconds since the epoch when it was stored; `None` while the pipeline has it.
    pub uploaded_at: Option<i64>,
}

impl Media {
    /// What its key and chunks are bound to.
    pub fn binding(&self) -> crate::crypto::Binding<'_> {
        crate::crypto::Binding {
            media_id: &self.id,
            owner_id: &self.owner_id,
        }
    }
}

fn media(row: &AnyRow) -> Result<Media, sqlx::Error> {
    let path: String = row.try_get("path")?;
    let name: String = row.try_get("file_name")?;
    Ok(Media {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        full_path: paths::join(&path, &name),
        name,
        path,
        size: row.try_get("file_size")?,
        uploaded_at: row.try_get("uploaded_at")?,
        storage_key: row.try_get("storage_key")?,
        pipeline_node: row.try_get("pipeline_node")?,
        wrapped_key: row.try_get("wrapped_key")?,
    })
}

const MEDIA: &str = "SELECT id, owner_id, file_name, path, file_size, uploaded_at, storage_key, wrapped_key, pipeline_node FROM media";

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A fresh random id (128 bits, hex).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the system's randomness");
    hex::encode(b)
}

/// Whether `id` could be one of ours (32 hex digits): anything else is "no such file" without a
/// query (PostgreSQL refuses a NUL in text, which a client can put in a URL).
pub fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `name` could be a username, of today's rules or an older account's: at most 30
/// characters, no control character (so no NUL reaches PostgreSQL).
fn could_be_username(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 30 && !name.chars().any(char::is_control)
}

/// `pattern` for `LIKE … ESCAPE '\'`, matching itself literally.
fn like_literal(pattern: &str) -> String {
    pattern
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn unique(e: sqlx::Error, what: &'static str) -> DbError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Taken(what),
        _ => DbError::Sqlx(e),
    }
}

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite, not PostgreSQL (their JSON functions differ).
    sqlite: bool,
}

/// Drip's schema, in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `url` and runs the migrations.
    pub async fn open(url: &str) -> Result<Store, DbError> {
        let store = Store::connect(url).await?;
        MIGRATOR.run(&store.pool).await?;
        Ok(store)
    }

    /// Opens the database without migrating it, once its schema is this Drip's: a
    /// deployment whose migrations a Job runs (`drip migrate`) starts its pods with
    /// `--migrate false`, and each waits here (saying so once a minute) until the Job is done.
    pub async fn open_migrated_elsewhere(url: &str) -> Result<Store, DbError> {
        let store = Store::connect(url).await?;
        let mut said = None::<std::time::Instant>;
        loop {
            let (applied, wanted) = store.migrations().await;
            if applied >= wanted {
                return Ok(store);
            }
            if said.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60)) {
                tracing::warn!(
                    "the database has {applied} of this Drip's {wanted} migrations: waiting for `drip migrate` (--migrate false)"
                );
                said = Some(std::time::Instant::now());
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }

    /// Migrations applied to the database, and this Drip's (`drip migrate`'s report).
    pub async fn migrations(&self) -> (usize, usize) {
        let wanted: std::collections::HashSet<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        // No table yet is none applied.
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        let applied = applied.iter().filter(|v| wanted.contains(v)).count();
        (applied, wanted.len())
    }

    async fn connect(url: &str) -> Result<Store, DbError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            // One writer at a time is what SQLite does anyway; more connections only wait.
            .max_connections(if sqlite { 4 } else { 16 })
            // Connections a burst opened close once it is over (sqlx keeps idle ones ten
            // minutes): a quiet Drip holds one or two.
            .idle_timeout(std::time::Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Store { pool, sqlite })
    }

    /// A new user; `Taken("the username")` if it exists.
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<User, DbError> {
        let id = new_id();
        sqlx::query("INSERT INTO users (id, username, email, password_hash, inserted_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(username)
            .bind(email)
            .bind(password_hash)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| unique(e, "the username"))?;
        Ok(User {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            admin: false,
        })
    }

    fn user(row: &AnyRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            admin: row.try_get::<i64, _>("admin")? != 0,
        })
    }

    /// The user named `username`.
    pub async fn user_named(&self, username: &str) -> Result<Option<User>, DbError> {
        if !could_be_username(username) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, username, email, password_hash, admin FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Self::user).transpose()?)
    }

    /// The user with `id`.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(
            "SELECT id, username, email, password_hash, admin FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Self::user).transpose()?)
    }

    /// Remembers an API token (by its hash) for `user_id`, good until `expires_at` (ms since
    /// the epoch); the user's expired tokens go.
    pub async fn add_token(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), DbError> {
        self.add_expiring(
            accounts::Expiring::ApiToken,
            token_hash,
            user_id,
            expires_at,
        )
        .await
    }

    /// The user a token (by its hash) belongs to.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.email, u.password_hash, u.admin FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Self::user).transpose()?)
    }

    /// Forgets a token.
    pub async fn remove_token(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a file's row (its shares go with it).
    pub async fn delete_media(&self, id: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM shares WHERE media_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM media WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A file by id, whoever owns it (for the pipelines).
    pub async fn media_by_id(&self, id: &str) -> Result<Option<Media>, DbError> {
        if !is_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(&format!("{MEDIA} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(media).transpose()?)
    }

    /// A file `user_id` may read: its own, or one shared with it.
    pub async fn readable(&self, user_id: &str, id: &str) -> Result<Option<Media>, DbError> {
        if !is_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "{MEDIA} WHERE id = $1 AND (owner_id = $2 OR id IN (SELECT media_id FROM shares WHERE user_id = $2))"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(media).transpose()?)
    }

    /// A file `user_id` owns.
    pub async fn owned(&self, user_id: &str, id: &str) -> Result<Option<Media>, DbError> {
        if !is_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(&format!("{MEDIA} WHERE id = $1 AND owner_id = $2"))
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(media).transpose()?)
    }

    /// The files directly in `folder` (in name order), and the folders below it with their
    /// counts and sizes. The database does the work: the files come from the
    /// `media_listing` index as one JSON array it builds (row by row through sqlx, 10 000
    /// files took 40 ms), the folders summed by path.
    pub async fn list(&self, user_id: &str, folder: &str) -> Result<Listing, DbError> {
        let files = if self.sqlite {
            "SELECT json_group_array(json_object('id', id, 'name', file_name, 'full_path', $3 || file_name, \
             'size', file_size, 'uploaded_at', uploaded_at) ORDER BY file_name) AS files \
             FROM media WHERE owner_id = $1 AND path = $2"
        } else {
            "SELECT COALESCE(json_agg(json_build_object('id', id, 'name', file_name, 'full_path', $3 || file_name, \
             'size', file_size, 'uploaded_at', uploaded_at) ORDER BY file_name), '[]')::text AS files \
             FROM media WHERE owner_id = $1 AND path = $2"
        };
        let files: String = sqlx::query(files)
            .bind(user_id)
            .bind(folder)
            .bind(format!("{folder}/"))
            .fetch_one(&self.pool)
            .await?
            .try_get("files")?;
        let below = format!("{}/%", like_literal(folder));
        let rows = sqlx::query(
            "SELECT path, COUNT(*) AS files, CAST(COALESCE(SUM(file_size), 0) AS BIGINT) AS size \
             FROM media WHERE owner_id = $1 AND path LIKE $2 ESCAPE '\\' GROUP BY path",
        )
        .bind(user_id)
        .bind(&below)
        .fetch_all(&self.pool)
        .await?;
        let sums: Vec<(String, i64, i64)> = rows
            .iter()
            .map(|r| Ok((r.try_get("path")?, r.try_get("files")?, r.try_get("size")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let folders = paths::subfolders(
            folder,
            sums.iter().map(|(p, n, size)| {
                (
                    p.as_str(),
                    n.max(&0).unsigned_abs(),
                    size.max(&0).unsigned_abs(),
                )
            }),
        );
        Ok(Listing { files, folders })
    }

    /// The files shared with `user_id`, with their owners' names.
    pub async fn shared_with(&self, user_id: &str) -> Result<Vec<(Media, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT m.id, m.owner_id, m.file_name, m.path, m.file_size, m.uploaded_at, m.storage_key, m.wrapped_key, m.pipeline_node, u.username \
             FROM shares s JOIN media m ON m.id = s.media_id JOIN users u ON u.id = m.owner_id WHERE s.user_id = $1 ORDER BY m.file_name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((media(r)?, r.try_get("username")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The usernames a file is shared with.
    pub async fn shares_of(&self, media_id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT u.username FROM shares s JOIN users u ON u.id = s.user_id WHERE s.media_id = $1 ORDER BY u.username",
        )
        .bind(media_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("username"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Bytes `user_id` stores (or has on its way).
    pub async fn used(&self, user_id: &str) -> Result<i64, DbError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) AS used FROM media WHERE owner_id = $1",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("used")?)
    }

    /// Renames or moves a file `user_id` owns.
    pub async fn rename(
        &self,
        user_id: &str,
        id: &str,
        path: &str,
        name: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE media SET path = $1, file_name = $2 WHERE id = $3 AND owner_id = $4",
        )
        .bind(path)
        .bind(name)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(|e| unique(e, "that name in this folder"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Shares a file with a user.
    pub async fn share(&self, media_id: &str, user_id: &str) -> Result<(), DbError> {
        sqlx::query("INSERT INTO shares (media_id, user_id, inserted_at) VALUES ($1, $2, $3)")
            .bind(media_id)
            .bind(user_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| unique(e, "the share"))?;
        Ok(())
    }

    /// Revokes a share; whether there was one.
    pub async fn unshare(&self, media_id: &str, user_id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM shares WHERE media_id = $1 AND user_id = $2")
            .bind(media_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
