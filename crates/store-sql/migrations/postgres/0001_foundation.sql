-- Foundation schema (PostgreSQL): tenants, people, access, secrets, audit and compliance history.
-- Conventions shared with the PostgreSQL schema: ids are uuid TEXT, instants are BIGINT
-- microseconds since the epoch, JSON is TEXT, booleans are BOOLEAN, byte strings are BYTEA.
-- Tenant-owned tables carry account_id and their lookup indexes start with it; the unique
-- token_hash indexes and the per-user indexes serve lookups made before a tenant is known.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    business_name TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    phone TEXT,
    website TEXT,
    industry TEXT NOT NULL,
    description TEXT NOT NULL,
    products_services TEXT NOT NULL,
    unique_selling_points TEXT NOT NULL,
    license_numbers TEXT NOT NULL,
    licensed_states TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT,
    is_platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
    google_subject TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_google_subject_key UNIQUE (google_subject)
);

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT memberships_pkey PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- A session outlives a deleted account: its account_id becomes NULL and the user picks another.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash BYTEA NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX invitations_account ON invitations (account_id, created_at);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (account_id, email) WHERE state = 'pending';

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    prefix TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    CONSTRAINT api_keys_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

CREATE TABLE secrets (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    last4 TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT secrets_account_purpose_key UNIQUE (account_id, purpose)
);

-- No foreign key to accounts: an account's audit log outlives the account.
CREATE TABLE audit_log (
    account_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    CONSTRAINT audit_log_pkey PRIMARY KEY (account_id, seq)
);

CREATE TABLE password_resets (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_user ON password_resets (user_id);

CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE compliance_events (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    details TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX compliance_events_account_phone_at ON compliance_events (account_id, phone, at);
