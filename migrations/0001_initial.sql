-- credwatch's store. Times are UTC Unix seconds (INTEGER): they compare and index cheaply, and
-- year 9999 fits. Names from Graph are stored as given (untrusted text, possibly NULL).

CREATE TABLE environments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    tenant_id   TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    -- The Azure portal of this environment's cloud, for links.
    portal_url  TEXT    NOT NULL DEFAULT 'https://portal.azure.com',
    -- Set when the environment left the config: its data stays, pages hide it.
    retired_at  INTEGER
);

CREATE TABLE applications (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments(id),
    object_id      TEXT    NOT NULL,
    app_id         TEXT    NOT NULL,
    display_name   TEXT,
    first_seen_at  INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    -- The sync run that last saw it: what a complete listing did not touch is gone.
    last_seen_run  INTEGER NOT NULL,
    removed_at     INTEGER,
    UNIQUE (environment_id, object_id)
);
CREATE INDEX applications_env_name ON applications (environment_id, display_name);
CREATE INDEX applications_app_id ON applications (app_id);

CREATE TABLE credentials (
    id             INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    -- Denormalised from the application so per-environment queries need no join.
    environment_id INTEGER NOT NULL REFERENCES environments(id),
    kind           TEXT    NOT NULL CHECK (kind IN ('secret', 'certificate')),
    key_id         TEXT    NOT NULL,
    display_name   TEXT,
    hint           TEXT,
    start_at       INTEGER,
    end_at         INTEGER NOT NULL,
    first_seen_at  INTEGER NOT NULL,
    first_seen_run INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL,
    removed_at     INTEGER,
    UNIQUE (application_id, kind, key_id)
);
-- Live credentials by expiry: the dashboard, the API's filters, reminders and the feed.
CREATE INDEX credentials_live_end ON credentials (end_at) WHERE removed_at IS NULL;
CREATE INDEX credentials_env_live_end ON credentials (environment_id, end_at) WHERE removed_at IS NULL;
CREATE INDEX credentials_env_seen ON credentials (environment_id, last_seen_run) WHERE removed_at IS NULL;

CREATE TABLE sync_runs (
    id             INTEGER PRIMARY KEY,
    environment_id INTEGER NOT NULL REFERENCES environments(id),
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    -- running | success | failed | interrupted (the process stopped mid-run)
    outcome        TEXT    NOT NULL CHECK (outcome IN ('running', 'success', 'failed', 'interrupted')),
    pages          INTEGER NOT NULL DEFAULT 0,
    applications   INTEGER NOT NULL DEFAULT 0,
    credentials    INTEGER NOT NULL DEFAULT 0,
    added          INTEGER NOT NULL DEFAULT 0,
    removed        INTEGER NOT NULL DEFAULT 0,
    error          TEXT
);
CREATE INDEX sync_runs_env ON sync_runs (environment_id, id);

-- The reminder ledger: one row per (credential, rung, recipient) once the mail server accepted
-- the message, or once the rung was skipped (recipient '' then).
CREATE TABLE reminders (
    id            INTEGER PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials(id),
    -- days before the end, or -1 for the notice after expiry
    rung          INTEGER NOT NULL,
    recipient     TEXT    NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('sent', 'skipped')),
    decided_at    INTEGER NOT NULL,
    UNIQUE (credential_id, rung, recipient)
);
