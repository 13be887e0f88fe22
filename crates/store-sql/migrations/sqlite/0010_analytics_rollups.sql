-- Analytics rollups (SQLite): the dashboard's counts are read from small per-15-minute tables
-- that the database keeps in step with every write, so a 90-day report sums a few thousand rows
-- instead of aggregating every message. 15 minutes divides every UTC offset in use, so buckets
-- regroup exactly into any account's calendar days. Kept statement for statement with the
-- PostgreSQL file, which does the same with trigger functions.
--
-- A conversation keeps its first and last inbound message, its first sent message and the first
-- message sent after its first inbound one; a lead keeps the earliest and latest of those over its
-- conversations. Those columns give each lead (and each lead on a channel) a funnel level:
-- 0 new, 1 contacted, 2 replied, 3 qualified, 4 booked (see `leadline_store::analytics`).

ALTER TABLE conversations ADD COLUMN first_inbound_at BIGINT;
ALTER TABLE conversations ADD COLUMN last_inbound_at BIGINT;
ALTER TABLE conversations ADD COLUMN first_sent_at BIGINT;
ALTER TABLE conversations ADD COLUMN first_reply_at BIGINT;
ALTER TABLE conversations ADD COLUMN lead_stage TEXT;
ALTER TABLE conversations ADD COLUMN lead_created_at BIGINT;
ALTER TABLE leads ADD COLUMN first_sent_at BIGINT;
ALTER TABLE leads ADD COLUMN last_inbound_at BIGINT;

UPDATE conversations SET
    first_inbound_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.account_id = conversations.account_id
        AND m.conversation_id = conversations.id AND m.direction = 'inbound'),
    last_inbound_at = (SELECT MAX(m.created_at) FROM messages m WHERE m.account_id = conversations.account_id
        AND m.conversation_id = conversations.id AND m.direction = 'inbound'),
    first_sent_at = (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = conversations.account_id
        AND m.conversation_id = conversations.id AND m.direction = 'outbound'),
    lead_stage = (SELECT l.stage FROM leads l WHERE l.account_id = conversations.account_id AND l.id = conversations.lead_id),
    lead_created_at = (SELECT l.created_at FROM leads l WHERE l.account_id = conversations.account_id AND l.id = conversations.lead_id);
UPDATE conversations SET
    first_reply_at = (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = conversations.account_id
        AND m.conversation_id = conversations.id AND m.direction = 'outbound' AND m.sent_at >= conversations.first_inbound_at);
UPDATE leads SET
    first_sent_at = (SELECT MIN(c.first_sent_at) FROM conversations c WHERE c.account_id = leads.account_id AND c.lead_id = leads.id),
    last_inbound_at = (SELECT MAX(c.last_inbound_at) FROM conversations c WHERE c.account_id = leads.account_id AND c.lead_id = leads.id);

ALTER TABLE leads ADD COLUMN funnel_level INTEGER GENERATED ALWAYS AS (
    CASE WHEN stage = 'booked' THEN 4 WHEN stage = 'qualified' THEN 3
         WHEN stage = 'replied' OR last_inbound_at > first_sent_at THEN 2
         WHEN stage = 'contacted' OR first_sent_at IS NOT NULL THEN 1 ELSE 0 END) VIRTUAL;
ALTER TABLE conversations ADD COLUMN funnel_level INTEGER GENERATED ALWAYS AS (
    CASE WHEN lead_stage = 'booked' THEN 4 WHEN lead_stage = 'qualified' THEN 3
         WHEN lead_stage = 'replied' OR last_inbound_at > first_sent_at THEN 2
         WHEN lead_stage = 'contacted' OR first_sent_at IS NOT NULL THEN 1 ELSE 0 END) VIRTUAL;
