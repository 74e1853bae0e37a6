-- Drip's metadata: the book's users, media and shares (its media_owners), plus API tokens.
-- Portable between SQLite and PostgreSQL: text ids made by the application, times as
-- milliseconds since the epoch, wrapped keys as hex. A file whose upload is under way has no
-- uploaded_at and names the node whose pipeline holds it.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    inserted_at BIGINT NOT NULL
);

CREATE TABLE media (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    file_name TEXT NOT NULL,
    path TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    storage_key TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    uploaded_at BIGINT,
    pipeline_node TEXT,
    inserted_at BIGINT NOT NULL,
    UNIQUE (owner_id, path, file_name)
);

CREATE INDEX media_owner_path ON media (owner_id, path);

CREATE TABLE shares (
    media_id TEXT NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    inserted_at BIGINT NOT NULL,
    PRIMARY KEY (media_id, user_id)
);

CREATE INDEX shares_user ON shares (user_id);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    inserted_at BIGINT NOT NULL
);
