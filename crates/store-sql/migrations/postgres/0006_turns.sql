-- One row per assistant turn: which engine decided it, the intent and score it read (history
-- that analytics can chart) and the model tokens it spent (the monthly budget sums these).
-- Same conventions as 0002; kept line for line between SQLite and PostgreSQL.
CREATE TABLE turns (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    lead_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id TEXT,
    engine TEXT NOT NULL,
    intent TEXT NOT NULL,
    score BIGINT NOT NULL,
    next_action TEXT NOT NULL,
    details TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX turns_account_created ON turns (account_id, created_at);
CREATE INDEX turns_conversation ON turns (account_id, conversation_id, created_at);
