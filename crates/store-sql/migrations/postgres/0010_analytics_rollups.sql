-- Analytics rollups (PostgreSQL): the dashboard's counts are read from small per-15-minute tables
-- that the database keeps in step with every write, so a 90-day report sums a few thousand rows
-- instead of aggregating every message. 15 minutes divides every UTC offset in use, so buckets
-- regroup exactly into any account's calendar days. Same tables, columns and rules as the SQLite
-- file, which does with one trigger per case what the functions here do.
--
-- A conversation keeps its first and last inbound message, its first sent message and the first
-- message sent after its first inbound one; a lead keeps the earliest and latest of those over its
-- conversations. Those columns give each lead (and each lead on a channel) a funnel level:
-- 0 new, 1 contacted, 2 replied, 3 qualified, 4 booked (see `leadline_store::analytics`).
--
-- The conversation and lead columns are kept by ordinary row triggers. The rollup tables are
-- changed by deferred constraint triggers, at commit: a rollup row is shared by every write of an
-- account in the same 15 minutes, so taking its lock last keeps it held briefly and never before
-- a conversation's or lead's lock (no lock-order deadlocks).

ALTER TABLE conversations ADD COLUMN first_inbound_at BIGINT, ADD COLUMN last_inbound_at BIGINT,
    ADD COLUMN first_sent_at BIGINT, ADD COLUMN first_reply_at BIGINT, ADD COLUMN lead_stage TEXT,
    ADD COLUMN lead_created_at BIGINT;
ALTER TABLE leads ADD COLUMN first_sent_at BIGINT, ADD COLUMN last_inbound_at BIGINT;

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
         WHEN stage = 'contacted' OR first_sent_at IS NOT NULL THEN 1 ELSE 0 END) STORED;
ALTER TABLE conversations ADD COLUMN funnel_level INTEGER GENERATED ALWAYS AS (
    CASE WHEN lead_stage = 'booked' THEN 4 WHEN lead_stage = 'qualified' THEN 3
         WHEN lead_stage = 'replied' OR last_inbound_at > first_sent_at THEN 2
         WHEN lead_stage = 'contacted' OR first_sent_at IS NOT NULL THEN 1 ELSE 0 END) STORED;
-- Seconds to the first reply, rounded down: to the second under a minute, 5 s under ten minutes,
-- 30 s under an hour, 5 min under a day, hours beyond; -1 while unanswered.
ALTER TABLE conversations ADD COLUMN wait_key BIGINT GENERATED ALWAYS AS (
    CASE WHEN first_reply_at IS NULL THEN -1
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 60 THEN (first_reply_at - first_inbound_at) / 1000000
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 600 THEN (first_reply_at - first_inbound_at) / 5000000 * 5
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 3600 THEN (first_reply_at - first_inbound_at) / 30000000 * 30
         WHEN (first_reply_at - first_inbound_at) / 1000000 < 86400 THEN (first_reply_at - first_inbound_at) / 300000000 * 300
         ELSE (first_reply_at - first_inbound_at) / 3600000000 * 3600 END) STORED;

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
    SUM((direction = 'inbound')::int),
    SUM((direction = 'outbound' AND sent_at IS NOT NULL)::int),
    SUM((direction = 'outbound' AND sent_at IS NOT NULL AND status IN ('delivered', 'read'))::int),
    SUM((direction = 'outbound' AND status IN ('failed', 'undelivered'))::int),
    SUM(CASE WHEN direction = 'outbound' AND sent_at IS NOT NULL THEN segments ELSE 0 END)
FROM messages
WHERE direction = 'inbound' OR sent_at IS NOT NULL OR status IN ('failed', 'undelivered')
GROUP BY 1, 2, 3;
INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
SELECT account_id, '', created_at / 900000000, COUNT(*), SUM((funnel_level >= 1)::int),
    SUM((funnel_level >= 2)::int), SUM((funnel_level >= 3)::int), SUM((funnel_level >= 4)::int)
