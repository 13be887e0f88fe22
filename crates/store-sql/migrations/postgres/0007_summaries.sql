-- Conversation summaries (history: one row per summary, with the model tokens it spent, which
-- count toward the monthly budget like turns'), and hand-off notifications with their deliveries (email to members who opted in, the account's outgoing webhook), plus each member's
-- notification preference. Same conventions as 0002; kept line for line between SQLite and
-- PostgreSQL.
CREATE TABLE conversation_summaries (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    engine TEXT NOT NULL,
    body TEXT NOT NULL,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    dedup_key TEXT,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX conversation_summaries_latest ON conversation_summaries (account_id, conversation_id, created_at);
CREATE UNIQUE INDEX conversation_summaries_dedup ON conversation_summaries (account_id, dedup_key)
    WHERE dedup_key IS NOT NULL;
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    summary TEXT,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX notifications_key ON notifications (account_id, idempotency_key);
CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE UNIQUE INDEX notification_deliveries_target ON notification_deliveries (notification_id, channel, target);
CREATE INDEX notification_deliveries_recent ON notification_deliveries (account_id, created_at);
CREATE TABLE notification_prefs (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_on_handoff BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