-- Seconds to the first reply, rounded down: to the second under a minute, 5 s under ten minutes,
-- 30 s under an hour, 5 min under a day, hours beyond; -1 while unanswered.
ALTER TABLE conversations ADD COLUMN wait_key BIGINT GENERATED ALWAYS AS (
    CASE WHEN first_reply_at IS NULL THEN -1
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 60 THEN (first_reply_at - first_inbound_at) / 1000000
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 600 THEN (first_reply_at - first_inbound_at) / 5000000 * 5
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 3600 THEN (first_reply_at - first_inbound_at) / 30000000 * 30
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 86400 THEN (first_reply_at - first_inbound_at) / 300000000 * 300
         ELSE (first_reply_at - first_inbound_at) / 3600000000 * 3600 END) VIRTUAL;

-- Messages per bucket of when they happened (sent, or else received or queued).
CREATE TABLE analytics_messages (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    bucket BIGINT NOT NULL,
    channel_id TEXT NOT NULL,
    inbound BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    segments BIGINT NOT NULL,
    PRIMARY KEY (account_id, bucket, channel_id)
);
-- Leads per bucket of their creation and how far they got; channel '' is every channel (a lead
-- once), a channel id is the leads with a conversation on it.
CREATE TABLE analytics_funnel (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    leads BIGINT NOT NULL,
    contacted BIGINT NOT NULL,
    replied BIGINT NOT NULL,
    qualified BIGINT NOT NULL,
    booked BIGINT NOT NULL,
    PRIMARY KEY (account_id, channel_id, bucket)
);
-- Conversations per bucket of their first inbound message and rounded wait for the first reply.
CREATE TABLE analytics_response (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    bucket BIGINT NOT NULL,
    channel_id TEXT NOT NULL,
    wait_key BIGINT NOT NULL,
    conversations BIGINT NOT NULL,
    PRIMARY KEY (account_id, bucket, channel_id, wait_key)
);
-- Hand-offs in a range.
CREATE INDEX notifications_account_kind_created ON notifications (account_id, kind, created_at);
-- The rollups replace the covering index the aggregates used to scan.
DROP INDEX messages_account_activity;

INSERT INTO analytics_messages (account_id, bucket, channel_id, inbound, sent, delivered, failed, segments)
SELECT account_id, COALESCE(sent_at, created_at) / 900000000, channel_id,
    SUM(direction = 'inbound'),
    SUM(direction = 'outbound' AND sent_at IS NOT NULL),
    SUM(direction = 'outbound' AND sent_at IS NOT NULL AND status IN ('delivered', 'read')),
    SUM(direction = 'outbound' AND status IN ('failed', 'undelivered')),
    SUM(CASE WHEN direction = 'outbound' AND sent_at IS NOT NULL THEN segments ELSE 0 END)
FROM messages
WHERE direction = 'inbound' OR sent_at IS NOT NULL OR status IN ('failed', 'undelivered')
GROUP BY 1, 2, 3;
INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
SELECT account_id, '', created_at / 900000000, COUNT(*), SUM(funnel_level >= 1), SUM(funnel_level >= 2),
    SUM(funnel_level >= 3), SUM(funnel_level >= 4)
FROM leads GROUP BY 1, 2, 3;
INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
SELECT account_id, channel_id, lead_created_at / 900000000, COUNT(*), SUM(funnel_level >= 1),
    SUM(funnel_level >= 2), SUM(funnel_level >= 3), SUM(funnel_level >= 4)
FROM conversations WHERE lead_created_at IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO analytics_response (account_id, bucket, channel_id, wait_key, conversations)
SELECT account_id, first_inbound_at / 900000000, channel_id, wait_key, COUNT(*)
FROM conversations WHERE first_inbound_at IS NOT NULL GROUP BY 1, 2, 3, 4;

-- ---- messages: their counts, and their conversation's first/last columns ----

