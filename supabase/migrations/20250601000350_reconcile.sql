-- Twilio delivery status reconciliation (reference/upstream-database.md §5.9, §7.2; functions §2.4).
--
-- What is here:
-- 1. `twilio_status` gains every status Twilio documents. Upstream's enum had 6 of 13, so a page
--    holding e.g. `queued` or `canceled` failed its UPDATE, and because the page token was not saved
--    the same page failed every minute for three hours (upstream-functions.md §8.3 #15).
-- 2. `twilio_status_rank` / `merge_twilio_status`: callbacks and list pages may arrive out of order;
--    a final status (delivered, undelivered, failed, …) is never moved back to an intermediate one.
-- 3. `twilio_reconcile_messages`: the Twilio messages of one reconcile pass that no row claims by SID
--    yet. Twilio lists newest first, so a recipient's second SMS is often on an earlier page than
--    their first; pairing them with status rows page by page (upstream paired each message with
--    the recipient's LATEST row, §8.3 #14) mismatches phases. They wait here until the last page,
--    then one statement pairs each recipient's un-reconciled rows with their SMSs in time order.
-- 4. Scheduling: `start_twilio_reconcile` / `stop_twilio_reconcile` (the per-item jobs of §7.2),
--    `schedule_broadcast_reconcile` / `schedule_campaign_reconcile` (after make / a campaign run) and
--    the daily `schedule_daily_broadcast_reconciliation` (cron `daily-reconciliation`).
--
-- Every cron expression is computed from UTC explicitly: pg_cron reads schedules in GMT, while
-- upstream EXTRACTed the fields in the session time zone (§14.4). Job commands call functions
-- through public.invoke_edge_function, which joins the URL once (upstream produced `//`, §14.7).

-- ALTER TYPE … ADD VALUE may run inside the migration's transaction (PostgreSQL ≥ 12); the new values
-- are only usable after it commits, so nothing below uses them as enum literals.
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'queued';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'sending';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'accepted';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'scheduled';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'read';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'canceled';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'partially_delivered';
ALTER TYPE public.twilio_status ADD VALUE IF NOT EXISTS 'receiving';

-- Reconcile and status callbacks find rows by Twilio SID.
CREATE INDEX IF NOT EXISTS message_statuses_twilio_id_idx ON public.message_statuses (twilio_id);

-- 1 = not yet handed to the carrier, 2 = sending, 3 = sent (or no receipt yet), 4 = final.
CREATE OR REPLACE FUNCTION public.twilio_status_rank(status public.twilio_status) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE status::text
    WHEN 'accepted' THEN 1 WHEN 'scheduled' THEN 1 WHEN 'queued' THEN 1 WHEN 'receiving' THEN 1
    WHEN 'sending' THEN 2
    WHEN 'sent' THEN 3 WHEN 'delivery_unknown' THEN 3
    ELSE 4 -- delivered, undelivered, failed, canceled, read, partially_delivered, received
  END
$$;

-- The status a row takes when Twilio reports `incoming`. A row without a twilio_id has never been
-- reconciled and its status is only the column default ('delivered'), so it takes anything.
CREATE OR REPLACE FUNCTION public.merge_twilio_status(current_status public.twilio_status, current_twilio_id text, incoming public.twilio_status)
RETURNS public.twilio_status
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN current_twilio_id IS NOT NULL AND current_status IS NOT NULL
         AND public.twilio_status_rank(current_status) > public.twilio_status_rank(incoming) THEN current_status
    ELSE incoming
  END
$$;

CREATE TABLE IF NOT EXISTS public.twilio_reconcile_messages (
  target_kind text NOT NULL,
  target_id bigint NOT NULL,
  sid text NOT NULL,
  to_phone text NOT NULL,
  status public.twilio_status NOT NULL,
  date_sent timestamptz,
  staged_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT twilio_reconcile_messages_pkey PRIMARY KEY (target_kind, target_id, sid),
  CONSTRAINT twilio_reconcile_messages_kind_check CHECK (target_kind IN ('broadcast', 'campaign'))
);
COMMENT ON TABLE public.twilio_reconcile_messages IS
  'Twilio messages of a reconcile pass not yet matched to a message_statuses row; paired in time order on the last page, then deleted.';

CREATE OR REPLACE FUNCTION public.reconcile_check_kind(p_kind text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_kind IS NULL OR p_kind NOT IN ('broadcast', 'campaign') THEN
    RAISE EXCEPTION 'reconcile target kind must be broadcast or campaign, not %', p_kind;
  END IF;
END $$;

-- Ends a reconcile pass's jobs: the per-minute job and its one-shot stopper (either may be gone).
-- Called by the stopper itself and by the function when Twilio has no next page.
CREATE OR REPLACE FUNCTION public.stop_twilio_reconcile(p_kind text, p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.reconcile_check_kind(p_kind);
  PERFORM public.unschedule_cron_jobs(ARRAY[format('reconcile-twilio-status-%s-%s', p_kind, p_id), format('unschedule-%s-reconcile-%s', p_kind, p_id)]);
END $$;

-- Starts a reconcile pass from the first page: reset paging, forget a half-finished pass, call the
-- function every minute, and stop after 3 hours (upstream's job names, body ids as strings).
CREATE OR REPLACE FUNCTION public.start_twilio_reconcile(p_kind text, p_id bigint, p_now timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.reconcile_check_kind(p_kind);
  IF p_kind = 'broadcast' THEN
    UPDATE public.broadcasts SET twilio_paging = NULL WHERE id = p_id;
  ELSE
    UPDATE public.campaigns SET twilio_paging = NULL WHERE id = p_id;
  END IF;
  DELETE FROM public.twilio_reconcile_messages WHERE target_kind = p_kind AND target_id = p_id;
  PERFORM cron.schedule(
    format('reconcile-twilio-status-%s-%s', p_kind, p_id),
    '* * * * *',
    format('SELECT public.invoke_edge_function(%L, jsonb_build_object(%L, %L))',
           'reconcile-twilio-status', p_kind || 'Id', p_id::text));
  PERFORM cron.schedule(
    format('unschedule-%s-reconcile-%s', p_kind, p_id),
    public.cron_schedule_at(p_now + interval '3 hours'),
    format('SELECT public.stop_twilio_reconcile(%L, %s)', p_kind, p_id));
  PERFORM public.unschedule_cron_jobs(ARRAY[format('start-%s-reconcile-%s', p_kind, p_id)]);
END $$;

-- When a send has most likely finished: the sender paces at most `per_15_minutes` messages per
-- 15 minutes per phase and the follow-ups start `delay` seconds after the first messages, plus a
-- margin. `recipients` is the larger of the planned count and the rows already written.
CREATE OR REPLACE FUNCTION public.estimated_send_end(run_at timestamptz, recipients integer, delay_seconds integer, per_15_minutes integer DEFAULT 900)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
  SELECT run_at
    + ceil(GREATEST(recipients, 0)::numeric / GREATEST(per_15_minutes, 1)) * interval '15 minutes'
    + GREATEST(delay_seconds, 0) * interval '1 second'
    + interval '10 minutes'
$$;

-- Schedules a pass to start at `p_start_at` (rounded up to a whole minute), or at once when that is
-- (almost) now. pg_cron ≤ 1.4 has no "every minute from T", so a one-shot job
-- `start-<kind>-reconcile-<id>` starts the pass and removes itself.
CREATE OR REPLACE FUNCTION public.schedule_twilio_reconcile_at(p_kind text, p_id bigint, p_start_at timestamptz, p_now timestamptz DEFAULT now())
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
  start_at timestamptz := date_trunc('minute', p_start_at)
    + CASE WHEN p_start_at = date_trunc('minute', p_start_at) THEN interval '0' ELSE interval '1 minute' END;
BEGIN
  PERFORM public.reconcile_check_kind(p_kind);
  -- A one-shot job whose minute has passed before pg_cron sees it would first fire a year later.
  IF start_at <= p_now + interval '2 minutes' THEN
    PERFORM public.start_twilio_reconcile(p_kind, p_id, p_now);
    RETURN p_now;
  END IF;
  PERFORM cron.schedule(
    format('start-%s-reconcile-%s', p_kind, p_id),
    public.cron_schedule_at(start_at),
    format('SELECT public.start_twilio_reconcile(%L, %s)', p_kind, p_id));
  RETURN start_at;
END $$;

-- For make (and send-now): reconcile a broadcast once its send has most likely finished. Never
-- raises for an unknown or unscheduled broadcast, so it cannot roll back the caller's hand-over;
-- returns when the pass starts, or NULL when nothing was scheduled.
CREATE OR REPLACE FUNCTION public.schedule_broadcast_reconcile(p_broadcast_id bigint, p_now timestamptz DEFAULT now())
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
  b record;
  written integer;
BEGIN
  SELECT id, run_at, delay, no_users INTO b FROM public.broadcasts WHERE id = p_broadcast_id;
  IF NOT FOUND OR b.run_at IS NULL THEN
    RAISE WARNING 'schedule_broadcast_reconcile: broadcast % not found or without run_at; nothing scheduled', p_broadcast_id;
    RETURN NULL;
  END IF;
  SELECT count(*) INTO written FROM public.message_statuses WHERE broadcast_id = p_broadcast_id AND NOT is_second;
  RETURN public.schedule_twilio_reconcile_at('broadcast', p_broadcast_id,
    public.estimated_send_end(b.run_at, GREATEST(b.no_users, written), b.delay), p_now);
END $$;

-- The campaign twin, for the campaign runner.
CREATE OR REPLACE FUNCTION public.schedule_campaign_reconcile(p_campaign_id bigint, p_now timestamptz DEFAULT now())
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
  c record;
  written integer;
BEGIN
  SELECT id, run_at, delay, recipient_count INTO c FROM public.campaigns WHERE id = p_campaign_id;
  IF NOT FOUND OR c.run_at IS NULL THEN
    RAISE WARNING 'schedule_campaign_reconcile: campaign % not found or without run_at; nothing scheduled', p_campaign_id;
    RETURN NULL;
  END IF;
  SELECT count(*) INTO written FROM public.message_statuses WHERE campaign_id = p_campaign_id AND NOT is_second;
  RETURN public.schedule_twilio_reconcile_at('campaign', p_campaign_id,
    public.estimated_send_end(c.run_at, GREATEST(COALESCE(c.recipient_count, 0), written), c.delay), p_now);
END $$;

-- Daily at 20:00 UTC: re-reconcile the 3 latest broadcasts and the 3 latest campaigns of the past
-- 7 days. Upstream took the top 3 by run_at including future run_at (the editable broadcast, upcoming
-- campaigns), which crowded out real sends (§14.6); only what actually ran is picked here.
CREATE OR REPLACE FUNCTION public.schedule_daily_broadcast_reconciliation(p_now timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  item record;
BEGIN
  FOR item IN
    SELECT id FROM public.broadcasts
    WHERE editable = false AND run_at IS NOT NULL AND run_at <= p_now AND run_at > p_now - interval '7 days'
    ORDER BY run_at DESC, id DESC LIMIT 3
  LOOP
    PERFORM public.start_twilio_reconcile('broadcast', item.id, p_now);
  END LOOP;
  FOR item IN
    SELECT id FROM public.campaigns
    WHERE processed = true AND run_at <= p_now AND run_at > p_now - interval '7 days'
    ORDER BY run_at DESC, id DESC LIMIT 3
  LOOP
    PERFORM public.start_twilio_reconcile('campaign', item.id, p_now);
  END LOOP;
END $$;

SELECT cron.schedule('daily-reconciliation', '0 20 * * *', 'SELECT public.schedule_daily_broadcast_reconciliation()');
