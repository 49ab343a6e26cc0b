-- A sync writes only what changed: an unchanged credential is not rewritten just to say it was
-- seen again. A live row was last seen at its environment's last successful sync; a removed row
-- keeps its own last_seen_at (the last listing that had it).
ALTER TABLE environments ADD COLUMN last_success_at INTEGER;
DROP INDEX credentials_env_seen;
UPDATE environments SET last_success_at = (
    SELECT max(finished_at) FROM sync_runs r WHERE r.environment_id = environments.id AND r.outcome = 'success'
);
