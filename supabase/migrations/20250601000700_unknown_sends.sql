-- Sends with an unknown outcome, settled by the Twilio reconcile (DESIGN.md "Sending guarantees").
--
-- A send whose Missive call timed out, or whose process died between the call and its completion,
-- is dead-lettered as ledger `unknown`: it has no Missive ids, hence no message_statuses row, and is
-- never re-sent blindly. At the end of a complete reconcile pass (src/shared/reconcile/unknown-sends.ts):
--   - an SMS of the pass to that recipient that no message_statuses row (nor another ledger row)
--     claims is evidence that it went out: the row becomes `sent`, with Twilio's SID and status here
--     (phases matched in time order, as the pass pairs message_statuses rows);
--   - no such SMS, once the pass has covered the whole window and the send is older than 60 minutes:
--     Twilio never saw it, so re-sending cannot text the person twice. The row becomes `failed`,
--     the state campaign `retry-failed` re-queues (first messages) and the sender may claim again.
--
-- Why `sent` / `failed` rather than `unknown` plus Twilio columns: every reader already treats those
-- two states right. `sent` counts as sent in campaign progress and in refresh_campaign_statuses,
-- the sender drops a later queue message for it as a duplicate, and retry-failed never touches it;
-- `failed` is exactly the state retry-failed re-queues and claimForSending takes over. Kept as
-- `unknown`, retry-failed would skip it forever and progress would never settle. The states stay
-- within message_sends_state_check.
--
-- Such a `sent` row has no message_status_id and no Missive ids (unlike a normal `sent` row): its
-- delivery status lives in twilio_id / twilio_status here, which later passes keep up to date.

ALTER TABLE public.message_sends ADD COLUMN IF NOT EXISTS twilio_id text;
ALTER TABLE public.message_sends ADD COLUMN IF NOT EXISTS twilio_status public.twilio_status;
ALTER TABLE public.message_sends ADD COLUMN IF NOT EXISTS twilio_sent_at timestamptz;
ALTER TABLE public.message_sends ADD COLUMN IF NOT EXISTS resolved_at timestamptz;

COMMENT ON COLUMN public.message_sends.twilio_id IS
  'SID of the Twilio message that showed an `unknown` send went out (the row is then `sent` without message_status_id).';
COMMENT ON COLUMN public.message_sends.twilio_status IS 'Twilio status of twilio_id, refreshed by later reconcile passes.';
COMMENT ON COLUMN public.message_sends.resolved_at IS
  'When the Twilio reconcile settled an `unknown` send: `sent` (twilio_id set) or `failed` (Twilio never saw it; safe to retry).';

-- A reconcile pass skips messages already claimed by a ledger row, and refreshes their status.
CREATE INDEX IF NOT EXISTS message_sends_twilio_id_idx ON public.message_sends (twilio_id) WHERE twilio_id IS NOT NULL;

-- What the current reconcile pass of a broadcast/campaign covers, written with its first page:
-- Twilio lists newest first from the moment of that first request, so a message sent after it (or
-- after the window's end) is never seen by the pass. Only an `unknown` send well inside
-- [window_start, covers_until] may be declared "never reached Twilio".
CREATE TABLE IF NOT EXISTS public.twilio_reconcile_passes (
  target_kind text NOT NULL,
  target_id bigint NOT NULL,
  started_at timestamptz NOT NULL,
  window_start timestamptz NOT NULL,
  covers_until timestamptz NOT NULL,
  CONSTRAINT twilio_reconcile_passes_pkey PRIMARY KEY (target_kind, target_id),
  CONSTRAINT twilio_reconcile_passes_kind_check CHECK (target_kind IN ('broadcast', 'campaign'))
);
COMMENT ON TABLE public.twilio_reconcile_passes IS
  'The Twilio date range the current reconcile pass of a broadcast/campaign covers; see migration 20250601000700.';
