-- Signed-in sessions of `mode = "oidc"`. The cookie holds a random id; only its SHA-256 is kept,
-- so a copy of the database opens no session. Times are unix seconds.
CREATE TABLE sessions (
    id_hash     BLOB PRIMARY KEY,
    user_name   TEXT NOT NULL,
    oid         TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    roles       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
) WITHOUT ROWID;