FROM leads GROUP BY 1, 2, 3;
INSERT INTO analytics_funnel (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
SELECT account_id, channel_id, lead_created_at / 900000000, COUNT(*), SUM((funnel_level >= 1)::int),
    SUM((funnel_level >= 2)::int), SUM((funnel_level >= 3)::int), SUM((funnel_level >= 4)::int)
FROM conversations WHERE lead_created_at IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO analytics_response (account_id, bucket, channel_id, wait_key, conversations)
SELECT account_id, first_inbound_at / 900000000, channel_id, wait_key, COUNT(*)
FROM conversations WHERE first_inbound_at IS NOT NULL GROUP BY 1, 2, 3, 4;

-- ---- rollup helpers: add (sign 1) or take back (sign -1) one row's counts ----
-- The account check skips rows of an account deleted in the same transaction (its rollups went
-- with it).

CREATE FUNCTION analytics_count_message(m messages, sign BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (m.direction = 'inbound' OR m.sent_at IS NOT NULL OR m.status IN ('failed', 'undelivered')) THEN
        RETURN;
    END IF;
    INSERT INTO analytics_messages AS a (account_id, bucket, channel_id, inbound, sent, delivered, failed, segments)
    SELECT m.account_id, COALESCE(m.sent_at, m.created_at) / 900000000, m.channel_id,
        sign * (m.direction = 'inbound')::int,
        sign * (m.direction = 'outbound' AND m.sent_at IS NOT NULL)::int,
        sign * (m.direction = 'outbound' AND m.sent_at IS NOT NULL AND m.status IN ('delivered', 'read'))::int,
        sign * (m.direction = 'outbound' AND m.status IN ('failed', 'undelivered'))::int,
        sign * CASE WHEN m.direction = 'outbound' AND m.sent_at IS NOT NULL THEN m.segments ELSE 0 END
    WHERE EXISTS (SELECT 1 FROM accounts WHERE id = m.account_id)
    ON CONFLICT (account_id, bucket, channel_id) DO UPDATE SET
        inbound = a.inbound + excluded.inbound, sent = a.sent + excluded.sent,
        delivered = a.delivered + excluded.delivered, failed = a.failed + excluded.failed,
        segments = a.segments + excluded.segments;
END $$;

CREATE FUNCTION analytics_count_lead(account TEXT, channel TEXT, created BIGINT, level INTEGER, sign BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_funnel AS f (account_id, channel_id, bucket, leads, contacted, replied, qualified, booked)
    SELECT account, channel, created / 900000000, sign, sign * (level >= 1)::int, sign * (level >= 2)::int,
        sign * (level >= 3)::int, sign * (level >= 4)::int
    WHERE EXISTS (SELECT 1 FROM accounts WHERE id = account)
    ON CONFLICT (account_id, channel_id, bucket) DO UPDATE SET
        leads = f.leads + excluded.leads, contacted = f.contacted + excluded.contacted,
        replied = f.replied + excluded.replied, qualified = f.qualified + excluded.qualified,
        booked = f.booked + excluded.booked;
END $$;

CREATE FUNCTION analytics_count_response(account TEXT, channel TEXT, first_in BIGINT, wait BIGINT, sign BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_response AS r (account_id, bucket, channel_id, wait_key, conversations)
    SELECT account, first_in / 900000000, channel, wait, sign
    WHERE EXISTS (SELECT 1 FROM accounts WHERE id = account)
    ON CONFLICT (account_id, bucket, channel_id, wait_key) DO UPDATE SET
        conversations = r.conversations + excluded.conversations;
END $$;

-- ---- messages: their counts, and their conversation's first/last columns ----

CREATE FUNCTION messages_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.sent_at IS NOT DISTINCT FROM NEW.sent_at AND OLD.status = NEW.status
        AND OLD.segments = NEW.segments AND OLD.created_at = NEW.created_at
        AND OLD.direction = NEW.direction AND OLD.channel_id = NEW.channel_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM analytics_count_message(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM analytics_count_message(NEW, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER messages_rollup
    AFTER INSERT OR DELETE OR UPDATE OF sent_at, status, segments, created_at, direction, channel_id ON messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION messages_rollup();

-- Find a conversation's columns again (a handful of seeks on messages_conversation_direction).
CREATE FUNCTION conversation_recount(account TEXT, conversation TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET
        first_inbound_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.account_id = account
            AND m.conversation_id = conversation AND m.direction = 'inbound'),
        last_inbound_at = (SELECT MAX(m.created_at) FROM messages m WHERE m.account_id = account
            AND m.conversation_id = conversation AND m.direction = 'inbound'),
        first_sent_at = (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = account
            AND m.conversation_id = conversation AND m.direction = 'outbound'),
        first_reply_at = (SELECT MIN(o.sent_at) FROM messages o WHERE o.account_id = account
            AND o.conversation_id = conversation AND o.direction = 'outbound'
            AND o.sent_at >= (SELECT MIN(i.created_at) FROM messages i WHERE i.account_id = account
                AND i.conversation_id = conversation AND i.direction = 'inbound'))
    WHERE account_id = account AND id = conversation;
END $$;

CREATE FUNCTION messages_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM conversation_recount(OLD.account_id, OLD.conversation_id);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.sent_at IS NOT DISTINCT FROM NEW.sent_at AND OLD.created_at = NEW.created_at
            AND OLD.direction = NEW.direction AND OLD.conversation_id = NEW.conversation_id THEN
            RETURN NULL;
        END IF;
        -- Anything but a message being marked sent: find the columns again.
        IF NOT (NEW.direction = 'outbound' AND OLD.direction = 'outbound' AND OLD.sent_at IS NULL
            AND NEW.sent_at IS NOT NULL AND OLD.conversation_id = NEW.conversation_id
            AND OLD.created_at = NEW.created_at) THEN
            PERFORM conversation_recount(NEW.account_id, NEW.conversation_id);
            IF OLD.conversation_id <> NEW.conversation_id THEN
                PERFORM conversation_recount(OLD.account_id, OLD.conversation_id);
            END IF;
            RETURN NULL;
        END IF;
    END IF;
    IF NEW.direction = 'inbound' THEN
        -- The usual case touches only the last inbound; an earlier first inbound re-finds the
        -- first reply after it.
        UPDATE conversations SET
            first_reply_at = CASE WHEN first_inbound_at IS NULL OR NEW.created_at < first_inbound_at
                THEN (SELECT MIN(m.sent_at) FROM messages m WHERE m.account_id = NEW.account_id
                    AND m.conversation_id = NEW.conversation_id AND m.direction = 'outbound'
                    AND m.sent_at >= NEW.created_at)
                ELSE first_reply_at END,
            first_inbound_at = LEAST(first_inbound_at, NEW.created_at),
            last_inbound_at = GREATEST(last_inbound_at, NEW.created_at)
        WHERE account_id = NEW.account_id AND id = NEW.conversation_id
            AND (first_inbound_at IS NULL OR NEW.created_at < first_inbound_at
                OR last_inbound_at IS NULL OR NEW.created_at > last_inbound_at);
    ELSIF NEW.sent_at IS NOT NULL THEN
        -- Handed to the provider: the first sent and the first reply, when it comes before them.
        UPDATE conversations SET
            first_sent_at = LEAST(first_sent_at, NEW.sent_at),
            first_reply_at = CASE WHEN first_inbound_at IS NOT NULL AND NEW.sent_at >= first_inbound_at
                THEN LEAST(first_reply_at, NEW.sent_at) ELSE first_reply_at END
        WHERE account_id = NEW.account_id AND id = NEW.conversation_id
            AND (first_sent_at IS NULL OR NEW.sent_at < first_sent_at
                OR (first_inbound_at IS NOT NULL AND NEW.sent_at >= first_inbound_at
                    AND (first_reply_at IS NULL OR NEW.sent_at < first_reply_at)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_conversation AFTER INSERT OR DELETE OR UPDATE OF sent_at, created_at, direction, conversation_id
    ON messages FOR EACH ROW EXECUTE FUNCTION messages_conversation();

-- ---- conversations: the per-channel funnel and first responses, and their lead's columns ----

-- A new conversation copies its lead's stage and creation (kept in step by leads_stage_copy).
CREATE FUNCTION conversations_lead_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT l.stage, l.created_at INTO NEW.lead_stage, NEW.lead_created_at
    FROM leads l WHERE l.account_id = NEW.account_id AND l.id = NEW.lead_id;
    RETURN NEW;
END $$;
CREATE TRIGGER conversations_lead_copy BEFORE INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_lead_copy();

CREATE FUNCTION conversations_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.lead_created_at IS DISTINCT FROM NEW.lead_created_at
        OR OLD.funnel_level <> NEW.funnel_level OR OLD.channel_id <> NEW.channel_id OR TG_OP = 'DELETE' THEN
        IF TG_OP <> 'INSERT' AND OLD.lead_created_at IS NOT NULL THEN
            PERFORM analytics_count_lead(OLD.account_id, OLD.channel_id, OLD.lead_created_at, OLD.funnel_level, -1);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.lead_created_at IS NOT NULL THEN
            PERFORM analytics_count_lead(NEW.account_id, NEW.channel_id, NEW.lead_created_at, NEW.funnel_level, 1);
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR TG_OP = 'DELETE' OR OLD.first_inbound_at IS DISTINCT FROM NEW.first_inbound_at
        OR OLD.wait_key <> NEW.wait_key OR OLD.channel_id <> NEW.channel_id THEN
        IF TG_OP <> 'INSERT' AND OLD.first_inbound_at IS NOT NULL THEN
            PERFORM analytics_count_response(OLD.account_id, OLD.channel_id, OLD.first_inbound_at, OLD.wait_key, -1);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.first_inbound_at IS NOT NULL THEN
            PERFORM analytics_count_response(NEW.account_id, NEW.channel_id, NEW.first_inbound_at, NEW.wait_key, 1);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER conversations_rollup AFTER INSERT OR DELETE OR UPDATE OF lead_created_at,
    lead_stage, first_sent_at, last_inbound_at, first_inbound_at, first_reply_at, channel_id ON conversations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION conversations_rollup();

CREATE FUNCTION conversations_lead_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.first_sent_at IS NOT DISTINCT FROM NEW.first_sent_at
        AND OLD.last_inbound_at IS NOT DISTINCT FROM NEW.last_inbound_at THEN
        RETURN NULL;
    END IF;
    -- The usual change moves a conversation's first sent earlier or its last inbound later, and
    -- the lead's the same way, without reading its other conversations.
    IF TG_OP = 'UPDATE'
        AND (OLD.first_sent_at IS NULL OR NEW.first_sent_at <= OLD.first_sent_at)
        AND (OLD.last_inbound_at IS NULL OR NEW.last_inbound_at >= OLD.last_inbound_at) THEN
        UPDATE leads SET first_sent_at = LEAST(first_sent_at, NEW.first_sent_at),
            last_inbound_at = GREATEST(last_inbound_at, NEW.last_inbound_at)
        WHERE id = NEW.lead_id AND account_id = NEW.account_id;
        RETURN NULL;
    END IF;
    -- Otherwise (a message or conversation deleted) find them again. Planned for each call: a
    -- plan cached while the tables were empty can pick an index by account alone and read every
    -- conversation of the account.
    EXECUTE 'UPDATE leads SET
        first_sent_at = (SELECT MIN(c.first_sent_at) FROM conversations c WHERE c.account_id = $1 AND c.lead_id = $2),
        last_inbound_at = (SELECT MAX(c.last_inbound_at) FROM conversations c WHERE c.account_id = $1 AND c.lead_id = $2)
    WHERE account_id = $1 AND id = $2' USING OLD.account_id, OLD.lead_id;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_lead_activity AFTER DELETE OR UPDATE OF first_sent_at, last_inbound_at
    ON conversations FOR EACH ROW EXECUTE FUNCTION conversations_lead_activity();

-- ---- leads: the all-channel funnel, and the stage their conversations copy ----

CREATE FUNCTION leads_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.funnel_level = NEW.funnel_level AND OLD.created_at = NEW.created_at THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM analytics_count_lead(OLD.account_id, '', OLD.created_at, OLD.funnel_level, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM analytics_count_lead(NEW.account_id, '', NEW.created_at, NEW.funnel_level, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER leads_rollup
    AFTER INSERT OR DELETE OR UPDATE OF stage, first_sent_at, last_inbound_at, created_at ON leads
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION leads_rollup();

CREATE FUNCTION leads_stage_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.stage IS DISTINCT FROM NEW.stage OR OLD.created_at IS DISTINCT FROM NEW.created_at THEN
        -- Planned for each call, for the reason in conversations_lead_activity.
        EXECUTE 'UPDATE conversations SET lead_stage = $3, lead_created_at = $4
            WHERE account_id = $1 AND lead_id = $2'
            USING NEW.account_id, NEW.id, NEW.stage, NEW.created_at;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER leads_stage_copy AFTER UPDATE OF stage, created_at ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_stage_copy();
