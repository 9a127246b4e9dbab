-- Reads whose cost grew with the years of history, not with the page or the audience (issue 15 #2,
-- measured by bench/history.ts on a seeded five-year history: 2 000 000 statuses, 1 000 000
-- twilio_messages, against the same "today" on 1 % of that history).

-- handle-failed-deliveries looks only at failures of the last 7 days
-- (src/shared/hygiene/failed-deliveries-queries.ts). The partial index on (phone, id) of every
-- failure ever recorded could only be read whole (100 000 entries after five years, ~115 ms);
-- this one is read from the window's start: the week's few hundred failures.
CREATE INDEX IF NOT EXISTS message_statuses_failed_created_idx
  ON public.message_statuses (created_at)
  WHERE twilio_sent_status IN ('undelivered', 'failed') AND twilio_id IS NOT NULL;
