-- Campaigns: recipient selection, the per-minute runner, personalized campaigns, status upkeep,
-- retry of failed sends (reference: upstream-database.md §5.4–5.8, §6.3, §8.2–8.3, §9.2–9.4).
--
--   normalize_phone_e164(text)            E.164 with a US default (same rules as src/shared/phone)
--   campaign_segment_phones(config)       phones matching one side (included / excluded) of a config
--   campaign_recipient_phones(segments)   eligible included phones minus excluded phones
--   get_campaign_recipient_count(segments) its size (POST /campaigns/recipient-count/, create, update)
--   queue_campaign_messages(id)           enqueues a campaign's recipients with ONE pgmq.send_batch
--   check_and_run_campaigns(p_now)        cron `check_and_run_campaigns`, every minute
--   refresh_campaign_statuses(id)         sending → sent / failed once nothing is queued or in flight
--   retry_failed_campaign_messages(id)    re-queues first messages that failed or were dead-lettered
--   trigger on campaign_personalized_recipients: one campaign per INSERT statement
--
-- Upstream defects fixed here (upstream-database.md §14, DESIGN.md "Upstream defects"):
--   * segments JSON was concatenated into dynamic SQL (a `'` broke it, NULL segments raised):
--     selection is plain SQL over jsonb parameters, nothing is spliced;
--   * queue_campaign_messages created a temp table without dropping it, so two campaigns due in
--     the same minute failed together, and check_and_run_campaigns ran all campaigns in one
--     transaction matched by EXACT minute, so that failure (or a missed tick) lost them for good:
--     due campaigns are picked within a grace period, each in its own subtransaction;
--   * "file-based" meant `recipient_file_url IS NOT NULL`, so a failed upload made a CSV campaign a
--     segment campaign with NULL segments: a campaign without segments takes its file recipients;
--   * JSON `null` in `excluded` raised in the count and was ignored when queueing: both ignore it;
--   * a `since` leaked between occurrences of the same label id, and an AND group listing a label
--     twice never matched: each item is matched with its own `since`, groups count items;
--   * personalized campaigns skipped every eligibility check, created no author (so the status
--     row failed its FK after the SMS went out), sent duplicates, and made an empty campaign for an
--     empty INSERT: unsubscribed / excluded / invalid rows are recorded as `skipped` in
--     message_sends, authors are created, numbers are normalised and merged.

---------------------------------------------------------------------------------------------------
-- Why a campaign ended up `failed` (or another status an editor may wonder about).
---------------------------------------------------------------------------------------------------
ALTER TABLE public.campaigns ADD COLUMN IF NOT EXISTS status_detail text;
COMMENT ON COLUMN public.campaigns.status_detail IS 'Why the campaign has its status (e.g. missed its run, every message failed); NULL when unremarkable.';

-- The runner's lookup: due, unclaimed campaigns.
CREATE INDEX IF NOT EXISTS campaigns_due_idx ON public.campaigns (run_at) WHERE NOT processed;

