-- Evidence for sends with an unknown outcome, and their settling within minutes (issue 9 #5–#7).
--
-- #6 Pairing an SMS without a SID with one of our rows took ANY message from the broadcast number
--    to that recipient (another campaign's, a test send, a staff reply). Now an SMS is paired only
--    when no row of any broadcast, campaign or phase claims it AND its body is the text we sent
--    (after link shortening: message_statuses.message / the queued payload). Bodies are staged.
-- #7 An `unknown` send was declared never-sent when a pass listing `DateSent>` (which omits messages
--    Twilio has not sent yet: queued / accepted / scheduled) did not show it. Now only a lookup of
--    the recipient's number without a date filter (it lists not-yet-sent messages) may prove that.
-- #5 That lookup runs every minute while `unknown` sends are waiting (cron `settle-unknown-sends`,
--    src/shared/reconcile/settle-unknown.ts), so a send that went out gets its follow-up in time
--    and one proven not sent is retried, instead of waiting for the daily reconcile.

ALTER TABLE public.twilio_reconcile_messages ADD COLUMN IF NOT EXISTS body text;

ALTER TABLE public.message_sends ADD COLUMN IF NOT EXISTS settle_checked_at timestamptz;
COMMENT ON COLUMN public.message_sends.settle_checked_at IS
  'Last Twilio lookup of an `unknown` send by settle-unknown-sends (src/shared/reconcile/settle-unknown.ts).';
CREATE INDEX IF NOT EXISTS message_sends_unknown_idx ON public.message_sends (updated_at) WHERE state = 'unknown';
-- Any row's SID: "does another row claim this SMS?" is asked per message.
CREATE INDEX IF NOT EXISTS message_statuses_twilio_id_idx ON public.message_statuses (twilio_id) WHERE twilio_id IS NOT NULL;

-- How an SMS body is compared with the text we sent: Missive and carriers may trim or re-wrap
-- whitespace; anything else (another text, another link) is another message.
CREATE OR REPLACE FUNCTION public.sms_text_key(p_text text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = ''
AS $$ SELECT btrim(regexp_replace(coalesce(p_text, ''), '\s+', ' ', 'g')) $$;

-- The text a ledger row sent (or tried to): the queue payload it was claimed from (an `unknown` send
-- is archived with it), else its broadcast's or campaign's text for that phase.
CREATE OR REPLACE FUNCTION public.message_send_text(p_send_id bigint)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
  SELECT coalesce(
    (SELECT CASE WHEN s.is_second THEN a.message->>'second_message' ELSE a.message->>'first_message' END
     FROM pgmq.a_broadcast_first_messages a
     WHERE s.queue_name = 'broadcast_first_messages' AND a.msg_id = s.queue_msg_id),
    (SELECT CASE WHEN s.is_second THEN a.message->>'second_message' ELSE a.message->>'first_message' END
     FROM pgmq.a_broadcast_second_messages a
     WHERE s.queue_name = 'broadcast_second_messages' AND a.msg_id = s.queue_msg_id),
    (SELECT CASE WHEN s.is_second THEN b.second_message ELSE b.first_message END
     FROM public.broadcasts b WHERE b.id = s.broadcast_id),
    (SELECT CASE WHEN s.is_second THEN c.second_message ELSE c.first_message END
     FROM public.campaigns c WHERE c.id = s.campaign_id))
  FROM public.message_sends s WHERE s.id = p_send_id
$$;

-- Every minute: when an `unknown` send is due for a Twilio lookup, call the function that does it.
-- A plain SQL check most minutes (partial index); five-field schedule (pg_cron 1.4 locally).
-- Keep the intervals in step with src/shared/reconcile/settle-unknown.ts.
CREATE OR REPLACE FUNCTION public.settle_unknown_sends_tick(p_now timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM public.message_sends s
    WHERE s.state = 'unknown'
      AND s.updated_at <= p_now - interval '2 minutes'
      AND (s.settle_checked_at IS NULL
           OR s.settle_checked_at <= p_now - CASE WHEN s.updated_at > p_now - interval '1 hour'
                                                  THEN interval '1 minute' ELSE interval '1 hour' END)
  ) THEN
    RETURN false;
  END IF;
  PERFORM public.invoke_edge_function('reconcile-twilio-status/settle-unknown', '{}'::jsonb);
  RETURN true;
END $$;

COMMENT ON FUNCTION public.settle_unknown_sends_tick(timestamptz) IS
  'Per-minute (cron settle-unknown-sends): calls reconcile-twilio-status/settle-unknown when an unknown send is due for a Twilio lookup.';

SELECT cron.schedule('settle-unknown-sends', '* * * * *', 'SELECT public.settle_unknown_sends_tick();');