CREATE TRIGGER messages_rollup_add AFTER INSERT ON messages
WHEN NEW.direction = 'inbound' OR NEW.sent_at IS NOT NULL OR NEW.status IN ('failed', 'undelivered')
BEGIN
    INSERT INTO analytics_messages (account_id, bucket, channel_id, inbound, sent, delivered, failed, segments)
    VALUES (NEW.account_id, COALESCE(NEW.sent_at, NEW.created_at) / 900000000, NEW.channel_id,
        NEW.direction = 'inbound',
        NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL,
        NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL AND NEW.status IN ('delivered', 'read'),
        NEW.direction = 'outbound' AND NEW.status IN ('failed', 'undelivered'),
        CASE WHEN NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL THEN NEW.segments ELSE 0 END)
    ON CONFLICT (account_id, bucket, channel_id) DO UPDATE SET
        inbound = inbound + excluded.inbound, sent = sent + excluded.sent,
        delivered = delivered + excluded.delivered, failed = failed + excluded.failed,
        segments = segments + excluded.segments;
END;

CREATE TRIGGER messages_rollup_update_add AFTER UPDATE OF sent_at, status, segments, created_at, direction, channel_id ON messages
WHEN (NEW.direction = 'inbound' OR NEW.sent_at IS NOT NULL OR NEW.status IN ('failed', 'undelivered'))
    AND (OLD.sent_at IS NOT NEW.sent_at OR OLD.status IS NOT NEW.status OR OLD.segments IS NOT NEW.segments
        OR OLD.created_at IS NOT NEW.created_at OR OLD.direction IS NOT NEW.direction OR OLD.channel_id IS NOT NEW.channel_id)
BEGIN
    INSERT INTO analytics_messages (account_id, bucket, channel_id, inbound, sent, delivered, failed, segments)
    VALUES (NEW.account_id, COALESCE(NEW.sent_at, NEW.created_at) / 900000000, NEW.channel_id,
        NEW.direction = 'inbound',
        NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL,
        NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL AND NEW.status IN ('delivered', 'read'),
        NEW.direction = 'outbound' AND NEW.status IN ('failed', 'undelivered'),
        CASE WHEN NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL THEN NEW.segments ELSE 0 END)
    ON CONFLICT (account_id, bucket, channel_id) DO UPDATE SET
        inbound = inbound + excluded.inbound, sent = sent + excluded.sent,
        delivered = delivered + excluded.delivered, failed = failed + excluded.failed,
        segments = segments + excluded.segments;
END;

CREATE TRIGGER messages_rollup_update_remove AFTER UPDATE OF sent_at, status, segments, created_at, direction, channel_id ON messages
WHEN (OLD.direction = 'inbound' OR OLD.sent_at IS NOT NULL OR OLD.status IN ('failed', 'undelivered'))
    AND (OLD.sent_at IS NOT NEW.sent_at OR OLD.status IS NOT NEW.status OR OLD.segments IS NOT NEW.segments
        OR OLD.created_at IS NOT NEW.created_at OR OLD.direction IS NOT NEW.direction OR OLD.channel_id IS NOT NEW.channel_id)
BEGIN
    UPDATE analytics_messages SET
        inbound = inbound - (OLD.direction = 'inbound'),
        sent = sent - (OLD.direction = 'outbound' AND OLD.sent_at IS NOT NULL),
        delivered = delivered - (OLD.direction = 'outbound' AND OLD.sent_at IS NOT NULL AND OLD.status IN ('delivered', 'read')),
        failed = failed - (OLD.direction = 'outbound' AND OLD.status IN ('failed', 'undelivered')),
        segments = segments - CASE WHEN OLD.direction = 'outbound' AND OLD.sent_at IS NOT NULL THEN OLD.segments ELSE 0 END
    WHERE account_id = OLD.account_id AND bucket = COALESCE(OLD.sent_at, OLD.created_at) / 900000000
        AND channel_id = OLD.channel_id;
END;