---------------------------------------------------------------------------------------------------
-- normalize_phone_e164: see src/shared/phone/normalize.ts for the rules; NULL when not a number.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.normalize_phone_e164(p_raw text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
DECLARE
  compact text := regexp_replace(coalesce(p_raw, ''), '[[:space:]().-]', '', 'g');
  digits text;
BEGIN
  IF left(compact, 1) = '+' THEN
    digits := substr(compact, 2);
  ELSIF left(compact, 2) = '00' THEN
    digits := substr(compact, 3);
  ELSIF compact ~ '^[0-9]+$' THEN
    -- Bare digits are trusted as US only with an area code 2–9; 11–15 digits starting 2–9 carry
    -- their country code already.
    IF length(compact) = 10 AND compact ~ '^[2-9]' THEN
      digits := '1' || compact;
    ELSIF length(compact) = 11 AND compact ~ '^1[2-9]' THEN
      digits := compact;
    ELSIF length(compact) BETWEEN 11 AND 15 AND compact ~ '^[2-9]' THEN
      digits := compact;
    ELSE
      RETURN NULL;
    END IF;
  ELSE
    RETURN NULL;
  END IF;
  IF digits !~ '^[1-9][0-9]{7,14}$' THEN
    RETURN NULL;
  END IF;
  -- North America: country code 1 + 10 digits, nothing else.
  IF left(digits, 1) = '1' AND length(digits) <> 11 THEN
    RETURN NULL;
  END IF;
  RETURN '+' || digits;
END $$;

---------------------------------------------------------------------------------------------------
-- Segment configs (upstream-database.md §9.2): `{included: X, excluded?: Y}`, X and Y each a single
-- item `{id: <label uuid>, since?: <unix seconds>}` or an array of items (OR) and arrays of items
-- (AND groups). An item matches the authors of conversations that carry the label (not archived),
-- applied at or after `since` when given.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.campaign_segment_item_phones(p_item jsonb)
RETURNS TABLE (phone_number text)
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT DISTINCT ca.author_phone_number
  FROM public.conversations_labels cl
  JOIN public.conversations_authors ca ON ca.conversation_id = cl.conversation_id
  -- CASE, not AND: SQL does not promise to test the format before casting. The API accepts only
  -- UUIDs and integer `since`; anything else stored by hand matches nothing instead of raising.
  WHERE cl.label_id = CASE WHEN jsonb_typeof(p_item) = 'object'
                            AND p_item->>'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                           THEN (p_item->>'id')::uuid END
    AND NOT cl.is_archived
    AND ca.author_phone_number IS NOT NULL
    AND cl.created_at >= coalesce(CASE WHEN jsonb_typeof(p_item->'since') = 'number'
                                       THEN to_timestamp((p_item->>'since')::double precision) END, '-infinity')
$$;

CREATE OR REPLACE FUNCTION public.campaign_segment_phones(p_config jsonb)
RETURNS TABLE (phone_number text)
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  WITH elements AS (
    SELECT e.element, e.position
    FROM jsonb_array_elements(CASE jsonb_typeof(p_config)
                                WHEN 'array' THEN p_config
                                WHEN 'object' THEN jsonb_build_array(p_config)
                                ELSE '[]'::jsonb END) WITH ORDINALITY AS e(element, position)
  )
  SELECT single.phone_number
  FROM elements e
  CROSS JOIN LATERAL public.campaign_segment_item_phones(e.element) AS single
  WHERE jsonb_typeof(e.element) = 'object'
  UNION
  -- An AND group matches a phone that matches every item of the group (on any of its
  -- conversations), each item with its own `since`.
  SELECT member.phone_number
  FROM elements e
  CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.element) = 'array' THEN e.element ELSE '[]'::jsonb END)
    WITH ORDINALITY AS g(item, item_position)
  CROSS JOIN LATERAL public.campaign_segment_item_phones(g.item) AS member
  WHERE jsonb_typeof(e.element) = 'array'
  GROUP BY e.position, e.element, member.phone_number
  HAVING count(DISTINCT g.item_position) = jsonb_array_length(e.element)
$$;

