-- Lead search reads one lower-cased column instead of folding three per row, from an index
-- that also holds the list's order, so a search that matches nobody scans index entries, not
-- rows. The database keeps the column in step with the lead: a generated column, VIRTUAL on
-- SQLite (which cannot add a STORED one to an existing table) and STORED on PostgreSQL (which
-- has no other kind). The two files differ only in that word.
ALTER TABLE leads ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    LOWER(name) || ' | ' || LOWER(phone) || ' | ' || LOWER(COALESCE(email, ''))) VIRTUAL;
CREATE INDEX leads_account_search ON leads (account_id, created_at, id, search_text);
