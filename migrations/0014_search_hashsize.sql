-- The search tables (0008_search.sql) gather new index entries in memory and write them out as a
-- segment each time that memory fills, merging segments as they pile up. With FTS5's default of
-- 1 MB, an environment's first sync at 100,000 applications writes hundreds of small segments
-- and merges them over and over; 16 MB writes a few large ones (the rebuild after a bulk load
-- takes about a quarter less time). Only a transaction that writes to the index holds it.
INSERT INTO application_search (application_search, rank) VALUES ('hashsize', 16777216);
INSERT INTO credential_search (credential_search, rank) VALUES ('hashsize', 16777216);
