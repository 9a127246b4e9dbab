-- Reads whose cost grew with the years of history, not with the page or the audience (issue 15 #2,
-- measured by bench/history.ts on a seeded five-year history: 2 000 000 statuses, 1 000 000
-- twilio_messages, against the same "today" on 1 % of that history).

-- handle-failed-deliveries closes the status rows of each conversation it posts to
-- (`UPDATE message_statuses SET closed = true WHERE missive_conversation_id = …`,
-- src/shared/hygiene/failed-deliveries-queries.ts). Without an index every post was a sequential
-- scan of every status ever written: ~1 s each after five years, 20 s for a call of 20 posts.
CREATE INDEX IF NOT EXISTS message_statuses_missive_conversation_id_idx
  ON public.message_statuses (missive_conversation_id);
