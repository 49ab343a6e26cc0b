-- Substring search in milliseconds at any size: the inventory's search ("order", "CN=orders",
-- part of an app id or key id) is served by trigram indexes instead of four LIKE scans of every
-- row (1.8 s for a term that matches nothing at 100,000 applications).
--
-- Two external-content FTS5 tables, so no text is stored twice: one over the applications (name,
-- app id; indexed once per application, not once per credential) and one over the credentials
-- (name, key id). The trigram tokenizer matches any substring of three or more characters, and
-- folds case as LIKE did (and beyond ASCII, where LIKE did not). Shorter terms cannot be served
-- by trigrams: the store scans for them, bounded.
--
-- The triggers keep both in step with every write of the sync's merge. A bulk load (an
-- environment's first sync) drops the insert trigger with the other indexes and rebuilds the
-- search table in one pass afterwards (store/sync/indexes.rs).
CREATE VIRTUAL TABLE application_search USING fts5(
    display_name, app_id,
    content = 'applications', content_rowid = 'id', tokenize = 'trigram'
);

CREATE VIRTUAL TABLE credential_search USING fts5(
    display_name, key_id,
    content = 'credentials', content_rowid = 'id', tokenize = 'trigram'
);

CREATE TRIGGER application_search_insert AFTER INSERT ON applications BEGIN
    INSERT INTO application_search (rowid, display_name, app_id) VALUES (new.id, new.display_name, new.app_id);
END;

CREATE TRIGGER application_search_delete AFTER DELETE ON applications BEGIN
    INSERT INTO application_search (application_search, rowid, display_name, app_id)
    VALUES ('delete', old.id, old.display_name, old.app_id);
END;

-- The merge rewrites an application's row when any of its fields changed; the index only cares
-- about two of them.
CREATE TRIGGER application_search_update AFTER UPDATE OF display_name, app_id ON applications
WHEN old.display_name IS NOT new.display_name OR old.app_id IS NOT new.app_id BEGIN
    INSERT INTO application_search (application_search, rowid, display_name, app_id)
    VALUES ('delete', old.id, old.display_name, old.app_id);
    INSERT INTO application_search (rowid, display_name, app_id) VALUES (new.id, new.display_name, new.app_id);
END;

CREATE TRIGGER credential_search_insert AFTER INSERT ON credentials BEGIN
    INSERT INTO credential_search (rowid, display_name, key_id) VALUES (new.id, new.display_name, new.key_id);
END;

CREATE TRIGGER credential_search_delete AFTER DELETE ON credentials BEGIN
    INSERT INTO credential_search (credential_search, rowid, display_name, key_id)
    VALUES ('delete', old.id, old.display_name, old.key_id);
END;

CREATE TRIGGER credential_search_update AFTER UPDATE OF display_name, key_id ON credentials
WHEN old.display_name IS NOT new.display_name OR old.key_id IS NOT new.key_id BEGIN
    INSERT INTO credential_search (credential_search, rowid, display_name, key_id)
    VALUES ('delete', old.id, old.display_name, old.key_id);
    INSERT INTO credential_search (rowid, display_name, key_id) VALUES (new.id, new.display_name, new.key_id);
END;

INSERT INTO application_search (application_search) VALUES ('rebuild');
INSERT INTO credential_search (credential_search) VALUES ('rebuild');
