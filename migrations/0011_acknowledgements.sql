-- Issue 15: acknowledge, snooze, "not mine", rotated; and the log of everything done to a
-- credential. Times are 100 ns ticks like every other column (0006).
--
-- The current state sits on the rows it describes, so the credential queries read it without a
-- join: `UPDATE`s of a sync leave these columns alone, and a removed credential is not reminded
-- whatever they say.
ALTER TABLE credentials ADD COLUMN acknowledged_by TEXT;
ALTER TABLE credentials ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE credentials ADD COLUMN snoozed_until INTEGER;
-- "Not mine": the application's next reminders go to its environment's `notify` list instead
-- of its owners.
ALTER TABLE applications ADD COLUMN owner_disputed_by TEXT;
ALTER TABLE applications ADD COLUMN owner_disputed_at INTEGER;
ALTER TABLE applications ADD COLUMN suggested_owner TEXT;

-- Append-only: what happened to a credential, who did it, how, and from where.
CREATE TABLE credential_events (
    id             INTEGER PRIMARY KEY,
    credential_id  INTEGER NOT NULL REFERENCES credentials(id),
    at             INTEGER NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN
                       ('reminded', 'acknowledged', 'snoozed', 'disputed', 'escalated', 'rotated', 'removed')),
    -- A user name, an e-mail address, or NULL for credwatch itself.
    actor          TEXT,
    via            TEXT    NOT NULL CHECK (via IN ('email', 'dashboard', 'api', 'system')),
    client_address TEXT,
    note           TEXT
);
CREATE INDEX credential_events_at ON credential_events (at, id);
CREATE INDEX credential_events_credential ON credential_events (credential_id, at);

-- Signed action links already acted on: a single-use link is refused the second time.
CREATE TABLE used_links (
    link_id TEXT    PRIMARY KEY,
    used_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The key signing action links, made once (unless a key file is configured). One row only.
CREATE TABLE link_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
