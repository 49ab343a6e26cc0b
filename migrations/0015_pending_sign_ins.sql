-- Sign-ins in progress under `mode = "oidc"`: from GET /auth/login until its callback, at most
-- ten minutes. Kept here rather than in one process's memory, so that the callback may reach
-- any replica behind a load balancer, and a restart in between loses nobody's sign-in. The
-- browser holds the state (a cookie and the authority's redirect); only its SHA-256 is kept.
-- The PKCE verifier is deleted with the row when the callback uses it, or when it expires.
-- Times are unix seconds.
CREATE TABLE pending_sign_ins (
    state_hash BLOB    PRIMARY KEY,
    nonce      TEXT    NOT NULL,
    verifier   TEXT    NOT NULL,
    return_to  TEXT    NOT NULL,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Expired ones are deleted by age, and under a flood the oldest make room.
CREATE INDEX pending_sign_ins_age ON pending_sign_ins (started_at);
