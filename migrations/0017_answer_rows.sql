-- The credential API and its CSV answer every live credential in (end, id) order. Read the
-- long way, each row costs lookups of its application, its last use and its newer siblings
-- (rotation awareness), and building a credential to render: at 200,000 credentials that made
-- the CSV a 3.6 s answer (15 MB/s). Here each live credential's answer is kept ready, in answer
-- order: its fields and the facts its time-dependent fields are worked out from
-- (domain::Answer), so a large answer is one sequential read.
--
-- The copy never answers stale: every write that changes what a credential's answer says marks
-- its application stale (the triggers below; the usage write marks those whose last use
-- changed, see store/usage.rs; a bulk load marks every application, see
-- store/sync/indexes.rs), and while any application is marked the answers are read the long
-- way. `serve` rebuilds the marked applications' rows in the background (store/answers.rs): a
-- few at a time in short transactions, or, when many are marked, all rows in one ordered pass
-- built aside and swapped in, so a sync or another process's write never waits long on it.
CREATE TABLE answer_rows (
    end_at         INTEGER NOT NULL,
    id             INTEGER NOT NULL,
    environment_id INTEGER NOT NULL,
    application_id INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    -- domain::Answer::encode
    record         TEXT    NOT NULL,
    PRIMARY KEY (end_at, id)
) WITHOUT ROWID;
CREATE INDEX answer_rows_application ON answer_rows (application_id);

-- Applications whose rows must be rebuilt before the copy answers again. Each mark takes a new,
-- ever larger `seq` (a mark again is a new row): a rebuild of every row clears only the marks
-- made before it started reading.
CREATE TABLE answer_rows_stale (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL UNIQUE
);

-- What the rows were built with: a digest of their record format and of the exclusion rules
-- (their positions are in the records). Rows are only read by a build with the same basis.
CREATE TABLE answer_rows_basis (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);

INSERT INTO answer_rows_stale (application_id) SELECT id FROM applications;

-- The triggers mark with a delete and an insert, not INSERT OR REPLACE: a trigger's conflict
-- clause gives way to that of the statement firing it (an upsert's), and would fail it.

CREATE TRIGGER answer_rows_credential_insert AFTER INSERT ON credentials BEGIN
    DELETE FROM answer_rows_stale WHERE application_id = new.application_id;
    INSERT INTO answer_rows_stale (application_id) VALUES (new.application_id);
END;

CREATE TRIGGER answer_rows_credential_delete AFTER DELETE ON credentials BEGIN
    DELETE FROM answer_rows_stale WHERE application_id = old.application_id;
    INSERT INTO answer_rows_stale (application_id) VALUES (old.application_id);
END;

-- Only what an answer shows or is worked out from: a sync that sees a credential again moves
-- its last_seen columns and must not mark anything.
CREATE TRIGGER answer_rows_credential_update AFTER UPDATE ON credentials
WHEN old.application_id IS NOT new.application_id OR old.environment_id IS NOT new.environment_id
  OR old.kind IS NOT new.kind OR old.key_id IS NOT new.key_id OR old.display_name IS NOT new.display_name
  OR old.hint IS NOT new.hint OR old.start_at IS NOT new.start_at OR old.end_at IS NOT new.end_at
  OR old.first_seen_at IS NOT new.first_seen_at OR old.removed_at IS NOT new.removed_at
  OR old.acknowledged_by IS NOT new.acknowledged_by OR old.snoozed_until IS NOT new.snoozed_until
BEGIN
    DELETE FROM answer_rows_stale WHERE application_id = old.application_id;
    INSERT INTO answer_rows_stale (application_id) VALUES (old.application_id);
    DELETE FROM answer_rows_stale WHERE application_id = new.application_id;
    INSERT INTO answer_rows_stale (application_id) VALUES (new.application_id);
END;

CREATE TRIGGER answer_rows_application_update AFTER UPDATE ON applications
WHEN old.environment_id IS NOT new.environment_id OR old.object_id IS NOT new.object_id OR old.app_id IS NOT new.app_id
  OR old.display_name IS NOT new.display_name OR old.source IS NOT new.source OR old.tags IS NOT new.tags
  OR old.removed_at IS NOT new.removed_at
BEGIN
    DELETE FROM answer_rows_stale WHERE application_id = new.id;
    INSERT INTO answer_rows_stale (application_id) VALUES (new.id);
END;

CREATE TRIGGER answer_rows_application_delete AFTER DELETE ON applications BEGIN
    DELETE FROM answer_rows_stale WHERE application_id = old.id;
    INSERT INTO answer_rows_stale (application_id) VALUES (old.id);
END;

-- An environment's name is in every answer; a retired one's rows are not kept. (Rare, and fired
-- by the upsert that registers environments, hence the delete and insert.)
CREATE TRIGGER answer_rows_environment_update AFTER UPDATE ON environments
WHEN old.name IS NOT new.name OR old.retired_at IS NOT new.retired_at
BEGIN
    DELETE FROM answer_rows_stale WHERE application_id IN (SELECT id FROM applications WHERE environment_id = new.id);
    INSERT INTO answer_rows_stale (application_id) SELECT id FROM applications WHERE environment_id = new.id;
END;

-- Whether an environment's usage was ever read decides every credential's last use. Only plain
-- updates set it, so the trigger's own conflict clause holds: one pass (a tenth of the time of a
-- delete and an insert at 100,000 applications).
CREATE TRIGGER answer_rows_environment_usage AFTER UPDATE OF usage_read_at ON environments
WHEN (old.usage_read_at IS NULL) IS NOT (new.usage_read_at IS NULL)
BEGIN
    INSERT OR REPLACE INTO answer_rows_stale (application_id) SELECT id FROM applications WHERE environment_id = new.id;
END;
