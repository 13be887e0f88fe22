-- Lists that stay fast at 100,000 leads: each order of the lead list and the conversation list
-- has an index whose expressions match the ORDER BY exactly (both backends only use an
-- expression index for the identical expression) and that ends in `id`, so a page's ids are
-- read from the index alone however deep the page. Kept line for line between backends.
DROP INDEX leads_account_created;
CREATE INDEX leads_account_created ON leads (account_id, created_at, id);
CREATE INDEX leads_account_updated ON leads (account_id, updated_at, id);
CREATE INDEX leads_account_name ON leads (account_id, (LOWER(name)), id);
CREATE INDEX leads_account_score ON leads (account_id, (COALESCE(score, -1)), id);
CREATE INDEX leads_account_stage_created ON leads (account_id, stage, created_at, id);
CREATE INDEX conversations_account_recent ON conversations (account_id,
    (COALESCE(last_message_at, created_at)), id);
