-- Sending: Missive pacing shared by every drain, the queue insert triggers that start the sender,
-- and the per-minute sender jobs (DESIGN.md "Database and scheduling", "Sending guarantees").
--
-- 1. public.missive_requests + missive_rate_acquire/release/cancel: Missive allows, per API token,
--    5 concurrent requests, 300 per sliding minute and 900 per sliding 15 minutes. Every Missive
--    call the sender makes is recorded here BEFORE it is made, under an advisory lock per token,
--    so two send-messages invocations at once (or both queues, or successive invocations) draw
--    on one budget. A 429 is then the exception, never the pacing mechanism.
-- 2. Statement-level AFTER INSERT triggers on both queue tables: make sure the per-minute job
--    exists, and kick send-messages at once (once per enqueuing transaction, not once per row).
-- 3. public.unschedule_send_messages_job_if_idle: called by send-messages when its drain found
--    the queue empty; removes the job under a lock shared with the insert trigger (upstream's
--    DELETE trigger raced with concurrent inserts and could leave messages with no job).

---------------------------------------------------------------------------------------------------
-- 1. Missive request log and pacing
---------------------------------------------------------------------------------------------------

-- token_key is a hash of the API token (never the token): two purposes configured with the same
-- token then share one budget, as they do at Missive.
CREATE TABLE IF NOT EXISTS public.missive_requests (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_key text NOT NULL,
  purpose text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- An unfinished request stops counting as "in flight" after this (a crashed caller must not
  -- hold a concurrency slot forever); it still counts in the windows.
  lease_until timestamptz NOT NULL,
  finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS missive_requests_token_started_idx ON public.missive_requests (token_key, started_at);
COMMENT ON TABLE public.missive_requests IS
  'Missive API requests per token (hashed), for pacing within Missive''s rate windows; pruned after 15 minutes.';

-- Decides "go now" or "wait N ms" for one request on one token, and records the request when it
-- goes, atomically (the advisory lock serialises deciders of the same token across sessions).
--
-- A request counts in a window from the moment it finished (or now, while in flight). Missive
-- stamps a request when it receives it, which is before we see its answer, so our count of any
-- window is never lower than Missive's: a slot we consider free is free at Missive too.
-- The slot of a full window frees when its limit-th newest request leaves it.
CREATE OR REPLACE FUNCTION public.missive_rate_acquire(
  p_token_key text,
  p_purpose text,
  p_max_concurrent integer,
  p_per_minute integer,
  p_per_15_minutes integer,
  p_lease_ms integer
) RETURNS TABLE (request_id bigint, wait_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  v_lease interval := make_interval(secs => p_lease_ms / 1000.0);
  v_wait interval := interval '0';
  v_count integer;
  v_free_at timestamptz;
  v_window record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('txt_outlier.missive_rate'), hashtext(p_token_key));
  v_now := clock_timestamp();

  DELETE FROM public.missive_requests r
  WHERE r.token_key = p_token_key
    AND r.started_at < v_now - interval '15 minutes' - v_lease
    AND coalesce(r.finished_at, r.lease_until) < v_now - interval '15 minutes';

  SELECT count(*) INTO v_count FROM public.missive_requests r
  WHERE r.token_key = p_token_key AND r.finished_at IS NULL AND r.lease_until > v_now;
  IF v_count >= p_max_concurrent THEN
    -- Nothing says when another caller's request will end: look again shortly.
    v_wait := interval '25 milliseconds';
  END IF;

  FOR v_window IN SELECT * FROM (VALUES (interval '1 minute', p_per_minute), (interval '15 minutes', p_per_15_minutes)) AS w(span, max_requests) LOOP
    SELECT count(*) INTO v_count FROM public.missive_requests r
    WHERE r.token_key = p_token_key
      AND r.started_at > v_now - v_window.span - v_lease
      AND coalesce(r.finished_at, least(v_now, r.lease_until)) > v_now - v_window.span;
    IF v_count >= v_window.max_requests THEN
      SELECT s.stamp + v_window.span INTO v_free_at FROM (
        SELECT coalesce(r.finished_at, least(v_now, r.lease_until)) AS stamp FROM public.missive_requests r
        WHERE r.token_key = p_token_key
          AND r.started_at > v_now - v_window.span - v_lease
          AND coalesce(r.finished_at, least(v_now, r.lease_until)) > v_now - v_window.span
        ORDER BY 1 DESC OFFSET v_window.max_requests - 1 LIMIT 1) s;
      v_wait := greatest(v_wait, v_free_at - v_now, interval '1 millisecond');
    END IF;
  END LOOP;

  IF v_wait > interval '0' THEN
    RETURN QUERY SELECT NULL::bigint, ceil(extract(epoch FROM v_wait) * 1000)::integer;
    RETURN;
  END IF;
  RETURN QUERY
    INSERT INTO public.missive_requests (token_key, purpose, started_at, lease_until)
    VALUES (p_token_key, p_purpose, v_now, v_now + v_lease)
    RETURNING id, 0;
END $$;

CREATE OR REPLACE FUNCTION public.missive_rate_release(p_request_id bigint) RETURNS void
LANGUAGE sql AS $$
  UPDATE public.missive_requests SET finished_at = clock_timestamp() WHERE id = p_request_id AND finished_at IS NULL
$$;

-- For a slot taken and then not used (the message turned out to be a duplicate or ineligible).
CREATE OR REPLACE FUNCTION public.missive_rate_cancel(p_request_id bigint) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM public.missive_requests WHERE id = p_request_id
$$;

---------------------------------------------------------------------------------------------------
-- 2. The sender jobs and the queue insert triggers
---------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.send_messages_job_name(p_is_second boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_is_second THEN 'send-second-messages' ELSE 'send-first-messages' END
$$;

-- Upstream's job names and bodies, every minute (pg_cron 1.4 has no '2 seconds'); each call
-- drains for up to ~50 s. invoke_edge_function reads the URL and key from Vault when it runs.
CREATE OR REPLACE FUNCTION public.send_messages_job_command(p_is_second boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('SELECT public.invoke_edge_function(''send-messages'', ''{"isSecond": %s}''::jsonb)',
                CASE WHEN p_is_second THEN 'true' ELSE 'false' END)
$$;

-- Inserters take this lock shared (they never wait for each other), the unscheduler exclusive.
CREATE OR REPLACE FUNCTION public.lock_send_messages_job(p_is_second boolean, p_exclusive boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_exclusive THEN
    PERFORM pg_advisory_xact_lock(hashtext('txt_outlier.send_messages_job'), CASE WHEN p_is_second THEN 2 ELSE 1 END);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(hashtext('txt_outlier.send_messages_job'), CASE WHEN p_is_second THEN 2 ELSE 1 END);
  END IF;
END $$;

-- Schedules the job unless it is already there as it should be. Only then: cron.schedule rewrites
-- the cron.job row (and makes pg_cron reload its jobs), which one follow-up enqueue per sent first
-- message would otherwise do thousands of times.
CREATE OR REPLACE FUNCTION public.ensure_send_messages_job(p_is_second boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_name text := public.send_messages_job_name(p_is_second);
  v_command text := public.send_messages_job_command(p_is_second);
BEGIN
  PERFORM public.lock_send_messages_job(p_is_second, false);
  -- A new statement after the lock: under READ COMMITTED it sees an unschedule that committed
  -- while we waited, so the job is put back.
  IF NOT EXISTS (SELECT 1 FROM cron.job WHERE jobname = v_name AND schedule = '* * * * *' AND command = v_command AND active) THEN
    PERFORM cron.schedule(v_name, '* * * * *', v_command);
  END IF;
END $$;

-- Why upstream's DELETE trigger raced, and why this does not: it decided "queue empty" from its
-- own snapshot, while a concurrent enqueue's trigger had already seen the job and skipped
-- rescheduling; after both committed, messages sat with no job. Here the unscheduler takes the
-- job lock exclusively, so it waits until every transaction that enqueued (holding the lock
-- shared, from its insert trigger to its commit) has committed, and then checks emptiness with a
-- fresh snapshot that sees their rows. An enqueue that comes after waits for the unschedule to
-- commit and, seeing no job, schedules it again. (This assumes enqueuers run READ COMMITTED, the
-- default, so their trigger's check is not answered from an older snapshot.)
-- Queued messages that are not yet visible (delayed follow-ups, deferred retries) count: they keep
-- the job alive until they are sent, archived or deleted.
CREATE OR REPLACE FUNCTION public.unschedule_send_messages_job_if_idle(p_is_second boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_name text := public.send_messages_job_name(p_is_second);
BEGIN
  PERFORM public.lock_send_messages_job(p_is_second, true);
  IF p_is_second THEN
    IF EXISTS (SELECT 1 FROM pgmq.q_broadcast_second_messages) THEN RETURN false; END IF;
  ELSE
    IF EXISTS (SELECT 1 FROM pgmq.q_broadcast_first_messages) THEN RETURN false; END IF;
  END IF;
  IF EXISTS (SELECT 1 FROM cron.job WHERE jobname = v_name) THEN
    PERFORM cron.unschedule(v_name);
  END IF;
  RETURN true;
END $$;

-- AFTER INSERT ... FOR EACH STATEMENT on a queue table (TG_ARGV[0] = is_second).
-- (a) the per-minute job exists from now on (scheduled here, not only kicked, so a failed kick or
--     a delayed message is still picked up);
-- (b) when some inserted message is visible now, send-messages is called at once, once per
--     transaction and queue: a 10 000-row send_batch, or a producer's several batches in one
--     transaction, make one request, delivered by pg_net after commit (never for a rollback).
--     Delayed follow-ups (one insert per sent first message) do not kick: the job picks them up.
-- A failed kick (e.g. Vault secrets not set) must not fail the enqueue: the job still runs.
CREATE OR REPLACE FUNCTION public.on_message_queue_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_is_second boolean := TG_ARGV[0]::boolean;
  v_marker text := 'txt_outlier.send_messages_kicked_' || CASE WHEN TG_ARGV[0]::boolean THEN 'second' ELSE 'first' END;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  PERFORM public.ensure_send_messages_job(v_is_second);
  IF EXISTS (SELECT 1 FROM new_rows WHERE vt <= clock_timestamp())
     AND coalesce(current_setting(v_marker, true), '') IS DISTINCT FROM txid_current()::text THEN
    PERFORM set_config(v_marker, txid_current()::text, true);
    BEGIN
      PERFORM public.invoke_edge_function('send-messages', jsonb_build_object('isSecond', v_is_second));
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'send-messages kick failed (the per-minute job will pick the messages up): %', SQLERRM;
    END;
  END IF;
  RETURN NULL;
END $$;

-- Upstream's trigger names; its DELETE triggers (and their functions in pgmq) are replaced by
-- unschedule_send_messages_job_if_idle.
DROP TRIGGER IF EXISTS trg_outlier_broadcast_messages_delete ON pgmq.q_broadcast_first_messages;
DROP TRIGGER IF EXISTS trg_outlier_broadcast_second_messages_delete ON pgmq.q_broadcast_second_messages;
DROP TRIGGER IF EXISTS trg_outlier_broadcast_messages_insert ON pgmq.q_broadcast_first_messages;
DROP TRIGGER IF EXISTS trg_outlier_broadcast_second_messages_insert ON pgmq.q_broadcast_second_messages;
DROP FUNCTION IF EXISTS pgmq.outlier_on_broadcast_first_messages_insert();
DROP FUNCTION IF EXISTS pgmq.outlier_on_broadcast_first_messages_delete();
DROP FUNCTION IF EXISTS pgmq.outlier_on_broadcast_second_messages_insert();
DROP FUNCTION IF EXISTS pgmq.outlier_on_broadcast_second_messages_delete();

CREATE TRIGGER trg_outlier_broadcast_messages_insert
  AFTER INSERT ON pgmq.q_broadcast_first_messages
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.on_message_queue_insert('false');

CREATE TRIGGER trg_outlier_broadcast_second_messages_insert
  AFTER INSERT ON pgmq.q_broadcast_second_messages
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.on_message_queue_insert('true');
