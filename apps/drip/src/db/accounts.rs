//! The store's side of accounts: browser sessions (kept here, so log-out ends them), admin as
//! a property an operator grants, and one-time sign-up invites. Secrets (session ids, invite
//! tokens) are kept only as their SHA-256, as API tokens are.

use sqlx::Row;

use super::{new_id, now_ms, unique, DbError, Store, User};

/// A secret a user holds that the store keeps by its hash until it expires.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expiring {
    /// A browser session.
    Session,
    /// An API bearer token.
    ApiToken,
}

impl Expiring {
    /// Its table and hash column (fixed names, never input).
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Expiring::Session => ("sessions", "id_hash"),
            Expiring::ApiToken => ("api_tokens", "token_hash"),
        }
    }
}

/// A sign-up invite, as its maker lists it (the link itself is shown once, when made).
#[derive(Clone, Debug)]
pub struct Invite {
    /// The SHA-256 of its token.
    pub token_hash: String,
    /// Whether the account it makes is an admin.
    pub admin: bool,
    /// When it stops working (ms since the epoch).
    pub expires_at: i64,
    /// The username it made, once used.
    pub used_by: Option<String>,
}

impl Store {
    /// A new session `id_hash` for `user_id`, good until `expires_at` (ms since the epoch); the
    /// user's expired sessions go.
    pub async fn add_session(
        &self,
        id_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), DbError> {
        self.add_expiring(Expiring::Session, id_hash, user_id, expires_at)
            .await
    }

    /// Keeps a new secret of `kind` (by its hash) for `user_id` until `expires_at`, and drops
    /// the user's expired ones of that kind.
    pub(super) async fn add_expiring(
        &self,
        kind: Expiring,
        hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<(), DbError> {
        let (table, column) = kind.table();
        let now = now_ms();
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE user_id = $1 AND expires_at <= $2"
        ))
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} ({column}, user_id, inserted_at, expires_at) VALUES ($1, $2, $3, $4)"
        ))
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user a live session (by the hash of its id) belongs to.
    pub async fn session_user(&self, id_hash: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.email, u.password_hash, u.admin FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Store::user).transpose()?)
    }

    /// Ends one session.
    pub async fn remove_session(&self, id_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session and API token of `user_id` ("log out everywhere"); how many.
    pub async fn log_out_everywhere(&self, user_id: &str) -> Result<u64, DbError> {
        let mut tx = self.pool.begin().await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let tokens = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(sessions + tokens)
    }

    /// Makes the user named `username` an admin or not; whether there is such a user.
    pub async fn set_admin(&self, username: &str, admin: bool) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE users SET admin = $1 WHERE username = $2")
            .bind(i64::from(admin))
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The admins' usernames, in order.
    pub async fn admins(&self) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT username FROM users WHERE admin <> 0 ORDER BY username")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("username"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// A new invite (by its token's hash), made by `made_by` (`None`: the operator, from the
    /// command line), good until `expires_at`.
    pub async fn add_invite(
        &self,
        token_hash: &str,
        made_by: Option<&str>,
        admin: bool,
        expires_at: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO invites (token_hash, made_by, admin, inserted_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(made_by)
        .bind(i64::from(admin))
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the invite (by its token's hash) can still be used.
    pub async fn invite_open(&self, token_hash: &str) -> Result<bool, DbError> {
        let row = sqlx::query(
            "SELECT token_hash FROM invites WHERE token_hash = $1 AND used_by IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The invites `made_by` made (all of them for `None`), newest first, the used ones with
    /// the username they made.
    pub async fn invites(&self, made_by: Option<&str>) -> Result<Vec<Invite>, DbError> {
        let rows = sqlx::query(
            "SELECT i.token_hash, i.admin, i.expires_at, u.username FROM invites i LEFT JOIN users u ON u.id = i.used_by \
             WHERE ($1 IS NULL OR i.made_by = $1) ORDER BY i.inserted_at DESC LIMIT 100",
        )
        .bind(made_by)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Invite {
                    token_hash: r.try_get("token_hash")?,
                    admin: r.try_get::<i64, _>("admin")? != 0,
                    expires_at: r.try_get("expires_at")?,
                    used_by: r.try_get("username")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// A new user made through the invite `token_hash`, which is used up with it (one
    /// transaction: a taken username leaves the invite unused). `None` if the invite is
    /// unknown, used or expired.
    pub async fn create_invited_user(
        &self,
        token_hash: &str,
        username: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<User>, DbError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let invite = sqlx::query(
            "SELECT admin FROM invites WHERE token_hash = $1 AND used_by IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(invite) = invite else {
            return Ok(None);
        };
        let admin = invite.try_get::<i64, _>("admin")? != 0;
        let id = new_id();
        sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, inserted_at, admin) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(username)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .bind(i64::from(admin))
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "the username"))?;
        let used = sqlx::query(
            "UPDATE invites SET used_by = $1 WHERE token_hash = $2 AND used_by IS NULL",
        )
        .bind(&id)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            // Another sign-up used it meanwhile.
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(User {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            admin,
        }))
    }
}