CREATE TRIGGER messages_rollup_remove AFTER DELETE ON messages
WHEN OLD.direction = 'inbound' OR OLD.sent_at IS NOT NULL OR OLD.status IN ('failed', 'undelivered')
BEGIN
    UPDATE analytics_messages SET
        inbound = inbound - (OLD.direction = 'inbound'),
        sent = sent - (OLD.direction = 'outbound' AND OLD.sent_at IS NOT NULL),
        delivered = delivered - (OLD.direction = 'outbound' AND OLD.sent_at IS NOT NULL AND OLD.status IN ('delivered', 'read')),
        failed = failed - (OLD.direction = 'outbound' AND OLD.status IN ('failed', 'undelivered')),
        segments = segments - CASE WHEN OLD.direction = 'outbound' AND OLD.sent_at IS NOT NULL THEN OLD.segments ELSE 0 END
    WHERE account_id = OLD.account_id AND bucket = COALESCE(OLD.sent_at, OLD.created_at) / 900000000
        AND channel_id = OLD.channel_id;
END;

-- An inbound message: the conversation's first and last inbound (the usual case touches only the
-- last; an earlier first inbound re-finds the first reply after it).
CREATE TRIGGER messages_conversation_inbound AFTER INSERT ON messages WHEN NEW.direction = 'inbound'
BEGIN
    UPDATE conversations SET
        first_reply_at = CASE WHEN first_inbound_at IS NULL OR NEW.created_at < first_inbound_at
            THEN (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = NEW.account_id
                AND m.conversation_id = NEW.conversation_id AND m.direction = 'outbound' AND m.sent_at >= NEW.created_at)
            ELSE first_reply_at END,
        first_inbound_at = CASE WHEN first_inbound_at IS NULL OR NEW.created_at < first_inbound_at
            THEN NEW.created_at ELSE first_inbound_at END,
        last_inbound_at = CASE WHEN last_inbound_at IS NULL OR NEW.created_at > last_inbound_at
            THEN NEW.created_at ELSE last_inbound_at END
    WHERE account_id = NEW.account_id AND id = NEW.conversation_id
        AND (first_inbound_at IS NULL OR NEW.created_at < first_inbound_at
            OR last_inbound_at IS NULL OR NEW.created_at > last_inbound_at);
END;

-- A message handed to the provider (inserted sent, or marked sent): the first sent and the first
-- reply, when it comes before them.
CREATE TRIGGER messages_conversation_sent AFTER INSERT ON messages
WHEN NEW.direction = 'outbound' AND NEW.sent_at IS NOT NULL
BEGIN
    UPDATE conversations SET
        first_sent_at = CASE WHEN first_sent_at IS NULL OR NEW.sent_at < first_sent_at THEN NEW.sent_at ELSE first_sent_at END,
        first_reply_at = CASE WHEN first_inbound_at IS NOT NULL AND NEW.sent_at >= first_inbound_at
            AND (first_reply_at IS NULL OR NEW.sent_at < first_reply_at) THEN NEW.sent_at ELSE first_reply_at END
    WHERE account_id = NEW.account_id AND id = NEW.conversation_id
        AND (first_sent_at IS NULL OR NEW.sent_at < first_sent_at
            OR (first_inbound_at IS NOT NULL AND NEW.sent_at >= first_inbound_at
                AND (first_reply_at IS NULL OR NEW.sent_at < first_reply_at)));
END;

CREATE TRIGGER messages_conversation_marked_sent AFTER UPDATE OF sent_at ON messages
WHEN NEW.direction = 'outbound' AND OLD.direction = 'outbound' AND OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL
    AND OLD.conversation_id = NEW.conversation_id AND OLD.created_at = NEW.created_at
BEGIN
    UPDATE conversations SET
        first_sent_at = CASE WHEN first_sent_at IS NULL OR NEW.sent_at < first_sent_at THEN NEW.sent_at ELSE first_sent_at END,
        first_reply_at = CASE WHEN first_inbound_at IS NOT NULL AND NEW.sent_at >= first_inbound_at
            AND (first_reply_at IS NULL OR NEW.sent_at < first_reply_at) THEN NEW.sent_at ELSE first_reply_at END
    WHERE account_id = NEW.account_id AND id = NEW.conversation_id
        AND (first_sent_at IS NULL OR NEW.sent_at < first_sent_at
            OR (first_inbound_at IS NOT NULL AND NEW.sent_at >= first_inbound_at
                AND (first_reply_at IS NULL OR NEW.sent_at < first_reply_at)));
