-- Accounts hardened: admin is a property of an account that an operator grants (`drip admin
-- grant`), browser sessions are kept here (a cookie holds a random id; this table its SHA-256)
-- so log-out ends them, API tokens expire, and sign-up can need a one-time invite.
ALTER TABLE users ADD COLUMN admin BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    inserted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);

-- Tokens made before they could expire get the thirty days a new one gets, from now.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
UPDATE api_tokens SET expires_at = inserted_at + 2592000000;

CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY,
    made_by TEXT REFERENCES users (id),
    admin BIGINT NOT NULL DEFAULT 0,
    inserted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by TEXT REFERENCES users (id)
);
