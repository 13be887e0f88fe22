-- The inbox's filters stay fast at 100,000 conversations. "Taken over" and "needs attention"
-- pick a few conversations out of many: without an index the list reads conversation rows in
-- order until it has a page, which is most of them. Partial indexes hold only the matching
-- ones, and the stage filter reads the stage each conversation keeps of its lead (0010); each
-- in the list's order (the expression of `conversations_account_recent`, 0008). Kept line for
-- line between backends.
CREATE INDEX conversations_account_paused_recent ON conversations (account_id,
    (COALESCE(last_message_at, created_at)), id) WHERE ai_paused;
CREATE INDEX conversations_account_attention_recent ON conversations (account_id,
    (COALESCE(last_message_at, created_at)), id) WHERE needs_attention;
CREATE INDEX conversations_account_stage_recent ON conversations (account_id, lead_stage,
    (COALESCE(last_message_at, created_at)), id);
