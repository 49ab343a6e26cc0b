-- The covering indexes of migration 0010 again, with the acknowledgement columns of 0011 that
-- every read of credentials now takes: without them each row the walk yields is looked up in
-- the table once more, which is what 0010 took away.
DROP INDEX credentials_live_end;
CREATE INDEX credentials_live_end ON credentials
    (end_at, id, application_id, environment_id, kind, key_id, display_name, hint, start_at, first_seen_at, last_seen_at,
     acknowledged_by, acknowledged_at, snoozed_until)
    WHERE removed_at IS NULL;

DROP INDEX credentials_env_live_end;
CREATE INDEX credentials_env_live_end ON credentials
    (environment_id, end_at, id, application_id, kind, key_id, display_name, hint, start_at, first_seen_at, last_seen_at,
     acknowledged_by, acknowledged_at, snoozed_until)
    WHERE removed_at IS NULL;
