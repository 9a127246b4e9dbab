-- Outgoing-SMS webhooks that arrive before the send they report is recorded (issue 9 item 10).
--
-- Missive can deliver the outgoing_sms_message webhook of one of our drafts between accepting the
-- draft and the sender committing it (message_statuses). The webhook then found no row and its
-- Twilio SID was dropped until the reconcile. It is kept here instead, and the sender's completion
-- (src/shared/sending/complete-send.ts) attaches it in the same transaction as the status row; a
-- per-message advisory lock taken by both sides (src/shared/webhooks/outgoing-status.ts) makes
-- sure one of them sees the other. Staff messages (not ours) are kept too, and pruned after a day.

CREATE TABLE IF NOT EXISTS public.outgoing_sms_early (
  missive_message_id uuid PRIMARY KEY,
  -- The SID the webhook carried (`message.external_id`), or NULL: then Missive is asked once the
  -- send is recorded.
  twilio_id text,
  delivered_at timestamptz,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outgoing_sms_early_received_at_idx ON public.outgoing_sms_early (received_at);
COMMENT ON TABLE public.outgoing_sms_early IS
  'Outgoing-SMS webhooks that arrived before their send was recorded; see migration 20261130100100.';

-- Only the functions (the table owner) read it; nothing for the API roles, where they exist.
ALTER TABLE public.outgoing_sms_early ENABLE ROW LEVEL SECURITY;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    REVOKE ALL ON public.outgoing_sms_early FROM anon;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    REVOKE ALL ON public.outgoing_sms_early FROM authenticated;
  END IF;
END $$;
