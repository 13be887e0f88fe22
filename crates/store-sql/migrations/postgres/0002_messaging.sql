-- Messaging schema (PostgreSQL): channels, leads, conversations, messages (inbound and the outbound
-- outbox) and the background job queue. Same conventions as 0001 (uuid TEXT ids, BIGINT
-- microseconds, JSON TEXT, BOOLEAN booleans); kept line for line with the SQLite file.
--
-- Tenant integrity lives in the schema: each parent has UNIQUE (account_id, id) and children
-- reference it with composite foreign keys, so a conversation can never join one account's lead
-- to another account's channel, and a message can never sit in another account's conversation.
-- Every table also cascades from accounts, so deleting an account removes all of it.

CREATE TABLE channels (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    webhook_token TEXT NOT NULL,
    settings TEXT NOT NULL,
    send_rate_per_minute BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    last_webhook_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT channels_webhook_token_key UNIQUE (webhook_token),
    CONSTRAINT channels_account_id_key UNIQUE (account_id, id)
);

CREATE TABLE leads (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    state TEXT,
    time_zone TEXT,
    stage TEXT NOT NULL,
    score INTEGER,
    intent TEXT,
    owner TEXT REFERENCES users (id) ON DELETE SET NULL,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT leads_account_phone_key UNIQUE (account_id, phone),
    CONSTRAINT leads_account_id_key UNIQUE (account_id, id)
);
CREATE INDEX leads_account_created ON leads (account_id, created_at);
CREATE INDEX leads_owner ON leads (owner);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    lead_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    ai_paused BOOLEAN NOT NULL DEFAULT FALSE,
    needs_attention BOOLEAN NOT NULL DEFAULT FALSE,
    unread BOOLEAN NOT NULL DEFAULT FALSE,
    last_message_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT conversations_lead_channel_key UNIQUE (account_id, lead_id, channel_id),
    CONSTRAINT conversations_account_id_key UNIQUE (account_id, id),
    CONSTRAINT conversations_lead_fkey FOREIGN KEY (account_id, lead_id)
        REFERENCES leads (account_id, id) ON DELETE CASCADE,
    CONSTRAINT conversations_channel_fkey FOREIGN KEY (account_id, channel_id)
        REFERENCES channels (account_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_account_channel ON conversations (account_id, channel_id);
CREATE INDEX conversations_account_activity ON conversations (account_id, last_message_at);

-- status_rank mirrors MessageStatus::rank so "only move forward" is one comparison in SQL;
-- author_kind mirrors author's "kind" so automated replies can be found without parsing JSON.
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    body TEXT NOT NULL,
    media TEXT NOT NULL,
    author TEXT NOT NULL,
    author_kind TEXT NOT NULL,
    status TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    provider_message_id TEXT,
    error_code TEXT,
    segments INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    gate TEXT,
    idempotency_key TEXT,
    due_at BIGINT,
    lease_until BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    CONSTRAINT messages_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_conversation_created ON messages (account_id, conversation_id, created_at);
-- A retried webhook is a no-op: one inbound row per (channel, provider message id).
CREATE UNIQUE INDEX messages_inbound_provider_key ON messages (channel_id, provider_message_id)
    WHERE direction = 'inbound';
-- Status callbacks find outbound rows by the provider's id; also serves the channel foreign key.
CREATE INDEX messages_channel_provider ON messages (channel_id, provider_message_id);
-- A decision replayed after a crash cannot create a second outbound message.
CREATE UNIQUE INDEX messages_idempotency_key ON messages (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The outbox: claimers scan waiting rows by due time and sending rows by lease expiry.
CREATE INDEX messages_outbox ON messages (status, due_at) WHERE direction = 'outbound';

-- One waiting-or-running job per (account, dedup key); completed rows leave the index, so the
-- key can be used again. `rerun` records that the job was re-armed while a worker held it, so
-- completing that run leaves the job pending instead of losing the newer request.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    dedup_key TEXT,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    lease_until BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    rerun BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE UNIQUE INDEX jobs_dedup_key ON jobs (account_id, dedup_key)
    WHERE dedup_key IS NOT NULL AND completed_at IS NULL;
CREATE INDEX jobs_due ON jobs (kind, run_at) WHERE completed_at IS NULL;
CREATE INDEX jobs_account ON jobs (account_id, run_at);
