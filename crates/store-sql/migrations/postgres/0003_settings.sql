-- Per-account settings documents (compliance settings, later AI settings), one JSON value per key.
CREATE TABLE account_settings (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);