-- Included phones of eligible authors (subscribed, not excluded; a NULL `exclude` counts as
-- excluded, upstream's `exclude = false`), minus every excluded phone whatever its eligibility.
CREATE OR REPLACE FUNCTION public.campaign_recipient_phones(p_segments jsonb)
RETURNS TABLE (phone_number text)
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT included.phone_number
  FROM public.campaign_segment_phones(p_segments->'included') AS included
  JOIN public.authors a ON a.phone_number = included.phone_number
  WHERE a.unsubscribed = false AND a.exclude = false
  EXCEPT
  SELECT excluded.phone_number FROM public.campaign_segment_phones(p_segments->'excluded') AS excluded
$$;

CREATE OR REPLACE FUNCTION public.get_campaign_recipient_count(p_segments jsonb)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT count(*)::integer FROM public.campaign_recipient_phones(p_segments)
$$;

---------------------------------------------------------------------------------------------------
-- The queue payload of a campaign's first message (upstream-database.md §8.2; the sender's
-- contract, keys exactly as upstream). conversation_id: the phone's latest conversation, which the
-- sender reads for the excluded-label check just before sending.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.campaign_message_payload(p_campaign public.campaigns, p_phone text, p_first_message text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT jsonb_build_object(
    'recipient_phone_number', p_phone,
    'campaign_id', p_campaign.id,
    'first_message', coalesce(p_first_message, p_campaign.first_message),
    'second_message', p_campaign.second_message,
    'title', p_campaign.title,
    'delay', p_campaign.delay,
    'label_ids', to_jsonb(p_campaign.label_ids),
    'campaign_segments', p_campaign.segments,
    'conversation_id', (SELECT ca.conversation_id::text FROM public.conversations_authors ca
                        WHERE ca.author_phone_number = p_phone
                        ORDER BY ca.created_at DESC, ca.id DESC LIMIT 1),
    'created_at', floor(extract(epoch FROM now()))::bigint)
$$;

---------------------------------------------------------------------------------------------------
-- queue_campaign_messages(id): enqueue the campaign's recipients; returns how many were queued and
-- stores that as recipient_count (replacing the estimate made at creation, as upstream).
-- A campaign with segments selects by label; one without segments takes its uploaded numbers
-- (campaign_file_recipients, deleted once queued, as upstream). Uploaded numbers that are not
-- eligible are recorded as `skipped` in the ledger: the editor listed them explicitly, so their
-- absence must be visible. A phone that already has a first-message ledger row for the campaign is
-- never queued again.
---------------------------------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.insert_segment_based_recipients(integer);
DROP FUNCTION IF EXISTS public.insert_file_based_recipients(integer);
DROP FUNCTION IF EXISTS public.queue_campaign_messages(integer);
CREATE FUNCTION public.queue_campaign_messages(p_campaign_id integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  c public.campaigns%ROWTYPE;
  v_messages jsonb[];
  v_count integer;
BEGIN
  SELECT * INTO c FROM public.campaigns WHERE id = p_campaign_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Campaign with ID % not found', p_campaign_id;
  END IF;

  IF c.segments IS NULL THEN
    INSERT INTO public.message_sends (campaign_id, recipient_phone_number, is_second, state, queue_name, detail)
    SELECT c.id, f.phone_number, false, 'skipped', 'broadcast_first_messages',
           CASE WHEN a.phone_number IS NULL THEN 'no author row for this number'
                WHEN a.unsubscribed THEN 'unsubscribed'
                ELSE 'excluded' END
    FROM public.campaign_file_recipients f
    LEFT JOIN public.authors a ON a.phone_number = f.phone_number
    WHERE f.campaign_id = c.id
      AND (a.phone_number IS NULL OR a.unsubscribed OR a.exclude IS NOT FALSE)
    ON CONFLICT DO NOTHING;
  END IF;

  SELECT count(*)::integer, coalesce(array_agg(public.campaign_message_payload(c, r.phone_number) ORDER BY r.phone_number), '{}')
  INTO v_count, v_messages
  FROM (
    SELECT p.phone_number FROM public.campaign_recipient_phones(c.segments) AS p
    WHERE c.segments IS NOT NULL
    UNION
    SELECT f.phone_number
    FROM public.campaign_file_recipients f
    JOIN public.authors a ON a.phone_number = f.phone_number
    WHERE c.segments IS NULL AND f.campaign_id = c.id AND a.unsubscribed = false AND a.exclude = false
  ) AS r
  WHERE NOT EXISTS (SELECT 1 FROM public.message_sends s
                    WHERE s.campaign_id = c.id AND s.recipient_phone_number = r.phone_number AND NOT s.is_second);

  -- One INSERT for the whole audience: the queue's statement trigger kicks the sender once, and
  -- either every recipient is queued or (on error) none is.
  IF v_count > 0 THEN
    PERFORM pgmq.send_batch('broadcast_first_messages', v_messages);
  END IF;

  IF c.segments IS NULL THEN
    DELETE FROM public.campaign_file_recipients WHERE campaign_id = c.id;
  END IF;
  UPDATE public.campaigns SET recipient_count = v_count WHERE id = c.id;
  RETURN v_count;
END $$;

COMMENT ON FUNCTION public.queue_campaign_messages(integer) IS
  'Enqueues the eligible recipients of a campaign into broadcast_first_messages with one send_batch; returns the count.';

---------------------------------------------------------------------------------------------------
-- refresh_campaign_statuses(id or NULL = all): a `sending` campaign becomes `sent` once none of its
-- messages is queued (first or follow-up) or in flight (ledger `sending`), or `failed` when every
-- send failed. `unknown` counts as sent: it may well have been delivered. Returns how many changed.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.refresh_campaign_statuses(p_campaign_id integer DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SET search_path = ''
AS $$
  WITH candidates AS (
    SELECT c.id FROM public.campaigns c
    WHERE c.status = 'sending' AND (p_campaign_id IS NULL OR c.id = p_campaign_id)
  ),
  queued AS (
    SELECT q.message->>'campaign_id' AS id FROM pgmq.q_broadcast_first_messages q
    WHERE q.message->>'campaign_id' IN (SELECT id::text FROM candidates)
    UNION
    SELECT q.message->>'campaign_id' FROM pgmq.q_broadcast_second_messages q
    WHERE q.message->>'campaign_id' IN (SELECT id::text FROM candidates)
  ),
  ledger AS (
    SELECT s.campaign_id AS id,
           count(*) FILTER (WHERE s.state = 'sending') AS in_flight,
           count(*) FILTER (WHERE s.state IN ('sent', 'unknown')) AS sent,
           count(*) FILTER (WHERE s.state = 'failed') AS failed
    FROM public.message_sends s
    WHERE s.campaign_id IN (SELECT id FROM candidates)
    GROUP BY s.campaign_id
  ),
  finished AS (
    SELECT cand.id, coalesce(l.sent, 0) AS sent, coalesce(l.failed, 0) AS failed
    FROM candidates cand
    LEFT JOIN ledger l ON l.id = cand.id
    WHERE coalesce(l.in_flight, 0) = 0
      AND NOT EXISTS (SELECT 1 FROM queued WHERE queued.id = cand.id::text)
  ),
  changed AS (
    UPDATE public.campaigns c
    SET status = CASE WHEN f.failed > 0 AND f.sent = 0 THEN 'failed' ELSE 'sent' END,
        status_detail = CASE WHEN f.failed > 0 AND f.sent = 0 THEN format('every message failed (%s)', f.failed) END
    FROM finished f
    WHERE c.id = f.id AND c.status = 'sending'
    RETURNING c.id
  )
  SELECT count(*)::integer FROM changed
$$;

---------------------------------------------------------------------------------------------------
-- check_and_run_campaigns(p_now): every minute. Runs each campaign that is `scheduled`, not yet
-- processed and due (run_at <= now) within the grace period; a campaign whose run was missed for
-- longer is marked `failed` with the reason rather than sent hours late. Each campaign is claimed
-- (processed, `sending`) and queued in its own subtransaction: one failure does not undo the
-- others, and the failed one stays scheduled for the next tick until its grace period ends.
-- FOR UPDATE SKIP LOCKED plus the `processed` flag keep overlapping ticks from queueing twice.
-- Returns upstream's statuses: {"status":"no_campaigns_to_run"} or
-- {"status":"queued","campaigns_run":n,"campaign_ids":[…]} (plus late / failed / missed details).
---------------------------------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.check_and_run_campaigns();
CREATE OR REPLACE FUNCTION public.check_and_run_campaigns(p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  -- Upstream ran a campaign only in its exact minute; now a tick that was skipped (cron down,
  -- deploy, the previous tick still running) is caught up by the next one within this window.
  grace constant interval := interval '30 minutes';
  c record;
  v_queued integer;
  v_ids integer[] := '{}';
  v_late integer[] := '{}';
  v_missed integer[];
  v_failed jsonb := '[]'::jsonb;
BEGIN
  WITH missed AS (
    UPDATE public.campaigns
    SET status = 'failed',
        status_detail = format('missed: not run within %s of its run time %s (was the check_and_run_campaigns job running?)',
                               grace, to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
    WHERE NOT processed AND status = 'scheduled' AND run_at <= p_now - grace
    RETURNING id
  )
  SELECT array_agg(id ORDER BY id) INTO v_missed FROM missed;
  IF v_missed IS NOT NULL THEN
    RAISE WARNING 'check_and_run_campaigns: campaigns % missed their run by more than % and were marked failed', v_missed, grace;
  END IF;

  FOR c IN
    SELECT id, run_at FROM public.campaigns
    WHERE NOT processed AND status = 'scheduled' AND run_at <= p_now AND run_at > p_now - grace
    ORDER BY run_at, id
    FOR UPDATE SKIP LOCKED
  LOOP
    BEGIN
      v_queued := public.queue_campaign_messages(c.id);
      UPDATE public.campaigns SET processed = true, status = 'sending', status_detail = NULL WHERE id = c.id;
      v_ids := v_ids || c.id;
      IF p_now - c.run_at >= interval '1 minute' THEN
        v_late := v_late || c.id;
        RAISE WARNING 'check_and_run_campaigns: campaign % ran % late (due %)', c.id, date_trunc('second', p_now - c.run_at), c.run_at;
      END IF;
      RAISE LOG 'check_and_run_campaigns: campaign % queued % recipients', c.id, v_queued;
    EXCEPTION WHEN OTHERS THEN
      v_failed := v_failed || jsonb_build_object('campaign_id', c.id, 'error', SQLERRM);
      RAISE WARNING 'check_and_run_campaigns: campaign % could not be queued (%); retried next minute until % after its run time',
        c.id, SQLERRM, grace;
      CONTINUE;
    END;
    -- Delivery statuses are reconciled once the send has most likely finished; failing to plan
    -- that must not undo the queueing.
    BEGIN
      PERFORM public.schedule_campaign_reconcile(c.id, p_now);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'check_and_run_campaigns: could not schedule the Twilio reconcile of campaign %: %', c.id, SQLERRM;
    END;
  END LOOP;

  PERFORM public.refresh_campaign_statuses();

  IF cardinality(v_ids) = 0 AND v_failed = '[]'::jsonb AND v_missed IS NULL THEN
    RETURN jsonb_build_object('status', 'no_campaigns_to_run');
  END IF;
  RETURN jsonb_build_object(
    'status', CASE WHEN cardinality(v_ids) > 0 THEN 'queued' WHEN v_failed <> '[]'::jsonb THEN 'failed' ELSE 'no_campaigns_to_run' END,
    'campaigns_run', cardinality(v_ids),
    'campaign_ids', to_jsonb(v_ids),
    'late_campaign_ids', to_jsonb(v_late),
    'failed', v_failed,
    'missed_campaign_ids', to_jsonb(coalesce(v_missed, '{}')));
END $$;

-- Kept by name from upstream (underscores, unlike the other jobs); cron.schedule upserts by name.
SELECT cron.schedule('check_and_run_campaigns', '* * * * *', 'SELECT public.check_and_run_campaigns();');

---------------------------------------------------------------------------------------------------
-- retry_failed_campaign_messages(id): re-queues the first messages of a campaign that failed
-- (ledger `failed`) or were dead-lettered (archived in pgmq.a_broadcast_first_messages without a
-- ledger row). Never re-queued: `unknown` (Missive may have sent it: a retry could text the person
-- twice), `sent`, `sending` and `skipped` phones, phones that are queued already, and authors who
-- have since unsubscribed or been excluded. The archived payload is re-sent as it was (a
-- personalized campaign's text exists only there); without one the payload is rebuilt from the
-- campaign, except for personalized campaigns, whose text is lost with it. The ledger row stays
-- `failed`: the sender claims a `failed` row again when a queue message for it arrives.
-- Returns {requeued, skippedUnknown, skippedIneligible, alreadyQueued, missingMessage}.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.retry_failed_campaign_messages(p_campaign_id integer)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  c public.campaigns%ROWTYPE;
  v_personalized boolean;
  v_result record;
  v_messages jsonb[];
BEGIN
  -- The row lock serialises two retries of the same campaign (each would see the other's
  -- messages as not yet queued and queue them again).
  SELECT * INTO c FROM public.campaigns WHERE id = p_campaign_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Campaign with ID % not found', p_campaign_id;
  END IF;
  v_personalized := c.segments IS NULL AND c.recipient_file_url IS NULL;

  WITH archived AS (
    SELECT DISTINCT ON (a.message->>'recipient_phone_number')
           a.message->>'recipient_phone_number' AS phone, a.message
    FROM pgmq.a_broadcast_first_messages a
    WHERE a.message->>'campaign_id' = c.id::text
    ORDER BY a.message->>'recipient_phone_number', a.archived_at DESC, a.msg_id DESC
  ),
  ledger AS (
    SELECT s.recipient_phone_number AS phone, s.state
    FROM public.message_sends s WHERE s.campaign_id = c.id AND NOT s.is_second
  ),
  queued AS (
    SELECT DISTINCT q.message->>'recipient_phone_number' AS phone
    FROM pgmq.q_broadcast_first_messages q WHERE q.message->>'campaign_id' = c.id::text
  ),
  candidates AS (
    SELECT coalesce(ar.phone, l.phone) AS phone, l.state, ar.message
    FROM archived ar
    FULL JOIN (SELECT * FROM ledger WHERE state = 'failed') l ON l.phone = ar.phone
  ),
  judged AS (
    SELECT cand.phone, cand.message,
           CASE
             WHEN coalesce(cand.state, l.state) = 'unknown' THEN 'unknown'
             WHEN coalesce(cand.state, l.state) IN ('sent', 'sending', 'skipped') THEN 'done'
             WHEN cand.phone IN (SELECT phone FROM queued) THEN 'queued'
             WHEN a.phone_number IS NULL OR a.unsubscribed OR a.exclude IS NOT FALSE THEN 'ineligible'
             WHEN cand.message IS NULL AND v_personalized THEN 'missing'
             ELSE 'retry'
           END AS verdict
    FROM candidates cand
    LEFT JOIN ledger l ON l.phone = cand.phone
    LEFT JOIN public.authors a ON a.phone_number = cand.phone
  )
  SELECT count(*) FILTER (WHERE verdict = 'retry')::integer AS requeued,
         count(*) FILTER (WHERE verdict = 'unknown')::integer AS skipped_unknown,
         count(*) FILTER (WHERE verdict = 'ineligible')::integer AS skipped_ineligible,
         count(*) FILTER (WHERE verdict = 'queued')::integer AS already_queued,
         count(*) FILTER (WHERE verdict = 'missing')::integer AS missing_message,
         coalesce(array_agg(coalesce(j.message || jsonb_build_object('created_at', floor(extract(epoch FROM now()))::bigint),
                                     public.campaign_message_payload(c, j.phone))
                            ORDER BY j.phone) FILTER (WHERE verdict = 'retry'), '{}') AS messages
  INTO v_result
  FROM judged j;

  IF v_result.requeued > 0 THEN
    PERFORM pgmq.send_batch('broadcast_first_messages', v_result.messages);
    UPDATE public.campaigns SET status = 'sending', status_detail = NULL
    WHERE id = c.id AND status IN ('sent', 'failed');
  END IF;

  RETURN jsonb_build_object(
    'requeued', v_result.requeued,
    'skippedUnknown', v_result.skipped_unknown,
    'skippedIneligible', v_result.skipped_ineligible,
    'alreadyQueued', v_result.already_queued,
    'missingMessage', v_result.missing_message);
END $$;

---------------------------------------------------------------------------------------------------
-- Personalized campaigns (upstream-database.md §6.3, §8.3): each INSERT statement into
-- campaign_personalized_recipients (the Supabase table editor's CSV import is one statement)
-- becomes one campaign whose rows are queued at once with their own message and then removed.
-- Numbers are normalised (E.164, US default) and merged (the first row of a number wins); rows
-- whose number is invalid, unsubscribed or excluded are recorded as `skipped` with the reason;
-- unknown numbers get an authors row (flagged added_via_file_upload, so broadcasts leave them
-- alone) so the sender's status row has its author.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.process_campaign_personalized_recipient_batch()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  c public.campaigns%ROWTYPE;
  v_rows integer;
  v_duplicates integer;
  v_messages jsonb[];
  v_count integer;
BEGIN
  SELECT count(*) INTO v_rows FROM new_rows;
  IF v_rows = 0 THEN
    RETURN NULL; -- upstream created an empty campaign for an empty INSERT
  END IF;

  -- Two such INSERTs in one transaction run this twice: drop first, and drop on commit.
  DROP TABLE IF EXISTS pg_temp.personalized_rows;
  DROP TABLE IF EXISTS pg_temp.personalized_recipients;
  CREATE TEMP TABLE personalized_rows ON COMMIT DROP AS
  SELECT r.id, trim(r.phone_number) AS raw_phone, public.normalize_phone_e164(r.phone_number) AS phone, r.message
  FROM new_rows r;

  INSERT INTO public.campaigns (title, first_message, run_at, processed, status, segments, second_message, label_ids)
  VALUES ('Personalized Campaign', 'Personalized campaign', now() - interval '1 minute', true, 'sending', NULL, NULL, '{}')
  RETURNING * INTO c;

  INSERT INTO public.authors (phone_number, added_via_file_upload)
  SELECT DISTINCT p.phone, true FROM pg_temp.personalized_rows p WHERE p.phone IS NOT NULL
  ON CONFLICT (phone_number) DO NOTHING;

  -- One row per number: the first (lowest id) of duplicates.
  CREATE TEMP TABLE personalized_recipients ON COMMIT DROP AS
  SELECT DISTINCT ON (p.phone) p.phone, p.message, a.unsubscribed, a.exclude
  FROM pg_temp.personalized_rows p
  JOIN public.authors a ON a.phone_number = p.phone
  WHERE p.phone IS NOT NULL
  ORDER BY p.phone, p.id;

  v_duplicates := v_rows - (SELECT count(*) FROM pg_temp.personalized_recipients) - (SELECT count(*) FROM pg_temp.personalized_rows WHERE phone IS NULL);
  IF v_duplicates > 0 THEN
    RAISE WARNING 'personalized campaign %: % rows repeated a number already in the batch; each number gets one message', c.id, v_duplicates;
  END IF;

  INSERT INTO public.message_sends (campaign_id, recipient_phone_number, is_second, state, queue_name, detail)
  SELECT c.id, left(coalesce(nullif(p.raw_phone, ''), '(empty)'), 64), false, 'skipped', 'broadcast_first_messages',
         'invalid phone number'
  FROM pg_temp.personalized_rows p WHERE p.phone IS NULL
  UNION ALL
  SELECT c.id, r.phone, false, 'skipped', 'broadcast_first_messages',
         CASE WHEN r.unsubscribed THEN 'unsubscribed' ELSE 'excluded' END
  FROM pg_temp.personalized_recipients r WHERE r.unsubscribed OR r.exclude IS NOT FALSE
  ON CONFLICT DO NOTHING;

  SELECT count(*)::integer, coalesce(array_agg(public.campaign_message_payload(c, r.phone, r.message) ORDER BY r.phone), '{}')
  INTO v_count, v_messages
  FROM pg_temp.personalized_recipients r
  WHERE r.unsubscribed = false AND r.exclude = false;

  IF v_count > 0 THEN
    PERFORM pgmq.send_batch('broadcast_first_messages', v_messages);
  END IF;
  UPDATE public.campaigns SET recipient_count = v_count WHERE id = c.id;

  DELETE FROM public.campaign_personalized_recipients WHERE id IN (SELECT id FROM new_rows);
  DROP TABLE pg_temp.personalized_recipients;
  DROP TABLE pg_temp.personalized_rows;

  PERFORM public.refresh_campaign_statuses(c.id); -- nothing eligible: done at once
  BEGIN
    PERFORM public.schedule_campaign_reconcile(c.id);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'personalized campaign %: could not schedule the Twilio reconcile: %', c.id, SQLERRM;
  END;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS trigger_process_campaign_personalized_recipient_batch ON public.campaign_personalized_recipients;
CREATE TRIGGER trigger_process_campaign_personalized_recipient_batch
  AFTER INSERT ON public.campaign_personalized_recipients
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.process_campaign_personalized_recipient_batch();