END;

-- Any other change to when or where a message happened, and deletions: find the columns again
-- (a handful of seeks on messages_conversation_direction).
CREATE TRIGGER messages_conversation_moved AFTER UPDATE OF sent_at, created_at, direction, conversation_id ON messages
WHEN (OLD.sent_at IS NOT NEW.sent_at OR OLD.created_at IS NOT NEW.created_at
        OR OLD.direction IS NOT NEW.direction OR OLD.conversation_id IS NOT NEW.conversation_id)
    AND NOT (NEW.direction = 'outbound' AND OLD.direction = 'outbound' AND OLD.sent_at IS NULL
        AND NEW.sent_at IS NOT NULL AND OLD.conversation_id = NEW.conversation_id AND OLD.created_at = NEW.created_at)
BEGIN
    UPDATE conversations SET
        first_inbound_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.account_id = conversations.account_id
            AND m.conversation_id = conversations.id AND m.direction = 'inbound'),
        last_inbound_at = (SELECT MAX(m.created_at) FROM messages m WHERE m.account_id = conversations.account_id
            AND m.conversation_id = conversations.id AND m.direction = 'inbound'),
        first_sent_at = (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = conversations.account_id
            AND m.conversation_id = conversations.id AND m.direction = 'outbound'),
        first_reply_at = (SELECT MIN(o.sent_at) FROM messages o WHERE o.account_id = conversations.account_id
            AND o.conversation_id = conversations.id AND o.direction = 'outbound'
            AND o.sent_at >= (SELECT MIN(i.created_at) FROM messages i WHERE i.account_id = conversations.account_id
                AND i.conversation_id = conversations.id AND i.direction = 'inbound'))
    WHERE account_id = NEW.account_id AND id IN (OLD.conversation_id, NEW.conversation_id);
END;

CREATE TRIGGER messages_conversation_removed AFTER DELETE ON messages
BEGIN
    UPDATE conversations SET
        first_inbound_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.account_id = conversations.account_id
            AND m.conversation_id = conversations.id AND m.direction = 'inbound'),
        last_inbound_at = (SELECT MAX(m.created_at) FROM messages m WHERE m.account_id = conversations.account_id
            AND m.conversation_id = conversations.id AND m.direction = 'inbound'),
        first_sent_at = (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = conversations.account_id
            AND m.conversation_id = conversations.id AND m.direction = 'outbound'),
        first_reply_at = (SELECT MIN(o.sent_at) FROM messages o WHERE o.account_id = conversations.account_id
            AND o.conversation_id = conversations.id AND o.direction = 'outbound'
            AND o.sent_at >= (SELECT MIN(i.created_at) FROM messages i WHERE i.account_id = conversations.account_id
                AND i.conversation_id = conversations.id AND i.direction = 'inbound'))
    WHERE account_id = OLD.account_id AND id = OLD.conversation_id;
END;

-- ---- conversations: the per-channel funnel and first responses, and their lead's columns ----

-- A new conversation copies its lead's stage and creation (kept in step by leads_stage_copy).
CREATE TRIGGER conversations_lead_copy AFTER INSERT ON conversations
BEGIN
    UPDATE conversations SET
        lead_stage = (SELECT l.stage FROM leads l WHERE l.account_id = NEW.account_id AND l.id = NEW.lead_id),
        lead_created_at = (SELECT l.created_at FROM leads l WHERE l.account_id = NEW.account_id AND l.id = NEW.lead_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER conversations_funnel_add AFTER UPDATE OF lead_created_at, lead_stage, first_sent_at, last_inbound_at, channel_id ON conversations
WHEN NEW.lead_created_at IS NOT NULL AND (OLD.lead_created_at IS NOT NEW.lead_created_at
    OR OLD.funnel_level IS NOT NEW.funnel_level OR OLD.channel_id IS NOT NEW.channel_id)
BEGIN
    INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
    SELECT NEW.account_id, NEW.channel_id, NEW.lead_created_at / 900000000, 1, NEW.funnel_level >= 1,
        NEW.funnel_level >= 2, NEW.funnel_level >= 3, NEW.funnel_level >= 4
    WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = NEW.account_id)
    ON CONFLICT (account_id, channel_id, bucket) DO UPDATE SET
        leads = leads + excluded.leads, contacted = contacted + excluded.contacted,
        replied = replied + excluded.replied, qualified = qualified + excluded.qualified,
        booked = booked + excluded.booked;
