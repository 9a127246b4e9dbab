-- admin-action applies each admin comment once per action (issue 11). Missive redelivers a
-- comment's webhook (and a captured signed body can be replayed): without this record the same
-- "unsubscribe" comment would unsubscribe the contact again after they had texted START, or a
-- "resubscribe" comment would undo a later opt-out. The row is written in the transaction of the
-- change it records; a second delivery finds it and changes nothing.

CREATE TABLE IF NOT EXISTS public.admin_action_applied (
  comment_id      text        NOT NULL,
  action          text        NOT NULL CHECK (action IN ('unsubscribe', 'resubscribe')),
  conversation_id uuid        NOT NULL,
  phone_number    text        NOT NULL,
  applied_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (comment_id, action)
);
COMMENT ON TABLE public.admin_action_applied IS
  'Admin comments admin-action has acted on, one row per (Missive comment id, action): a redelivered or replayed comment changes nothing.';

-- Only the functions (table owner / service role) touch it; no API role reads it.
ALTER TABLE public.admin_action_applied ENABLE ROW LEVEL SECURITY;
