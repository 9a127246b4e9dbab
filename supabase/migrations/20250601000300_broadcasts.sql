-- Weekly broadcasts: from the schedule to the first-message queue.
--
--   check_and_trigger_broadcast()  every minute (cron `check-and-trigger-broadcast-every-minute`):
--                                  is a broadcast due? then claim its slot and call `make`.
--   make (edge function)           hands the editable broadcast over in one transaction:
--                                  queue_broadcast_messages(id), mark it sent, create the next one.
--   queue_broadcast_messages(id)   picks the audience and enqueues it with ONE pgmq.send_batch.
--
-- Upstream defects fixed here (upstream-database.md §5.1–5.3, §14; DESIGN.md "Upstream defects"):
--   * a missed minute was lost for good: a due slot is now triggered on any tick within a grace
--     period, claimed with a compare-and-set so two ticks never trigger it twice;
--   * the Detroit wall time went through the session TZ: slots are computed explicitly;
--   * a stale `run_at` on the editable broadcast blocked the weekly schedule forever;
--   * eligibility (unsubscribed / exclude / added_via_file_upload) depended on how each segment
--     query was written; NULL-named segments were dropped; a missing `Inactive` segment was a
--     syntax error; recipients were enqueued in batches of 100 (one sender kick per batch).

---------------------------------------------------------------------------------------------------
-- At most one editable (upcoming) broadcast. Upstream picked "the" editable broadcast without an
-- ORDER BY, so two of them meant an arbitrary one was sent and the other lingered.
---------------------------------------------------------------------------------------------------
DO $$
DECLARE
  editable_ids text;
BEGIN
  SELECT string_agg(id::text, ', ' ORDER BY id) INTO editable_ids FROM public.broadcasts WHERE editable;
  IF (SELECT count(*) FROM public.broadcasts WHERE editable) > 1 THEN
    -- Deciding which draft survives is an editor's call, not a migration's.
    RAISE EXCEPTION 'more than one editable broadcast (ids %): keep one (set editable = false on the others) and re-run', editable_ids;
  END IF;
END $$;

CREATE UNIQUE INDEX IF NOT EXISTS broadcasts_one_editable ON public.broadcasts (editable) WHERE editable;
CREATE INDEX IF NOT EXISTS broadcasts_sent_run_at_idx ON public.broadcasts (run_at DESC) WHERE NOT editable;

---------------------------------------------------------------------------------------------------
-- One row per scheduled slot that check_and_trigger_broadcast claimed. The primary key is the
-- compare-and-set: only the tick whose INSERT (or retry UPDATE) returns a row calls `make`.
---------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.broadcast_triggers (
  slot_at            timestamptz PRIMARY KEY,
  source             text        NOT NULL CHECK (source IN ('weekly', 'run_at')),
  broadcast_id       integer     REFERENCES public.broadcasts (id) ON DELETE SET NULL,
  first_triggered_at timestamptz NOT NULL,
  last_triggered_at  timestamptz NOT NULL,
  attempts           integer     NOT NULL DEFAULT 1,
  late_seconds       integer     NOT NULL DEFAULT 0,
  request_id         bigint
);
COMMENT ON TABLE public.broadcast_triggers IS
  'Slots (weekly or pinned run_at) for which check_and_trigger_broadcast called make; late_seconds > 0 = caught up after a missed minute.';

