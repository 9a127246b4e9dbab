-- Personalized campaigns enqueue in chunks (issue 15 #3).
--
-- process_campaign_personalized_recipient_batch built every recipient's payload into one jsonb[]
-- and passed it to a single pgmq.send_batch: a 1 000 000-row INSERT held all payloads (plus the
-- copies send_batch makes while unnesting them) in one backend, ~2.8 GB at peak. Now the eligible
-- recipients are numbered in phone order in a temp table (on disk beyond temp_buffers) and sent in
-- chunks of 10 000 messages, one send_batch each, so the backend holds
-- one chunk's payloads at a time. Everything else is as before: numbers normalised, duplicates
-- merged (the first row of a number wins), authors created, invalid / unsubscribed / excluded rows
-- recorded as `skipped`, one campaign per INSERT statement, one queue message per recipient, in
-- phone order (msg_ids ascend with the phone, as the single batch did). It all still happens in
-- the INSERT's transaction: a failure rolls back every chunk with the campaign.

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
  v_setting text := current_setting('outlier.personalized_chunk_size', true);
  v_chunk_size integer := 10000;
  v_chunk integer;
BEGIN
  -- 10 000 payloads are a few MB. A session may lower it through the custom setting
  -- outlier.personalized_chunk_size (tests cross the chunk boundary with small inserts); it is
  -- clamped to 1 … 100 000, so a setting can make the enqueue slower, never unbounded.
  IF v_setting ~ '^\s*[0-9]{1,9}\s*$' THEN
    v_chunk_size := least(greatest(trim(v_setting)::integer, 1), 100000);
  END IF;
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

  -- Only the numbers not known yet, in phone order (sorted btree inserts, no speculative
  -- insertion for the known ones); ON CONFLICT still covers a concurrent insert of the same number.
  INSERT INTO public.authors (phone_number, added_via_file_upload)
  SELECT n.phone, true
  FROM (SELECT DISTINCT p.phone FROM pg_temp.personalized_rows p WHERE p.phone IS NOT NULL) AS n
  WHERE NOT EXISTS (SELECT 1 FROM public.authors a WHERE a.phone_number = n.phone)
  ORDER BY n.phone
  ON CONFLICT (phone_number) DO NOTHING;

  -- One row per number: the first (lowest id) of duplicates. The eligible ones are numbered in
  -- phone order by a running count (no second sort): chunk k holds eligible positions
  -- k·size … (k+1)·size − 1, so each eligible recipient is in exactly one chunk; ineligible rows
  -- have no chunk.
  CREATE TEMP TABLE personalized_recipients ON COMMIT DROP AS
  SELECT d.phone, d.message, d.unsubscribed, d.exclude,
         CASE WHEN d.eligible
              THEN (count(*) FILTER (WHERE d.eligible) OVER (ORDER BY d.phone ROWS UNBOUNDED PRECEDING) - 1) / v_chunk_size
         END AS chunk
  FROM (
    SELECT DISTINCT ON (p.phone) p.phone, p.message, a.unsubscribed, a.exclude,
           (a.unsubscribed = false AND a.exclude = false) AS eligible
    FROM pg_temp.personalized_rows p
    JOIN public.authors a ON a.phone_number = p.phone
    WHERE p.phone IS NOT NULL
    ORDER BY p.phone, p.id
  ) AS d;

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

  SELECT count(*)::integer INTO v_count FROM pg_temp.personalized_recipients WHERE chunk IS NOT NULL;
  CREATE INDEX ON pg_temp.personalized_recipients (chunk) WHERE chunk IS NOT NULL;
  ANALYZE pg_temp.personalized_recipients;

  FOR v_chunk IN 0 .. ((v_count + v_chunk_size - 1) / v_chunk_size) - 1 LOOP
    -- The payload of public.campaign_message_payload(c, phone, message), built inline: called once
    -- per recipient that function (SET search_path, so never inlined) was most of the time of a
    -- large insert. Same keys and values; tests/campaigns/personalized.test.ts checks them.
    SELECT array_agg(jsonb_build_object(
             'recipient_phone_number', q.phone,
             'campaign_id', c.id,
             'first_message', coalesce(q.message, c.first_message),
             'second_message', c.second_message,
             'title', c.title,
             'delay', c.delay,
             'label_ids', to_jsonb(c.label_ids),
             'campaign_segments', c.segments,
             'conversation_id', ca.conversation_id::text,
             'created_at', floor(extract(epoch FROM now()))::bigint,
             -- A personal text is the person's own: the sender never fills placeholders in it
             -- (campaign_message_payload, migration 20261130500100).
             'personalized', q.message IS NOT NULL)
           ORDER BY q.phone)
    INTO v_messages
    FROM pg_temp.personalized_recipients q
    LEFT JOIN LATERAL (SELECT x.conversation_id FROM public.conversations_authors x
                       WHERE x.author_phone_number = q.phone
                       ORDER BY x.created_at DESC, x.id DESC LIMIT 1) AS ca ON true
    WHERE q.chunk = v_chunk;
    PERFORM pgmq.send_batch('broadcast_first_messages', v_messages);
    v_messages := NULL; -- free this chunk's payloads before building the next
  END LOOP;
  UPDATE public.campaigns SET recipient_count = v_count WHERE id = c.id;

  -- Joined with the analysed temp table (a hash join), not `id IN (SELECT id FROM new_rows)`:
  -- the transition table has no statistics and the planner probed the primary key a million times.
  ANALYZE pg_temp.personalized_rows;
  DELETE FROM public.campaign_personalized_recipients cpr
  USING pg_temp.personalized_rows p WHERE cpr.id = p.id;
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
