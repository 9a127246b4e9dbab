-- Reads whose cost grew with the years of history, not with the page or the audience (issue 15 #2,
-- measured by bench/history.ts on a seeded five-year history: 2 000 000 statuses, 1 000 000
-- twilio_messages, against the same "today" on 1 % of that history).

-- A label's conversations (campaign segments, `recipient-count`, label-based audience segments):
-- no index led with label_id (idx_conversations_labels_label_created is (created_at, label_id)), so
-- every lookup read all labelled conversations ever recorded. Covering, so `since` and `is_archived`
-- are checked in the index.
CREATE INDEX IF NOT EXISTS conversations_labels_label_id_idx
  ON public.conversations_labels (label_id, created_at)
  INCLUDE (conversation_id, is_archived);

-- The authors of a label's conversations, looked up per conversation (an index-only probe of
-- conversations_authors' (conversation_id, author_phone_number) key): the planner otherwise hashed
-- the whole conversations_authors table (one row per conversation ever, 206 000 after five years)
-- to find a 5 000-reader label's authors. OFFSET 0 keeps the lookup a per-conversation one. Same
-- rows as before (20250601000400_campaigns.sql).
CREATE OR REPLACE FUNCTION public.campaign_segment_item_phones(p_item jsonb)
RETURNS TABLE (phone_number text)
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT DISTINCT ca.author_phone_number
  FROM public.conversations_labels cl
  CROSS JOIN LATERAL (
    SELECT a.author_phone_number FROM public.conversations_authors a
    WHERE a.conversation_id = cl.conversation_id AND a.author_phone_number IS NOT NULL
    OFFSET 0
  ) ca
  -- CASE, not AND: SQL does not promise to test the format before casting. The API accepts only
  -- UUIDs and integer `since`; anything else stored by hand matches nothing instead of raising.
  WHERE cl.label_id = CASE WHEN jsonb_typeof(p_item) = 'object'
                            AND p_item->>'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                           THEN (p_item->>'id')::uuid END
    AND NOT cl.is_archived
    AND cl.created_at >= coalesce(CASE WHEN jsonb_typeof(p_item->'since') = 'number'
                                       THEN to_timestamp((p_item->>'since')::double precision) END, '-infinity')
$$;
