-- Analytics (SQLite): indexes that keep the dashboard's aggregates bounded by account and date
-- range and answered from index entries alone. Kept line for line with the PostgreSQL file.

-- Messages by when they happened (sent, or else received or queued), carrying every column the
-- per-day counts, first-response and leads-messaged queries read, so they never visit the table.
CREATE INDEX messages_account_activity ON messages (account_id, COALESCE(sent_at, created_at),
    direction, status, segments, sent_at, created_at, channel_id, conversation_id);
-- Opt-outs in a range.
CREATE INDEX compliance_events_account_kind_at ON compliance_events (account_id, kind, at);
-- The funnel's per-lead probes: first sent reply and last inbound message of a conversation are
-- one index seek each instead of a walk over the conversation's rows.
CREATE INDEX messages_conversation_direction ON messages (account_id, conversation_id, direction,
    sent_at, created_at);