END;

CREATE TRIGGER conversations_funnel_remove AFTER UPDATE OF lead_created_at, lead_stage, first_sent_at, last_inbound_at, channel_id ON conversations
WHEN OLD.lead_created_at IS NOT NULL AND (OLD.lead_created_at IS NOT NEW.lead_created_at
    OR OLD.funnel_level IS NOT NEW.funnel_level OR OLD.channel_id IS NOT NEW.channel_id)
BEGIN
    UPDATE analytics_funnel SET leads = leads - 1, contacted = contacted - (OLD.funnel_level >= 1),
        replied = replied - (OLD.funnel_level >= 2), qualified = qualified - (OLD.funnel_level >= 3),
        booked = booked - (OLD.funnel_level >= 4)
    WHERE account_id = OLD.account_id AND channel_id = OLD.channel_id AND bucket = OLD.lead_created_at / 900000000;
END;

CREATE TRIGGER conversations_response_add AFTER UPDATE OF first_inbound_at, first_reply_at, channel_id ON conversations
WHEN NEW.first_inbound_at IS NOT NULL AND (OLD.first_inbound_at IS NOT NEW.first_inbound_at
    OR OLD.wait_key IS NOT NEW.wait_key OR OLD.channel_id IS NOT NEW.channel_id)
BEGIN
    INSERT INTO analytics_response (account_id, bucket, channel_id, wait_key, conversations)
    SELECT NEW.account_id, NEW.first_inbound_at / 900000000, NEW.channel_id, NEW.wait_key, 1
    WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = NEW.account_id)
    ON CONFLICT (account_id, bucket, channel_id, wait_key) DO UPDATE SET
        conversations = conversations + excluded.conversations;
END;

CREATE TRIGGER conversations_response_remove AFTER UPDATE OF first_inbound_at, first_reply_at, channel_id ON conversations
WHEN OLD.first_inbound_at IS NOT NULL AND (OLD.first_inbound_at IS NOT NEW.first_inbound_at
    OR OLD.wait_key IS NOT NEW.wait_key OR OLD.channel_id IS NOT NEW.channel_id)
BEGIN
    UPDATE analytics_response SET conversations = conversations - 1
    WHERE account_id = OLD.account_id AND bucket = OLD.first_inbound_at / 900000000
        AND channel_id = OLD.channel_id AND wait_key = OLD.wait_key;
END;

CREATE TRIGGER conversations_lead_activity AFTER UPDATE OF first_sent_at, last_inbound_at ON conversations
WHEN OLD.first_sent_at IS NOT NEW.first_sent_at OR OLD.last_inbound_at IS NOT NEW.last_inbound_at
BEGIN
    UPDATE leads SET
        first_sent_at = (SELECT MIN(c.first_sent_at) FROM conversations c WHERE c.account_id = NEW.account_id AND c.lead_id = NEW.lead_id),
        last_inbound_at = (SELECT MAX(c.last_inbound_at) FROM conversations c WHERE c.account_id = NEW.account_id AND c.lead_id = NEW.lead_id)
    WHERE account_id = NEW.account_id AND id = NEW.lead_id;
END;

