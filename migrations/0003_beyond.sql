-- Issue 8: where a credential lives (app registration or enterprise application), what the
-- directory says about its application (tags, notes, owners), and how a SAML certificate is
-- identified across its Sign/Verify/password triple.
ALTER TABLE applications ADD COLUMN source TEXT NOT NULL DEFAULT 'application'
    CHECK (source IN ('application', 'service_principal'));
-- JSON array of strings; '[]' when none.
ALTER TABLE applications ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE applications ADD COLUMN notes TEXT;
-- JSON array of {id, type, display_name, mail, user_principal_name, app_id}; NULL while owners
-- were never fetched (sync.fetch_owners = false, or synced before this migration).
ALTER TABLE applications ADD COLUMN owners TEXT;
