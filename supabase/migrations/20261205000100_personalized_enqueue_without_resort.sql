-- Personalized campaigns: the queue INSERT without its second sort and with each number's latest
-- conversation computed once per author (issue 15 #3; the function is otherwise that of
-- 20261204000100_personalized_set_based_enqueue.sql).
--
-- 20261204000100 wrote the queue in phone order: a sort of every built payload's inputs (~100 MB
-- spilled for 1 000 000 rows), and the latest conversation as a join whose NOT EXISTS made the
-- planner hash the recipients (1 000 000 rows with their texts, two batches) rather than the
-- conversations. Measured on the queue INSERT of 980 000 recipients (2 cores, median of three):
-- 8.8 s before, 7.4 s now, against 7.4 s for the same INSERT without any conversation join. The
-- queue's order is now the merge's (in practice still phone order); nothing depended on it, the
-- sender takes messages in msg_id order whatever the numbers.

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
  -- pgmq.send_batch writes them. Written in the merge's order, without sorting again.
  INSERT INTO pgmq.q_broadcast_first_messages (vt, message)
  SELECT clock_timestamp(), jsonb_build_object(
           'recipient_phone_number', p.phone,
           'campaign_id', c.id,
           'first_message', coalesce(p.message, c.first_message),
           'second_message', c.second_message,
           'title', c.title,
           'delay', c.delay,
           'label_ids', to_jsonb(c.label_ids),
           'campaign_segments', c.segments,
           'conversation_id', latest.conversation_id::text,
           'created_at', floor(extract(epoch FROM now()))::bigint,
           -- A personal text is the person's own: the sender never fills placeholders in it
           -- (campaign_message_payload, migration 20261130500100).
           'personalized', p.message IS NOT NULL)
  FROM pg_temp.personalized_recipients p
  -- Each number's latest conversation (latest created_at, then highest id, as
  -- campaign_message_payload), computed once per author among these recipients only (a few
  -- index probes for a small campaign, not the whole history), and joined by hash: the planner
  -- hashes the smaller side, these conversations, and streams the recipients past it.
  LEFT JOIN (
    SELECT DISTINCT ON (ca.author_phone_number) ca.author_phone_number, ca.conversation_id
    FROM public.conversations_authors ca
    WHERE ca.author_phone_number IN (SELECT r.phone FROM pg_temp.personalized_recipients r)
    ORDER BY ca.author_phone_number, ca.created_at DESC, ca.id DESC
  ) AS latest ON latest.author_phone_number = p.phone
  WHERE p.phone IS NOT NULL AND NOT p.unsubscribed AND p.exclude = false;
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
