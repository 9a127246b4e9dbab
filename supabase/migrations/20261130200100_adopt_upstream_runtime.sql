-- Taking over a database that upstream built (issue 13; README "Taking over a database that runs
-- upstream"). Upstream's 18 migrations and its functions left objects and runtime state behind
-- that our migrations, applied on top, do not replace by themselves. This file adopts them. On a
-- fresh database (or one already adopted) every step finds nothing to do, so it is a no-op there,
-- and it can run again over itself.
--
-- The whole file is one transaction (as `supabase db push` applies each file): upstream's
-- 2-second sender jobs disappear in the same commit that installs ours, so there is no moment at
-- which both, or neither, are scheduled.

---------------------------------------------------------------------------------------------------
-- 1. Upstream's zero-argument functions that now overload ours. Our versions take a `p_now`
--    argument with a default, so the daily jobs' `SELECT public.schedule_daily_…()` matched both
--    and failed every run with "function … is not unique". trigger_broadcast_api() is what
--    upstream's check_and_trigger_broadcast() called; ours calls invoke_edge_function instead.
---------------------------------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.schedule_daily_broadcast_reconciliation();
DROP FUNCTION IF EXISTS public.schedule_daily_failed_deliveries_handler();
DROP FUNCTION IF EXISTS public.schedule_daily_archive_double_failures();
DROP FUNCTION IF EXISTS public.trigger_broadcast_api();

---------------------------------------------------------------------------------------------------
-- 2. The at-most-once ledger for messages upstream already sent but that are still referenced by a
--    queued message (a follow-up, or a first message whose delete upstream never got to). Upstream
--    recorded a send only in message_statuses; without a ledger row our sender would take such a
--    queue message for a new send and text the person again. Only owners (broadcast or campaign)
--    with messages still queued are covered: no other upstream send can be claimed again.
---------------------------------------------------------------------------------------------------
WITH queued AS (
  SELECT DISTINCT
         CASE WHEN message->>'broadcast_id' ~ '^[0-9]{1,18}$' THEN (message->>'broadcast_id')::bigint END AS broadcast_id,
         CASE WHEN message->>'campaign_id' ~ '^[0-9]{1,9}$' THEN (message->>'campaign_id')::integer END AS campaign_id
  FROM (SELECT message FROM pgmq.q_broadcast_first_messages
        UNION ALL
        SELECT message FROM pgmq.q_broadcast_second_messages) AS q
)
INSERT INTO public.message_sends
  (broadcast_id, campaign_id, recipient_phone_number, is_second, state, queue_name, attempts, missive_id,
   missive_conversation_id, message_status_id, detail, created_at, updated_at)
SELECT DISTINCT ON (coalesce(ms.broadcast_id, 0), coalesce(ms.campaign_id, 0), ms.recipient_phone_number, ms.is_second)
       ms.broadcast_id, CASE WHEN ms.broadcast_id IS NULL THEN ms.campaign_id END, ms.recipient_phone_number, ms.is_second,
       'sent', CASE WHEN ms.is_second THEN 'broadcast_second_messages' ELSE 'broadcast_first_messages' END, 1,
       ms.missive_id, ms.missive_conversation_id, ms.id,
       'sent before the takeover (recorded from message_statuses)', ms.created_at, now()
FROM public.message_statuses ms
JOIN queued q ON (q.broadcast_id IS NOT NULL AND q.broadcast_id = ms.broadcast_id)
              OR (q.broadcast_id IS NULL AND q.campaign_id = ms.campaign_id AND ms.broadcast_id IS NULL)
WHERE num_nonnulls(ms.broadcast_id, ms.campaign_id) >= 1
ORDER BY coalesce(ms.broadcast_id, 0), coalesce(ms.campaign_id, 0), ms.recipient_phone_number, ms.is_second, ms.id
ON CONFLICT DO NOTHING;

---------------------------------------------------------------------------------------------------
-- 3. Upstream's runtime cron jobs. Its queue triggers scheduled `send-first-messages` /
--    `send-second-messages` every 2 seconds, and its daily functions scheduled per-item jobs
--    (`reconcile-twilio-status-<kind>-<id>`, `handle-failed-deliveries-daily`,
--    `archive-double-failures-daily`, `delay-reconcile-twilio-status`, `reconcile-twilio-status`)
--    plus one-shot `unschedule-…` jobs. All of them call pg_net directly with the secret key baked
--    into the command text, or call cron.unschedule(name), which raises once the job is gone (the
--    one-shot then fires again a year later). Ours call public.invoke_edge_function, which reads
--    the key from Vault when it runs, and remove jobs with public.unschedule_cron_jobs.
--
--    Every such job is removed (by job id, whichever role scheduled it). Then:
--    * the sender jobs come back as ours (every minute) for each queue that is not empty;
--    * a reconcile pass that upstream was running is handed to ours, starting in 5 minutes, by
--      which time our functions are deployed (it restarts from Twilio's first page);
--    * the hygiene workers are not restarted: our daily setup jobs run them at 22:00 / 23:00 UTC,
--      and restarting them now would post again to conversations upstream handled today.
---------------------------------------------------------------------------------------------------
DO $$
DECLARE
  job record;
  found text[];
  reconciles text[] := '{}';
  target text;
  v_kind text;
  v_id bigint;
BEGIN
  -- Taken exclusively, as unschedule_send_messages_job_if_idle does: a concurrent enqueue's trigger
  -- (holding it shared until its commit) cannot re-create a job between our removal and our check.
  PERFORM public.lock_send_messages_job(false, true);
  PERFORM public.lock_send_messages_job(true, true);

  FOR job IN
    SELECT j.jobid, j.jobname, j.schedule, j.command FROM cron.job j
    WHERE j.command ~* 'net\.http_(post|get)'
       OR j.command ~* 'cron\.unschedule\s*\('
       OR j.schedule ~* 'second'
       OR (j.jobname IN ('send-first-messages', 'send-second-messages')
           AND (j.schedule <> '* * * * *'
                OR j.command <> public.send_messages_job_command(j.jobname = 'send-second-messages')))
    ORDER BY j.jobid
  LOOP
    found := regexp_match(job.command, '"(broadcast|campaign)Id"\s*:\s*"?([0-9]+)');
    IF found IS NULL THEN
      found := regexp_match(coalesce(job.jobname, ''), '^reconcile-twilio-status-(broadcast|campaign)-([0-9]+)$');
    END IF;
    IF found IS NOT NULL AND coalesce(job.jobname, '') !~ '^unschedule-' THEN
      reconciles := reconciles || (found[1] || ':' || found[2]);
    END IF;
    PERFORM cron.unschedule(job.jobid);
    RAISE NOTICE 'unscheduled upstream cron job % (schedule %)', coalesce(job.jobname, job.jobid::text), job.schedule;
  END LOOP;

  IF EXISTS (SELECT 1 FROM pgmq.q_broadcast_first_messages) THEN
    PERFORM public.ensure_send_messages_job(false);
  END IF;
  IF EXISTS (SELECT 1 FROM pgmq.q_broadcast_second_messages) THEN
    PERFORM public.ensure_send_messages_job(true);
  END IF;

  FOR target IN SELECT DISTINCT unnest(reconciles) ORDER BY 1 LOOP
    v_kind := split_part(target, ':', 1);
    v_id := split_part(target, ':', 2)::bigint;
    -- Only what actually ran: upstream's daily pass also picked upcoming broadcasts and campaigns.
    IF (v_kind = 'broadcast' AND EXISTS (SELECT 1 FROM public.broadcasts WHERE id = v_id AND NOT editable AND run_at <= now()))
       OR (v_kind = 'campaign' AND EXISTS (SELECT 1 FROM public.campaigns WHERE id = v_id AND processed AND run_at <= now())) THEN
      PERFORM public.schedule_twilio_reconcile_at(v_kind, v_id, now() + interval '5 minutes');
      RAISE NOTICE 'the Twilio reconcile of % % restarts with our job in 5 minutes', v_kind, v_id;
    END IF;
  END LOOP;
END $$;

---------------------------------------------------------------------------------------------------
-- 4. campaigns.status for campaigns upstream already ran. The column came with our migrations
--    (default 'scheduled'), so a campaign upstream processed reads as upcoming. From what was sent:
--    still queued or in flight → `sending` (refresh_campaign_statuses, run every minute by
--    check_and_run_campaigns, settles it once its last message is out); otherwise `sent`. Upstream
--    recorded no failed sends (and lost the status row of a personalized send to a new number), so
--    a campaign with recipients but no recorded send is `sent` with a note rather than `failed`.
---------------------------------------------------------------------------------------------------
-- An adoption is not an edit: campaigns.updated_at (moddatetime trigger) keeps its value.
ALTER TABLE public.campaigns DISABLE TRIGGER handle_updated_at_campaigns;
WITH upstream_run AS (
  SELECT c.id,
         EXISTS (SELECT 1 FROM pgmq.q_broadcast_first_messages q WHERE q.message->>'campaign_id' = c.id::text)
           OR EXISTS (SELECT 1 FROM pgmq.q_broadcast_second_messages q WHERE q.message->>'campaign_id' = c.id::text)
           OR EXISTS (SELECT 1 FROM public.message_sends s WHERE s.campaign_id = c.id AND s.state = 'sending') AS in_flight,
         EXISTS (SELECT 1 FROM public.message_statuses ms WHERE ms.campaign_id = c.id) AS recorded
  FROM public.campaigns c
  WHERE c.processed AND c.status = 'scheduled'
)
UPDATE public.campaigns c
SET status = CASE WHEN u.in_flight THEN 'sending' ELSE 'sent' END,
    status_detail = CASE WHEN NOT u.in_flight AND NOT u.recorded AND coalesce(c.recipient_count, 0) > 0
                         THEN 'run before the takeover; no sent message was recorded for it' END
FROM upstream_run u
WHERE c.id = u.id;
ALTER TABLE public.campaigns ENABLE TRIGGER handle_updated_at_campaigns;
