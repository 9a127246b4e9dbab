-- Missive webhooks (user-action, admin-action): idempotency records, not in upstream.
--
-- Missive retries a webhook that failed or timed out, and the same event can arrive twice. Upstream
-- inserted twilio_messages / comments with plain INSERTs, so a retry after a 500 failed on the
-- duplicate and never ran the reply or STOP handling (spec §8.4 #21). Messages and comments are
-- now inserted ON CONFLICT DO NOTHING, with their consequences in the same transaction; these two
-- tables cover what has no Missive id of its own:
--
-- 1. public.webhook_deliveries: per conversation, the SHA-256 of the last signed body processed for
--    it, written in the handler's transaction. A delivery with the same bytes as that last one is a
--    redelivery: it waits for the first to commit, finds the key and changes nothing (no second
--    conversation_history row, no second assignee snapshot). Only the last body counts, so a real
--    event that repeats an older state ("closed, reopened, closed") is processed. One row per
--    conversation: nothing to prune.
-- 2. public.webhook_posts: the confirmation notes the webhooks post into Missive conversations
--    ("This phone number … has now been unsubscribed"), queued in the transaction of the change
--    they confirm and posted after commit. `key` names the event (`unsubscribed:<message id>`,
--    `admin-action:<comment id>:<action>`): a note is posted once, and a failed post stays pending
--    for Missive's retry of the webhook (which answers 502 meanwhile).

CREATE TABLE IF NOT EXISTS public.webhook_deliveries (
  conversation_id uuid        PRIMARY KEY,
  last_key        text        NOT NULL,
  rule_type       text        NOT NULL,
  processed_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.webhook_deliveries IS
  'Per conversation, the sha256 of the last Missive webhook body processed; the same bytes again are a redelivery and are skipped.';

CREATE TABLE IF NOT EXISTS public.webhook_posts (
  key             text        PRIMARY KEY,
  conversation_id uuid        NOT NULL,
  text            text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  claimed_until   timestamptz,
  attempts        integer     NOT NULL DEFAULT 0,
  posted_at       timestamptz,
  last_error      text
);
CREATE INDEX IF NOT EXISTS webhook_posts_pending_idx ON public.webhook_posts (created_at) WHERE posted_at IS NULL;
COMMENT ON TABLE public.webhook_posts IS
  'Confirmation notes the webhooks post to Missive, once per event key; posted_at NULL = still to post (on the next delivery).';
