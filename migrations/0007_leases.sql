-- Exclusive leases between processes sharing this database: a reminder run, or the sync of one
-- environment, holds one while it works, so a second process started at the same time does not
-- do the same work again (and send every digest twice). A holder that dies leaves its lease to
-- expire; the next run takes it over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
