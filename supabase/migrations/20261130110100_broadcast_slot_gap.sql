-- One broadcast per 2 hours, measured from the slot (issue 9 #1; DESIGN.md "Sending guarantees").
--
-- The guard in check_and_trigger_broadcast (migration 20250601000300) was measured from *now*,
-- while a missed slot stays eligible for 30 minutes. A send-now (or a pinned run_at) 90–120 minutes
-- before a weekly slot blocked the slot at its minute, and the slot then fired as soon as the
-- guard expired: weekly slot 21:00Z, send-now at 19:10Z → at 21:10 the tick answered `triggered`
-- (late_seconds 600) and `make` sent the next broadcast, the same texts to the same audience.
--
-- Rule now: a slot (weekly or pinned) that lies within 2 hours after the last sent broadcast's
-- run_at — or before a broadcast sent after it — is skipped for good: the tick records why in
-- broadcast_triggers.skipped_reason and no later tick triggers it. A missed slot with no broadcast
-- in the 2 hours before it is still caught up within the grace period. `make` gets the slot
-- (`slot_at_utc`) and applies the same rule.

ALTER TABLE public.broadcast_triggers ADD COLUMN IF NOT EXISTS skipped_reason text;
COMMENT ON COLUMN public.broadcast_triggers.skipped_reason IS
  'Set when the slot was skipped for good (no make call): e.g. it lies within 2 hours after a sent broadcast.';

CREATE OR REPLACE FUNCTION public.check_and_trigger_broadcast(p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  -- Keep in step with BROADCAST_GRACE_MINUTES in src/shared/schedule/weekly.ts (make accepts a
  -- run_at_utc that old).
  grace constant interval := interval '30 minutes';
  -- A claimed slot whose make never happened is retried this often until the grace period ends.
  retry_after constant interval := interval '5 minutes';
  -- Keep in step with MIN_GAP_BETWEEN_BROADCASTS_MS in src/shared/broadcasts/make.ts.
  min_gap constant interval := interval '2 hours';
  tick timestamptz := date_trunc('minute', p_now);
  v_recent_id integer;
  v_recent_run_at timestamptz;
  v_block_id integer;
  v_block_run_at timestamptz;
  v_upcoming_id integer;
  v_pinned timestamptz;
  v_setting public.broadcast_settings%ROWTYPE;
  v_slot timestamptz;
  v_source text;
  v_attempts integer;
  v_late integer;
  v_request bigint;
  v_reason text;
BEGIN
  -- Upstream's status when nothing is due and a broadcast went out < 2 h ago.
  SELECT b.id, b.run_at INTO v_recent_id, v_recent_run_at
  FROM public.broadcasts b
  WHERE NOT b.editable AND b.run_at > p_now - min_gap
  ORDER BY b.run_at DESC LIMIT 1;

  SELECT b.id, b.run_at INTO v_upcoming_id, v_pinned
  FROM public.broadcasts b WHERE b.editable ORDER BY b.id DESC LIMIT 1;

  -- A pinned run_at overrides the weekly schedule while it is ahead or due within the grace
  -- period; older than that it is stale and the weekly schedule takes over again.
  IF v_pinned IS NOT NULL THEN
    IF date_trunc('minute', v_pinned) > tick THEN
      IF v_recent_id IS NOT NULL THEN
        RETURN jsonb_build_object('status', 'broadcast_ran_within_last_2_hours', 'broadcast_id', v_recent_id);
      END IF;
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
      IF v_recent_id IS NOT NULL THEN
        RETURN jsonb_build_object('status', 'broadcast_ran_within_last_2_hours', 'broadcast_id', v_recent_id);
      END IF;
      RETURN jsonb_build_object('status', 'no_active_schedule');
    END IF;

    -- The latest weekly slot in [tick - grace, tick] (Detroit wall time read as an instant).
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
      IF v_recent_id IS NOT NULL THEN
        RETURN jsonb_build_object('status', 'broadcast_ran_within_last_2_hours', 'broadcast_id', v_recent_id);
      END IF;
      RETURN jsonb_build_object('status', 'no_schedule_match');
    END IF;
    v_source := 'weekly';
  END IF;

  -- The 2-hour rule, measured from the slot: a broadcast sent less than 2 hours before it (or any
  -- time after it: the slot's own hand-over, a send-now during the grace period) takes the slot for
  -- good. Measured from now, the slot came back as soon as the guard expired (the double send).
  SELECT b.id, b.run_at INTO v_block_id, v_block_run_at
  FROM public.broadcasts b
  WHERE NOT b.editable AND b.run_at > v_slot - min_gap
  ORDER BY b.run_at DESC LIMIT 1;
  IF v_block_id IS NOT NULL THEN
    v_reason := CASE WHEN v_block_run_at <= v_slot
      THEN format('within 2 hours after broadcast %s (sent %s)', v_block_id, v_block_run_at)
      ELSE format('broadcast %s was sent at %s, after the slot', v_block_id, v_block_run_at) END;
    -- A slot make has already been called for keeps its trigger row (DO NOTHING).
    INSERT INTO public.broadcast_triggers AS t
      (slot_at, source, broadcast_id, first_triggered_at, last_triggered_at, attempts, late_seconds, skipped_reason)
    VALUES (v_slot, v_source, v_upcoming_id, p_now, p_now, 0, extract(epoch FROM tick - v_slot)::integer, v_reason)
    ON CONFLICT (slot_at) DO NOTHING;
    IF FOUND THEN
      RAISE LOG 'check_and_trigger_broadcast: % slot % skipped for good: %', v_source, v_slot, v_reason;
    END IF;
    RETURN jsonb_build_object('status', 'broadcast_ran_within_last_2_hours', 'broadcast_id', v_block_id,
                              'slot_at', v_slot, 'skipped', true);
  END IF;

  -- The claim (compare-and-set): the first tick inserts the slot; a later tick may take it over
  -- only when the last attempt is older than retry_after, and never a slot skipped for good.
  v_late := extract(epoch FROM tick - v_slot)::integer;
  INSERT INTO public.broadcast_triggers AS t
    (slot_at, source, broadcast_id, first_triggered_at, last_triggered_at, attempts, late_seconds)
  VALUES (v_slot, v_source, v_upcoming_id, p_now, p_now, 1, v_late)
  ON CONFLICT (slot_at) DO UPDATE
    SET last_triggered_at = EXCLUDED.last_triggered_at,
        attempts = t.attempts + 1,
        late_seconds = EXCLUDED.late_seconds,
        broadcast_id = EXCLUDED.broadcast_id
    WHERE t.last_triggered_at <= EXCLUDED.last_triggered_at - retry_after AND t.skipped_reason IS NULL
  RETURNING t.attempts INTO v_attempts;

  IF v_attempts IS NULL THEN
    IF EXISTS (SELECT 1 FROM public.broadcast_triggers t WHERE t.slot_at = v_slot AND t.skipped_reason IS NOT NULL) THEN
      RETURN jsonb_build_object('status', 'broadcast_ran_within_last_2_hours', 'slot_at', v_slot, 'skipped', true);
    END IF;
    RAISE LOG 'check_and_trigger_broadcast: slot % already triggered, waiting for make', v_slot;
    RETURN jsonb_build_object('status', 'already_triggered', 'slot_at', v_slot);
  END IF;

  IF v_late > 0 THEN
    RAISE WARNING 'check_and_trigger_broadcast: % slot % triggered % s late (attempt %)', v_source, v_slot, v_late, v_attempts;
  END IF;

  -- run_at_utc stays the tick's minute (make's grace window counts from it); slot_at_utc lets make
  -- apply the same 2-hour rule against the slot.
  v_request := public.invoke_edge_function('make', jsonb_build_object(
    'run_at_utc', to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
    'slot_at_utc', to_char(v_slot AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')));
  UPDATE public.broadcast_triggers SET request_id = v_request WHERE slot_at = v_slot;

  RETURN jsonb_build_object('status', 'triggered', 'slot_at', v_slot, 'source', v_source,
                            'late_seconds', v_late, 'attempt', v_attempts);
END $$;

COMMENT ON FUNCTION public.check_and_trigger_broadcast(timestamptz) IS
  'Per-minute broadcast trigger: claims a due slot (weekly America/Detroit or pinned run_at, 30 min grace) and calls make; a slot within 2 hours after a sent broadcast is skipped for good (broadcast_triggers.skipped_reason).';
