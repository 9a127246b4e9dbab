-- Personalized campaigns in a few set operations (issue 15 #3: a 1 000 000-row INSERT took ~44 s
-- against ~8 s for a plain bulk INSERT of the same payloads into the queue table).
--
-- Where the time went (1 000 000 rows, 980 000 distinct numbers, 50 000 of them new, 2 cores,
-- clock_timestamp() between the trigger's statements): the inbox INSERT itself ~8 %; a
-- temp table of every row with public.normalize_phone_e164 per row (plpgsql with SET search_path:
-- called, never inlined, ~7 µs a row) ~12 %; authors (a DISTINCT sort of every row) ~11 %; the
-- merge (a second sort, a second join with authors) ~7 %; the 100 chunks of array_agg +
-- pgmq.send_batch with a conversations_authors lookup per recipient ~47 %; the DELETE by hash
-- join ~9 %; refresh_campaign_statuses scanning the whole queue ~2 %; counts, an index and
-- ANALYZEs of the temp tables the rest.
--
-- Now:
--   1. the number rules are two inlinable SQL functions (no SET clause: the planner folds them
--      into the query, every name they use is schema-qualified so a caller's search_path cannot
--      change them); normalize_phone_e164 keeps its signature and answers for every other caller;
--   2. ONE sort of the new rows by (number, row id) merges duplicates (the first row wins) and
--      reads each number's author in the same pass, into a temp table;
--   3. the new numbers' authors are created from that table;
--   4. unsubscribed / excluded / invalid rows are recorded as `skipped` from that table;
--   5. ONE INSERT … SELECT writes every eligible recipient's payload into the queue table, in
--      number order (msg_ids ascend with the number): what pgmq.send_batch does, minus the array
--      of every payload it is handed. Sorts and temp tables spill to disk beyond work_mem, so the
--      backend's memory does not grow with the campaign and no chunking is needed; the queue's
--      statement trigger kicks the sender once; the latest conversation comes from a join;
--   6. the rows are deleted by their id range (the inbox holds no other row this transaction can
--      see: every INSERT's rows are deleted in its own statement), and the inbox is unlogged;
--   7. refresh_campaign_statuses runs only when nothing was queued (otherwise it cannot change
--      anything).
-- Behaviour is unchanged: one campaign per INSERT statement, recipient_count, numbers normalised,
-- the first row of a repeated number wins, new numbers get an author (added_via_file_upload),
-- unsubscribed / excluded / invalid rows recorded as skipped and never queued, the payload of
-- campaign_message_payload with `personalized`, all in the INSERT's transaction.

-- The number with whitespace, parentheses, dots and dashes removed (src/shared/phone/normalize.ts).
-- Numbers as people paste them hold only digits, `+` and those ASCII characters: plain replace()
-- handles them at a fraction of a regular expression's cost; anything else (a tab, a letter, a
-- non-ASCII space) takes the regular expression, which removes every kind of whitespace.
CREATE OR REPLACE FUNCTION public.phone_compact(p_raw text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN p_raw OPERATOR(pg_catalog.~) '[^0-9+(). -]'
      THEN pg_catalog.regexp_replace(p_raw, '[[:space:]().-]', '', 'g')
    ELSE pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
           p_raw, '-', ''), ' ', ''), '(', ''), ')', ''), '.', '')
  END
$$;