---------------------------------------------------------------------------------------------------
-- queue_broadcast_messages(p_broadcast_id): the audience of one broadcast, enqueued at once.
-- Returns how many recipients were queued (upstream returned void; callers that ignore the
-- result are unaffected). The broadcast row itself is not changed here: `make` does that in the
-- same transaction.
---------------------------------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.queue_broadcast_messages(integer);
CREATE FUNCTION public.queue_broadcast_messages(p_broadcast_id integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  v_broadcast record;
  v_segment record;
  v_take integer;
  v_added integer;
  v_pass integer := 0;
  v_count integer := 0;
BEGIN
  SELECT b.first_message, b.second_message, b.no_users, b.delay INTO v_broadcast
  FROM public.broadcasts b WHERE b.id = p_broadcast_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'broadcast % does not exist', p_broadcast_id;
  END IF;

  -- A pooled session may still hold the table from an earlier call (upstream 1c7bb83), and the
  -- function may run twice in one transaction: drop first, and drop on commit.
  DROP TABLE IF EXISTS pg_temp.queue_broadcast_recipients;
  -- No index: each INSERT below is already de-duplicated (GROUP BY, NOT EXISTS), and skipping the
  -- index and an identity sequence keeps a 100 000-recipient enqueue close to a plain bulk insert
  -- (bench/enqueue.ts). (pass, pos) is the send order.
  CREATE TEMP TABLE queue_broadcast_recipients (
    pass integer NOT NULL,
    pos bigint NOT NULL,
    phone_number text NOT NULL,
    segment_id integer NOT NULL
  ) ON COMMIT DROP;

  -- Linked segments first, in link order (the first segment to yield a number owns it), each up to
  -- its ratio of no_users; then every segment named 'Inactive' tops up to no_users. A segment named
  -- 'Inactive' contributes only to the top-up, as upstream. NULL names are ordinary segments
  -- (upstream's `name != 'Inactive'` silently dropped them).
  FOR v_segment IN
    SELECT s.id, s.query, (bs.ratio::bigint * v_broadcast.no_users / 100)::integer AS share, 1 AS pass, bs.id AS link_order
    FROM public.broadcasts_segments bs
    JOIN public.audience_segments s ON s.id = bs.segment_id
    WHERE bs.broadcast_id = p_broadcast_id AND s.name IS DISTINCT FROM 'Inactive'
    UNION ALL
    SELECT s.id, s.query, NULL, 2, s.id
    FROM public.audience_segments s
    WHERE s.name = 'Inactive'
    ORDER BY pass, link_order
  LOOP
    -- Never more than no_users in total, even when the ratios add up to more than 100.
    v_take := v_broadcast.no_users - v_count;
    IF v_segment.pass = 1 THEN
      v_take := least(v_take, v_segment.share);
    END IF;
    CONTINUE WHEN v_take <= 0;

    -- The segment query is admin-written SQL (upstream's design; it runs only here). Whatever it
    -- selects, only known authors who are subscribed, not excluded (NULL exclude counts as
    -- excluded, upstream's `exclude = false`) and not file-upload-only can be picked; numbers
    -- already taken and repeats inside the segment are skipped BEFORE the limit, so a segment
    -- yields its full share when it can. row_number() keeps the query's own order (ORDER BY random()).
    v_pass := v_pass + 1;
    EXECUTE format($query$
      INSERT INTO pg_temp.queue_broadcast_recipients (pass, pos, phone_number, segment_id)
      SELECT $3, picked.pos, picked.phone_number, $1
      FROM (
        SELECT candidate.phone_number, min(candidate.pos) AS pos
        FROM (
          SELECT segment.phone_number::text AS phone_number, row_number() OVER () AS pos
          FROM (%s) AS segment
        ) AS candidate
        JOIN public.authors author ON author.phone_number = candidate.phone_number
        WHERE author.unsubscribed = false
          AND author.exclude = false
          AND author.added_via_file_upload IS NOT TRUE
          AND NOT EXISTS (SELECT 1 FROM pg_temp.queue_broadcast_recipients taken WHERE taken.phone_number = candidate.phone_number)
        GROUP BY candidate.phone_number
      ) AS picked
      ORDER BY picked.pos
      LIMIT $2
      $query$, regexp_replace(v_segment.query, ';\s*$', ''))
    USING v_segment.id, v_take, v_pass;

    GET DIAGNOSTICS v_added = ROW_COUNT;
    v_count := v_count + v_added;
  END LOOP;

  -- One INSERT for the whole audience: the queue's statement trigger kicks the sender once, and
  -- either every recipient is queued or (on error) none is. Payload: upstream-database.md §8.1.
  IF v_count > 0 THEN
    PERFORM pgmq.send_batch('broadcast_first_messages', ARRAY(
      SELECT jsonb_build_object(
        'recipient_phone_number', r.phone_number,
        'broadcast_id', p_broadcast_id,
        'segment_id', r.segment_id,
        'first_message', v_broadcast.first_message,
        'second_message', v_broadcast.second_message,
        'delay', v_broadcast.delay)
      FROM pg_temp.queue_broadcast_recipients r
      ORDER BY r.pass, r.pos));
  END IF;

  DROP TABLE pg_temp.queue_broadcast_recipients;
  RETURN v_count;
END $$;

COMMENT ON FUNCTION public.queue_broadcast_messages(integer) IS
  'Enqueues the eligible audience of a broadcast into broadcast_first_messages with one send_batch; returns the count.';

---------------------------------------------------------------------------------------------------
-- check_and_trigger_broadcast(p_now): decides each minute whether a broadcast is due.
-- Statuses (upstream's strings, plus `already_triggered` for a slot another tick has claimed and
-- whose hand-over has not happened yet):
--   broadcast_ran_within_last_2_hours  a broadcast was sent < 2 h ago (also absorbs duplicates)
--   paused_schedule_not_match_current_time  the editable broadcast is pinned to a later time
--   triggered                          this tick claimed a due slot and called make
--   already_triggered                  the due slot was claimed < 5 min ago; waiting for make
--   no_active_schedule / no_schedule_match
-- Weekly times are America/Detroit wall-clock, converted explicitly (DST-correct, whatever the
-- session TimeZone is). p_now exists so tests can pin the clock.
---------------------------------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.check_and_trigger_broadcast();
CREATE OR REPLACE FUNCTION public.check_and_trigger_broadcast(p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  -- Keep in step with BROADCAST_GRACE_MINUTES in src/shared/schedule/weekly.ts (make accepts a
  -- run_at_utc that old).
  grace constant interval := interval '30 minutes';
  -- A claimed slot whose make never happened (request lost, function down) is retried this often
  -- until the grace period ends; make's own 2-hour guard turns a late duplicate into a no-op.
  retry_after constant interval := interval '5 minutes';
  tick timestamptz := date_trunc('minute', p_now);
  v_recent_id integer;
  v_recent_run_at timestamptz;
  v_upcoming_id integer;
  v_pinned timestamptz;
  v_setting public.broadcast_settings%ROWTYPE;
  v_slot timestamptz;
  v_source text;
  v_attempts integer;
  v_late integer;
  v_request bigint;
BEGIN
  SELECT b.id, b.run_at INTO v_recent_id, v_recent_run_at
  FROM public.broadcasts b
  WHERE NOT b.editable AND b.run_at > p_now - interval '2 hours'
  ORDER BY b.run_at DESC LIMIT 1;
  IF v_recent_id IS NOT NULL THEN
    RAISE LOG 'check_and_trigger_broadcast: broadcast % ran at %, within the last 2 hours', v_recent_id, v_recent_run_at;
    RETURN jsonb_build_object('status', 'broadcast_ran_within_last_2_hours', 'broadcast_id', v_recent_id);
  END IF;

  SELECT b.id, b.run_at INTO v_upcoming_id, v_pinned
  FROM public.broadcasts b WHERE b.editable ORDER BY b.id DESC LIMIT 1;

  -- A pinned run_at ("paused" / rescheduled) overrides the weekly schedule while it is ahead or
  -- due within the grace period. Older than that it is stale: upstream waited for that exact minute
  -- forever; here the weekly schedule takes over again.
  IF v_pinned IS NOT NULL THEN
    IF date_trunc('minute', v_pinned) > tick THEN
      RETURN jsonb_build_object('status', 'paused_schedule_not_match_current_time', 'run_at', v_pinned);
    ELSIF tick - date_trunc('minute', v_pinned) <= grace THEN
      v_slot := date_trunc('minute', v_pinned);
      v_source := 'run_at';
    ELSE
      RAISE WARNING 'check_and_trigger_broadcast: broadcast % has a stale run_at % (more than % ago); following the weekly schedule',
        v_upcoming_id, v_pinned, grace;
    END IF;
  END IF;

  IF v_slot IS NULL THEN
    SELECT * INTO v_setting FROM public.broadcast_settings s WHERE s.active ORDER BY s.id DESC LIMIT 1;
    IF NOT FOUND THEN
      RETURN jsonb_build_object('status', 'no_active_schedule');
    END IF;

    -- The latest weekly slot in [tick - grace, tick]: at most two Detroit dates to look at.
    -- `timestamp AT TIME ZONE 'America/Detroit'` reads a Detroit wall time as an instant, so a
    -- 09:00 slot is 13:00 UTC in summer and 14:00 UTC in winter. Seconds in the setting are ignored.
    SELECT slot.at INTO v_slot
    FROM generate_series(
      ((tick - grace) AT TIME ZONE 'America/Detroit')::date::timestamp,
      (tick AT TIME ZONE 'America/Detroit')::date::timestamp,
      interval '1 day') AS d(local_midnight)
    CROSS JOIN LATERAL (
      SELECT CASE extract(isodow FROM d.local_midnight)::int
        WHEN 1 THEN v_setting.mon WHEN 2 THEN v_setting.tue WHEN 3 THEN v_setting.wed
        WHEN 4 THEN v_setting.thu WHEN 5 THEN v_setting.fri WHEN 6 THEN v_setting.sat
        ELSE v_setting.sun END AS local_time
    ) AS day_time
    CROSS JOIN LATERAL (
      SELECT (d.local_midnight + date_trunc('minute', day_time.local_time::interval)) AT TIME ZONE 'America/Detroit' AS at
    ) AS slot
    WHERE day_time.local_time IS NOT NULL AND slot.at <= tick AND slot.at >= tick - grace
    ORDER BY slot.at DESC
    LIMIT 1;

    IF v_slot IS NULL THEN
      RETURN jsonb_build_object('status', 'no_schedule_match');
    END IF;
    v_source := 'weekly';
  END IF;

  -- The claim: the first tick inserts the slot; a later tick may take it over only when the last
  -- attempt is older than retry_after. Concurrent ticks serialise on the primary key, and the
  -- loser's WHERE sees the winner's timestamp, so exactly one of them calls make.
  v_late := extract(epoch FROM tick - v_slot)::integer;
  INSERT INTO public.broadcast_triggers AS t
    (slot_at, source, broadcast_id, first_triggered_at, last_triggered_at, attempts, late_seconds)
  VALUES (v_slot, v_source, v_upcoming_id, p_now, p_now, 1, v_late)
  ON CONFLICT (slot_at) DO UPDATE
    SET last_triggered_at = EXCLUDED.last_triggered_at,
        attempts = t.attempts + 1,
        late_seconds = EXCLUDED.late_seconds,
        broadcast_id = EXCLUDED.broadcast_id
    WHERE t.last_triggered_at <= EXCLUDED.last_triggered_at - retry_after
  RETURNING t.attempts INTO v_attempts;

  IF v_attempts IS NULL THEN
    RAISE LOG 'check_and_trigger_broadcast: slot % already triggered, waiting for make', v_slot;
    RETURN jsonb_build_object('status', 'already_triggered', 'slot_at', v_slot);
  END IF;

  IF v_late > 0 THEN
    RAISE WARNING 'check_and_trigger_broadcast: % slot % triggered % s late (attempt %)', v_source, v_slot, v_late, v_attempts;
  END IF;

  v_request := public.invoke_edge_function('make',
    jsonb_build_object('run_at_utc', to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')));
  UPDATE public.broadcast_triggers SET request_id = v_request WHERE slot_at = v_slot;

  RETURN jsonb_build_object('status', 'triggered', 'slot_at', v_slot, 'source', v_source,
                            'late_seconds', v_late, 'attempt', v_attempts);
END $$;

COMMENT ON FUNCTION public.check_and_trigger_broadcast(timestamptz) IS
  'Per-minute broadcast trigger: claims a due slot (weekly America/Detroit or pinned run_at, 30 min grace) and calls make.';

-- Kept by name from upstream; cron.schedule upserts by job name.
SELECT cron.schedule('check-and-trigger-broadcast-every-minute', '* * * * *', 'SELECT public.check_and_trigger_broadcast();');
