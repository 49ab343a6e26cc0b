-- Issue 14: credential usage from the beta sign-in activity reports (graph-facts §11).
--
-- Per environment, the last complete read of both reports replaces these rows: a credential
-- (key id) or application (app id) without a row had no recorded sign-in then. A row whose
-- date Graph wrote unreadably keeps a NULL date: unknown, not "never". Times are 100 ns ticks
-- like every other column (0006). Key ids and app ids are stored lower case.
CREATE TABLE credential_usage (
    environment_id  INTEGER NOT NULL REFERENCES environments(id),
    key_id          TEXT    NOT NULL,
    app_id          TEXT    NOT NULL,
    last_sign_in_at INTEGER,
    -- The resource (an app id) the credential was last used for.
    resource_id     TEXT,
    read_at         INTEGER NOT NULL,
    PRIMARY KEY (environment_id, key_id)
) WITHOUT ROWID;

CREATE TABLE application_usage (
    environment_id    INTEGER NOT NULL REFERENCES environments(id),
    app_id            TEXT    NOT NULL,
    last_sign_in_at   INTEGER,
    -- App-only sign-ins as a client: what secrets and certificates are used for.
    client_sign_in_at INTEGER,
    read_at           INTEGER NOT NULL,
    PRIMARY KEY (environment_id, app_id)
) WITHOUT ROWID;

-- ok | no_permission | no_license | unavailable; NULL until the first attempt. ('off' is the
-- configuration's to say, never stored.)
ALTER TABLE environments ADD COLUMN usage_status TEXT
    CHECK (usage_status IN ('ok', 'no_permission', 'no_license', 'unavailable'));
-- The last complete read: the age of the values shown.
ALTER TABLE environments ADD COLUMN usage_read_at INTEGER;
-- The last attempt, complete or not: the cadence counts from it.
ALTER TABLE environments ADD COLUMN usage_checked_at INTEGER;
-- What the last failed attempt answered (no secret: a Graph error code and message).
ALTER TABLE environments ADD COLUMN usage_error TEXT;
