-- A digest of the last listing applied to each environment: a re-sync that lists exactly the
-- same applications and credentials is recognised without comparing row by row.
ALTER TABLE environments ADD COLUMN listing_digest TEXT;
