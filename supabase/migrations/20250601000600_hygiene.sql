-- Delivery hygiene: the two daily failure jobs (handle-failed-deliveries, archive-double-failures).
--
-- Each daily setup job (upstream names and times, UTC) schedules a per-minute worker job and a
-- one-shot job 3 hours later that removes both. The worker function also removes both as soon as
-- nothing is left to do. Every call goes through public.invoke_edge_function (one URL join, secrets
-- read at call time).
--
-- public.delivery_hygiene_actions records what the jobs did. Upstream recorded nothing: the archive
-- job relied on Missive's label webhook to stop re-selecting a conversation, so without that
-- webhook it posted to the same 40 conversations every minute for 3 hours, and a failing post was
-- retried every minute with no backoff.

-- One row per (job, phone, failure episode). An episode is identified by the latest
-- message_statuses row of the failures that triggered it: a later send starts a new episode, the
-- same failures never trigger a second post.
--   posting      claimed, the Missive post is (or was, if the run died) in flight; a concurrent or
--                overlapping run skips it, a stale claim (run died) is retried
--   posted       Missive accepted the post (for handle-failed-deliveries the author was excluded in
--                the same transaction)
--   post_failed  Missive refused or did not answer; retried after next_attempt_at
CREATE TABLE IF NOT EXISTS public.delivery_hygiene_actions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job text NOT NULL,
  recipient_phone_number text NOT NULL,
  missive_conversation_id uuid NOT NULL,
  message_status_ids integer[] NOT NULL,
  last_message_status_id integer NOT NULL,
  outcome text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_http_status integer,
  detail text,
  claimed_at timestamptz,
  posted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT delivery_hygiene_actions_job_check CHECK (job IN ('handle-failed-deliveries', 'archive-double-failures')),
  CONSTRAINT delivery_hygiene_actions_outcome_check CHECK (outcome IN ('posting', 'posted', 'post_failed')),
  CONSTRAINT delivery_hygiene_actions_once_per_episode UNIQUE (job, recipient_phone_number, last_message_status_id)
);
CREATE INDEX IF NOT EXISTS delivery_hygiene_actions_conversation_idx
  ON public.delivery_hygiene_actions (missive_conversation_id, job) WHERE outcome = 'posted';
COMMENT ON TABLE public.delivery_hygiene_actions IS
  'What handle-failed-deliveries and archive-double-failures posted (or failed to post), once per failure episode; see migration 20250601000600.';

-- Both jobs start from the phones that have a reconciled failure; this keeps their per-minute
-- candidate query from ranking every status row ever written.
CREATE INDEX IF NOT EXISTS message_statuses_failed_phone_idx
  ON public.message_statuses (recipient_phone_number, id)
  WHERE twilio_sent_status IN ('undelivered', 'failed') AND twilio_id IS NOT NULL;

-- Daily at 22:00 UTC: handle-failed-deliveries every minute (GET, as upstream's net.http_get) for
-- at most 3 hours.
CREATE OR REPLACE FUNCTION public.schedule_daily_failed_deliveries_handler(p_now timestamptz DEFAULT now()) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cron.schedule('handle-failed-deliveries-daily', '* * * * *',
    $cmd$SELECT public.invoke_edge_function('handle-failed-deliveries', '{}'::jsonb, 'GET')$cmd$);
  PERFORM cron.schedule('unschedule-failed-deliveries-handler',
    public.cron_schedule_at(p_now + interval '3 hours'),
    $cmd$SELECT public.unschedule_cron_jobs(ARRAY['handle-failed-deliveries-daily', 'unschedule-failed-deliveries-handler'])$cmd$);
END $$;

-- Daily at 23:00 UTC: archive-double-failures every minute (POST {}) for at most 3 hours.
CREATE OR REPLACE FUNCTION public.schedule_daily_archive_double_failures(p_now timestamptz DEFAULT now()) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cron.schedule('archive-double-failures-daily', '* * * * *',
    $cmd$SELECT public.invoke_edge_function('archive-double-failures', '{}'::jsonb, 'POST')$cmd$);
  PERFORM cron.schedule('unschedule-archive-double-failures',
    public.cron_schedule_at(p_now + interval '3 hours'),
    $cmd$SELECT public.unschedule_cron_jobs(ARRAY['archive-double-failures-daily', 'unschedule-archive-double-failures'])$cmd$);
END $$;

SELECT cron.schedule('daily-failed-deliveries-setup', '0 22 * * *',
  'SELECT public.schedule_daily_failed_deliveries_handler();');
SELECT cron.schedule('daily-archive-double-failures-setup', '0 23 * * *',
  'SELECT public.schedule_daily_archive_double_failures();');
