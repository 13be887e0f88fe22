-- Every saved settings document is kept as a numbered version, so a change can be shown, compared
-- and restored. Versions count up per (account, key); `put_setting` writes one in the same
-- transaction as the setting and its audit entry.
CREATE TABLE setting_versions (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    value TEXT NOT NULL,
    -- Who saved it: the audit actor (`user:…`, `api_key:…`) or `system`.
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key, version)
);

-- Documents saved before versioning start the history as version 1.
INSERT INTO setting_versions (account_id, key, version, value, actor, created_at)
SELECT account_id, key, 1, value, 'system', updated_at FROM account_settings;