-- E.164 of a compacted number, NULL when not a number (src/shared/phone/normalize.ts):
--   * `+` or `00`, then 8–15 digits starting 1–9, and a leading country code 1 only with 10 more;
--   * bare digits: 10 starting 2–9 are US (prefixed 1), 11 starting 1 then 2–9 are US with their
--     country code, 11–15 starting 2–9 carry their country code already.
-- A valid number's digits start 1–9 after its prefix, so stripping leading `+` and `0` leaves
-- exactly the digits. Match-only regular expressions (no capture groups), which PostgreSQL runs
-- without backtracking.
CREATE OR REPLACE FUNCTION public.phone_e164_from_compact(p_compact text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN p_compact OPERATOR(pg_catalog.~) '^[2-9][0-9]{9}$'
      THEN '+1' OPERATOR(pg_catalog.||) p_compact
    WHEN p_compact OPERATOR(pg_catalog.~)
         '^(?:(?:\+|00)(?:1[0-9]{10}|[2-9][0-9]{7,14})|1[2-9][0-9]{9}|[2-9][0-9]{10,14})$'
      THEN '+' OPERATOR(pg_catalog.||) pg_catalog.ltrim(p_compact, '+0')
  END
$$;

CREATE OR REPLACE FUNCTION public.normalize_phone_e164(p_raw text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
  RETURN public.phone_e164_from_compact(public.phone_compact(p_raw));
END $$;

-- The inbox holds rows only inside the INSERT that brings them (its trigger deletes them before
-- the statement ends), so nothing in it ever needs crash recovery or a replica: unlogged, the
-- million rows a large INSERT writes and deletes there cost no WAL. (A no-op when it already is.)
ALTER TABLE public.campaign_personalized_recipients SET UNLOGGED;

CREATE OR REPLACE FUNCTION public.process_campaign_personalized_recipient_batch()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
-- The sorts and joins of up to a million rows: longer runs, fewer merge passes. One sort or hash
-- at a time in one backend: well under the 512 MB a 1 000 000-row INSERT may use.
SET work_mem = '64MB'
-- These plans cost millions, so PostgreSQL would JIT-compile them with inlining and optimisation
-- (~0.7 s a statement here) for expressions too simple to win it back.
SET jit = off
AS $$
DECLARE
  c public.campaigns%ROWTYPE;
  v_rows bigint;
  v_first_id integer;
  v_last_id integer;
  v_merged bigint;
  v_count integer;
BEGIN
  SELECT count(*), min(r.id), max(r.id) INTO v_rows, v_first_id, v_last_id FROM new_rows r;
  IF v_rows = 0 THEN
    RETURN NULL; -- upstream created an empty campaign for an empty INSERT
  END IF;

  -- One row per number (the lowest id of a repeated number wins), each invalid row on its own
  -- (its raw text is what the ledger shows), with the number's author as it is now: a number
  -- without one is new, so eligible (an author's defaults). ONE sort, by number then row id. The
  -- subqueries with OFFSET 0 compute each row's number once (the planner would otherwise repeat
  -- the expression in every sort key and join condition that uses it). Numbers sort bytewise
  -- (COLLATE "C"): `+` and digits order the same in every collation, and a libc collation's
  -- comparison costs several times more.
  -- Two such INSERTs in one transaction run this twice: drop first, and drop on commit.
  DROP TABLE IF EXISTS pg_temp.personalized_recipients;
  CREATE TEMP TABLE personalized_recipients ON COMMIT DROP AS
  SELECT d.phone, d.message,
         CASE WHEN d.phone IS NULL THEN left(coalesce(nullif(trim(d.invalid_raw), ''), '(empty)'), 64) END AS invalid_phone,
         a.phone_number IS NULL AS new_author,
         coalesce(a.unsubscribed, false) AS unsubscribed,
         CASE WHEN a.phone_number IS NULL THEN false ELSE a.exclude END AS exclude
  FROM (
    SELECT DISTINCT ON (n.phone COLLATE "C", n.invalid_id) n.phone, n.message, n.invalid_raw
    FROM (
      SELECT r.id, r.phone, r.message,
             CASE WHEN r.phone IS NULL THEN r.id END AS invalid_id,
             CASE WHEN r.phone IS NULL THEN r.raw_phone END AS invalid_raw
      FROM (SELECT x.id, public.phone_e164_from_compact(public.phone_compact(x.phone_number)) AS phone,
                   x.message, x.phone_number AS raw_phone
            FROM new_rows x OFFSET 0) AS r
      OFFSET 0
    ) AS n
    ORDER BY n.phone COLLATE "C", n.invalid_id, n.id
  ) AS d
  LEFT JOIN public.authors a ON a.phone_number = d.phone;
  GET DIAGNOSTICS v_merged = ROW_COUNT;

  INSERT INTO public.campaigns (title, first_message, run_at, processed, status, segments, second_message, label_ids)
  VALUES ('Personalized Campaign', 'Personalized campaign', now() - interval '1 minute', true, 'sending', NULL, NULL, '{}')
  RETURNING * INTO c;

  IF v_rows > v_merged THEN
    RAISE WARNING 'personalized campaign %: % rows repeated a number already in the batch; each number gets one message', c.id, v_rows - v_merged;
  END IF;

  -- ON CONFLICT covers a number someone else created since the read above (a concurrent opt-out
  -- included: the sender re-reads eligibility before each send).
  INSERT INTO public.authors (phone_number, added_via_file_upload)
  SELECT p.phone, true FROM pg_temp.personalized_recipients p
  WHERE p.new_author AND p.phone IS NOT NULL
  ORDER BY p.phone
  ON CONFLICT (phone_number) DO NOTHING;

  INSERT INTO public.message_sends (campaign_id, recipient_phone_number, is_second, state, queue_name, detail)
  SELECT c.id, coalesce(p.phone, p.invalid_phone), false, 'skipped', 'broadcast_first_messages',
         CASE WHEN p.phone IS NULL THEN 'invalid phone number'
              WHEN p.unsubscribed THEN 'unsubscribed'
              ELSE 'excluded' END
  FROM pg_temp.personalized_recipients p
  WHERE p.phone IS NULL OR p.unsubscribed OR p.exclude IS NOT FALSE
  ON CONFLICT DO NOTHING;

  -- The payload of public.campaign_message_payload(c, phone, message), built inline (that
  -- function has a SET clause, so it is called, not inlined, once per recipient). Same keys and
  -- values; tests/campaigns/personalized.test.ts checks them. vt and the default columns as
  -- pgmq.send_batch writes them.
  INSERT INTO pgmq.q_broadcast_first_messages (vt, message)
  SELECT clock_timestamp(), jsonb_build_object(
           'recipient_phone_number', q.phone,
           'campaign_id', c.id,
           'first_message', coalesce(q.message, c.first_message),
           'second_message', c.second_message,
           'title', c.title,
           'delay', c.delay,
           'label_ids', to_jsonb(c.label_ids),
           'campaign_segments', c.segments,
           'conversation_id', q.conversation_id::text,
           'created_at', floor(extract(epoch FROM now()))::bigint,
           -- A personal text is the person's own: the sender never fills placeholders in it
           -- (campaign_message_payload, migration 20261130500100).
           'personalized', q.message IS NOT NULL)
  -- Sorted in a subquery, the payload built above it: PostgreSQL computes a non-volatile select
  -- list BEFORE a sort at the same level, which sorted (and spilled) every built payload, ~3×
  -- the bytes. The outer ORDER BY is the subquery's order, so it costs no second sort.
  FROM (
    SELECT p.phone COLLATE "C" AS phone, p.message, ca.conversation_id
    FROM pg_temp.personalized_recipients p
    -- The number's latest conversation, as a join the planner may hash (a large campaign) or
    -- probe by index (a small one); a lookup per recipient was a third of a large INSERT's time.
    LEFT JOIN public.conversations_authors ca
      ON ca.author_phone_number = p.phone
     AND NOT EXISTS (SELECT 1 FROM public.conversations_authors later
                     WHERE later.author_phone_number = ca.author_phone_number
                       AND (later.created_at, later.id) > (ca.created_at, ca.id))
    WHERE p.phone IS NOT NULL AND NOT p.unsubscribed AND p.exclude = false
    ORDER BY 1
    OFFSET 0
  ) AS q
  ORDER BY q.phone;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  UPDATE public.campaigns SET recipient_count = v_count WHERE id = c.id;

  -- Every row of this statement has an id in this range, and no other row in it is visible here:
  -- each INSERT's rows are deleted by its own trigger, in its own transaction.
  DELETE FROM public.campaign_personalized_recipients cpr WHERE cpr.id BETWEEN v_first_id AND v_last_id;
  DROP TABLE pg_temp.personalized_recipients;

  IF v_count = 0 THEN
    -- Nothing queued: the campaign is done at once. (With messages queued it stays `sending`;
    -- the sender's status upkeep finishes it.)
    PERFORM public.refresh_campaign_statuses(c.id);
  END IF;
  BEGIN
    PERFORM public.schedule_campaign_reconcile(c.id);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'personalized campaign %: could not schedule the Twilio reconcile: %', c.id, SQLERRM;
  END;
  RETURN NULL;
END $$;