CREATE TRIGGER conversations_removed AFTER DELETE ON conversations
BEGIN
    UPDATE analytics_funnel SET leads = leads - 1, contacted = contacted - (OLD.funnel_level >= 1),
        replied = replied - (OLD.funnel_level >= 2), qualified = qualified - (OLD.funnel_level >= 3),
        booked = booked - (OLD.funnel_level >= 4)
    WHERE OLD.lead_created_at IS NOT NULL AND account_id = OLD.account_id AND channel_id = OLD.channel_id
        AND bucket = OLD.lead_created_at / 900000000;
    UPDATE analytics_response SET conversations = conversations - 1
    WHERE OLD.first_inbound_at IS NOT NULL AND account_id = OLD.account_id
        AND bucket = OLD.first_inbound_at / 900000000 AND channel_id = OLD.channel_id AND wait_key = OLD.wait_key;
    UPDATE leads SET
        first_sent_at = (SELECT MIN(c.first_sent_at) FROM conversations c WHERE c.account_id = OLD.account_id AND c.lead_id = OLD.lead_id),
        last_inbound_at = (SELECT MAX(c.last_inbound_at) FROM conversations c WHERE c.account_id = OLD.account_id AND c.lead_id = OLD.lead_id)
    WHERE account_id = OLD.account_id AND id = OLD.lead_id;
END;

-- ---- leads: the all-channel funnel, and the stage their conversations copy ----

CREATE TRIGGER leads_funnel_insert AFTER INSERT ON leads
BEGIN
    INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
    VALUES (NEW.account_id, '', NEW.created_at / 900000000, 1, NEW.funnel_level >= 1, NEW.funnel_level >= 2,
        NEW.funnel_level >= 3, NEW.funnel_level >= 4)
    ON CONFLICT (account_id, channel_id, bucket) DO UPDATE SET
        leads = leads + excluded.leads, contacted = contacted + excluded.contacted,
        replied = replied + excluded.replied, qualified = qualified + excluded.qualified,
        booked = booked + excluded.booked;
END;

CREATE TRIGGER leads_funnel_add AFTER UPDATE OF stage, first_sent_at, last_inbound_at, created_at ON leads
WHEN OLD.funnel_level IS NOT NEW.funnel_level OR OLD.created_at IS NOT NEW.created_at
BEGIN
    INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
    SELECT NEW.account_id, '', NEW.created_at / 900000000, 1, NEW.funnel_level >= 1, NEW.funnel_level >= 2,
        NEW.funnel_level >= 3, NEW.funnel_level >= 4
    WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = NEW.account_id)
    ON CONFLICT (account_id, channel_id, bucket) DO UPDATE SET
        leads = leads + excluded.leads, contacted = contacted + excluded.contacted,
        replied = replied + excluded.replied, qualified = qualified + excluded.qualified,
        booked = booked + excluded.booked;
END;

CREATE TRIGGER leads_funnel_remove AFTER UPDATE OF stage, first_sent_at, last_inbound_at, created_at ON leads
WHEN OLD.funnel_level IS NOT NEW.funnel_level OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE analytics_funnel SET leads = leads - 1, contacted = contacted - (OLD.funnel_level >= 1),
        replied = replied - (OLD.funnel_level >= 2), qualified = qualified - (OLD.funnel_level >= 3),
        booked = booked - (OLD.funnel_level >= 4)
    WHERE account_id = OLD.account_id AND channel_id = '' AND bucket = OLD.created_at / 900000000;
END;

CREATE TRIGGER leads_funnel_delete AFTER DELETE ON leads
BEGIN
    UPDATE analytics_funnel SET leads = leads - 1, contacted = contacted - (OLD.funnel_level >= 1),
        replied = replied - (OLD.funnel_level >= 2), qualified = qualified - (OLD.funnel_level >= 3),
        booked = booked - (OLD.funnel_level >= 4)
    WHERE account_id = OLD.account_id AND channel_id = '' AND bucket = OLD.created_at / 900000000;
END;

CREATE TRIGGER leads_stage_copy AFTER UPDATE OF stage, created_at ON leads
WHEN OLD.stage IS NOT NEW.stage OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE conversations SET lead_stage = NEW.stage, lead_created_at = NEW.created_at
    WHERE account_id = NEW.account_id AND lead_id = NEW.id;
END;
