-- The big answers (the credential API and its CSV, the inventory, the feed) walk live credentials
-- in (end, id) order. With an index on `end_at` alone, every row it yields was then looked up in
-- the table: a random read per credential, most of the time of a 200,000-row answer. These
-- indexes carry every column those reads take, so the walk reads the index alone, in order.
-- (The application of each row is still a lookup by its id.)
DROP INDEX credentials_live_end;
CREATE INDEX credentials_live_end ON credentials
    (end_at, id, application_id, environment_id, kind, key_id, display_name, hint, start_at, first_seen_at, last_seen_at)
    WHERE removed_at IS NULL;

DROP INDEX credentials_env_live_end;
CREATE INDEX credentials_env_live_end ON credentials
    (environment_id, end_at, id, application_id, kind, key_id, display_name, hint, start_at, first_seen_at, last_seen_at)
    WHERE removed_at IS NULL;
