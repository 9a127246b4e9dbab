-- A paused campaign's messages leave the hot queue (issue 9 #8).
--
-- The sender held a paused campaign's messages by pushing each one's visibility 60 s ahead when it
-- read it. pgmq reads in msg_id order, so every minute the drains re-read (and re-deferred) the
-- whole paused campaign before reaching anything enqueued after it: a broadcast queued behind a
-- paused 50 000-recipient campaign waited for tens of thousands of reads per minute.
--
-- Now pausing parks the campaign's queued messages (both phases): their visibility moves to
-- "parked" — far in the future (PARKED_SECONDS in src/shared/sending/eligibility.ts is the same
-- 100 years) — so pgmq.read never returns them. They stay in the queue tables on purpose: they keep
-- their msg_id (a follow-up's msg_id is what message_statuses.second_message_queue_id, and so a
-- reply's cancellation, points at), a reply or an opt-out still deletes them, and campaign progress
-- and refresh_campaign_statuses still count them as queued. Resuming (or cancelling, so that the
-- sender records each one as skipped) makes them visible again in their original msg_id order; a
-- follow-up keeps the rest of its delay.

CREATE OR REPLACE FUNCTION public.park_campaign_messages(p_campaign_id integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  v_first integer;
  v_second integer;
BEGIN
  UPDATE pgmq.q_broadcast_first_messages q SET vt = clock_timestamp() + interval '100 years'
  WHERE q.message->>'campaign_id' = p_campaign_id::text AND q.vt < clock_timestamp() + interval '50 years';
  GET DIAGNOSTICS v_first = ROW_COUNT;
  UPDATE pgmq.q_broadcast_second_messages q SET vt = clock_timestamp() + interval '100 years'
  WHERE q.message->>'campaign_id' = p_campaign_id::text AND q.vt < clock_timestamp() + interval '50 years';
  GET DIAGNOSTICS v_second = ROW_COUNT;
  RETURN v_first + v_second;
END $$;

COMMENT ON FUNCTION public.park_campaign_messages(integer) IS
  'Pause: moves a campaign''s queued messages out of reach of pgmq.read (visibility 100 years ahead), keeping their msg_ids; returns how many.';

CREATE OR REPLACE FUNCTION public.unpark_campaign_messages(p_campaign_id integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  v_first integer;
  v_second integer;
BEGIN
  -- Only parked rows: a message a drain holds under its lease (a few minutes) keeps it.
  UPDATE pgmq.q_broadcast_first_messages q SET vt = clock_timestamp()
  WHERE q.message->>'campaign_id' = p_campaign_id::text AND q.vt > clock_timestamp() + interval '50 years';
  GET DIAGNOSTICS v_first = ROW_COUNT;
  -- A follow-up is due `delay` seconds after it was queued (600 when the payload has none); one
  -- whose time passed while paused goes now.
  UPDATE pgmq.q_broadcast_second_messages q
  SET vt = greatest(clock_timestamp(),
                    q.enqueued_at + make_interval(secs => coalesce((q.message->>'delay')::double precision, 600)))
  WHERE q.message->>'campaign_id' = p_campaign_id::text AND q.vt > clock_timestamp() + interval '50 years';
  GET DIAGNOSTICS v_second = ROW_COUNT;
  RETURN v_first + v_second;
END $$;

COMMENT ON FUNCTION public.unpark_campaign_messages(integer) IS
  'Resume/cancel: makes a paused campaign''s parked messages visible again, in msg_id order; returns how many.';
