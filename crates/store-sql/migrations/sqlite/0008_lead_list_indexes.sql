-- The lead list's orders and filters, each backed by an index so a page stays fast at 100,000
-- leads. The expressions match the ORDER BY clauses in `list_leads` exactly (both backends only
-- use an expression index for the identical expression). Kept line for line between backends.
CREATE INDEX leads_account_updated ON leads (account_id, updated_at);
CREATE INDEX leads_account_name ON leads (account_id, (LOWER(name)));
CREATE INDEX leads_account_score ON leads (account_id, (COALESCE(score, -1)));
CREATE INDEX leads_account_stage_created ON leads (account_id, stage, created_at);
