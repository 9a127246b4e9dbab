-- Reads whose cost grew with the years of history, not with the page or the audience (issue 15 #2,
-- measured by bench/history.ts on a seeded five-year history: 2 000 000 statuses, 1 000 000
-- twilio_messages, against the same "today" on 1 % of that history).

-- A campaign's progress (src/shared/campaigns/progress.ts) reads each recipient's ledger row
-- (state, and for sends the reconcile settled without a status row, their Twilio id and status).
-- Through message_sends_campaign_state_idx every row was a heap visit, and a campaign sent into an
-- old table has its rows spread one per page (the free space vacuum left): 5 000 pages for 5 000
-- recipients at 100 % history against ~100 at 1 %. Covering, so the same reads are index-only.
CREATE INDEX IF NOT EXISTS message_sends_campaign_progress_idx
  ON public.message_sends (campaign_id, recipient_phone_number, is_second)
  INCLUDE (state, message_status_id, twilio_id, twilio_status)
  WHERE campaign_id IS NOT NULL;
