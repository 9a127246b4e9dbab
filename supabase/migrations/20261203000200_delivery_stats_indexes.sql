-- Reads whose cost grew with the years of history, not with the page or the audience (issue 15 #2,
-- measured by bench/history.ts on a seeded five-year history: 2 000 000 statuses, 1 000 000
-- twilio_messages, against the same "today" on 1 % of that history).

-- The sidebar's delivery stats per broadcast (src/shared/broadcasts/dashboard.ts) and the campaign
-- list's per campaign (src/shared/campaigns/list-campaigns.ts) read every status row of the
-- broadcasts / campaigns on the page. Through the plain owner index each row is a heap visit, and an
-- old table spreads a broadcast's rows over many pages (one per row for a batch written into the
-- free space of a vacuumed table): 4 100 pages for four broadcasts at 100 % against 950 at 1 %.
-- Covering indexes answer the same counts from the index alone (index-only scans), so the cost is
-- the number of rows on the page, wherever they lie. The campaign one carries the row id for the
-- unsubscribe lookup (unsubscribed_messages.reply_to) and the Twilio id for a campaign's progress
-- (src/shared/campaigns/progress.ts: delivered / undelivered first messages).
CREATE INDEX IF NOT EXISTS message_statuses_broadcast_stats_idx
  ON public.message_statuses (broadcast_id, recipient_phone_number, is_second)
  INCLUDE (twilio_sent_status, twilio_id)
  WHERE broadcast_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS message_statuses_campaign_stats_idx
  ON public.message_statuses (campaign_id, recipient_phone_number, is_second)
  INCLUDE (twilio_sent_status, id, twilio_id)
  WHERE campaign_id IS NOT NULL;

-- The campaign list counts each campaign's repliers (twilio_messages.reply_to_campaign): without an
-- index that was a sequential scan of every SMS ever mirrored (1 000 000 rows, ~370 ms).
CREATE INDEX IF NOT EXISTS twilio_messages_reply_to_campaign_idx
  ON public.twilio_messages (reply_to_campaign)
  INCLUDE (from_field)
  WHERE reply_to_campaign IS NOT NULL;
