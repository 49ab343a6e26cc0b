-- When each environment's owners were last read from Graph: owners are refreshed on a slower
-- cadence than credentials (`sync.owners_refresh_hours`), since expanding them makes Graph page
-- by 100 instead of 999.
ALTER TABLE environments ADD COLUMN owners_fetched_at INTEGER;
-- The digest of the owners last listed, apart from the listing's own digest, so a listing
-- without owners can still be recognised as unchanged.
ALTER TABLE environments ADD COLUMN owners_digest TEXT;
