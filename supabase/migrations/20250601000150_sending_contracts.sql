-- Contracts shared by the sender, broadcasts, campaigns and webhooks (not in upstream).
--
-- 1. public.message_sends: the at-most-once ledger (DESIGN.md "Sending guarantees"). One row per
--    (broadcast or campaign, recipient, phase), committed in state `sending` BEFORE Missive is
--    called. Upstream deleted the queue message only after Missive answered, so a crash or timeout
--    in between re-sent the SMS 180 s later; with this row a claim that finds an earlier attempt
--    never calls Missive blindly again.
--      sending  claimed; the Missive call is (or was, if we crashed) in flight
--      sent     Missive accepted it; message_status_id points at the message_statuses row
--      failed   gave up after 3 failed attempts (429 aside); the queue message is archived with the error
--      unknown  the call may have gone out (crash or timeout mid-call): dead-lettered, never re-sent
--               blindly; the Twilio reconcile shows what really happened
--      skipped  deliberately not sent (unsubscribed, excluded, excluded label, campaign cancelled);
--               `detail` says why
-- 2. campaigns.status: the campaign lifecycle; the sender holds `paused` campaigns' messages and
--    skips `cancelled` ones.

CREATE TABLE IF NOT EXISTS public.message_sends (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  broadcast_id bigint REFERENCES public.broadcasts (id) ON DELETE CASCADE,
  campaign_id integer REFERENCES public.campaigns (id) ON DELETE CASCADE,
  recipient_phone_number text NOT NULL,
  is_second boolean NOT NULL,
  state text NOT NULL,
  queue_name text NOT NULL,
  queue_msg_id bigint,
  attempts integer NOT NULL DEFAULT 0,
  missive_id uuid,
  missive_conversation_id uuid,
  message_status_id integer REFERENCES public.message_statuses (id) ON DELETE SET NULL,
  last_http_status integer,
  detail text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT message_sends_one_owner CHECK (num_nonnulls(broadcast_id, campaign_id) = 1),
  CONSTRAINT message_sends_state_check CHECK (state IN ('sending', 'sent', 'failed', 'unknown', 'skipped'))
);

-- The at-most-once key: a second claim of the same (owner, phone, phase) conflicts here.
CREATE UNIQUE INDEX IF NOT EXISTS message_sends_once_per_phase
  ON public.message_sends (COALESCE(broadcast_id, 0), COALESCE(campaign_id, 0), recipient_phone_number, is_second);
CREATE INDEX IF NOT EXISTS message_sends_campaign_state_idx ON public.message_sends (campaign_id, state) WHERE campaign_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS message_sends_broadcast_state_idx ON public.message_sends (broadcast_id, state) WHERE broadcast_id IS NOT NULL;

COMMENT ON TABLE public.message_sends IS 'At-most-once ledger of sends per (broadcast or campaign, recipient, phase); see migration 20250601000150.';

ALTER TABLE public.campaigns ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'scheduled';
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'campaigns_status_check') THEN
    ALTER TABLE public.campaigns ADD CONSTRAINT campaigns_status_check
      CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'paused', 'cancelled', 'failed'));
  END IF;
END $$;
COMMENT ON COLUMN public.campaigns.status IS 'draft/scheduled -> sending -> sent; paused; cancelled; failed (every message failed).';
