-- Issue 14: texts with placeholders ({{first_name|neighbor}}) are rendered per recipient inside the
-- sender, right before the claim. The text actually sent differs from person to person, so:
--   1. the ledger keeps it (message_sends.sent_text, written with the `sending` claim), and the
--      reconcile's body matching of an unknown send (message_send_text) compares Twilio's body with
--      that rendered text, not with the template;
--   2. a personalized campaign's payload says so (`personalized: true`): its text is the person's
--      own and is never templated.

ALTER TABLE public.message_sends ADD COLUMN IF NOT EXISTS sent_text text;
COMMENT ON COLUMN public.message_sends.sent_text IS
  'The text claimed for sending to this recipient, after placeholders and smart encoding (NULL: sent before issue 14; the payload text applies).';

CREATE OR REPLACE FUNCTION public.message_send_text(p_send_id bigint)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
  SELECT coalesce(
    s.sent_text,
    (SELECT CASE WHEN s.is_second THEN a.message->>'second_message' ELSE a.message->>'first_message' END
     FROM pgmq.a_broadcast_first_messages a
     WHERE s.queue_name = 'broadcast_first_messages' AND a.msg_id = s.queue_msg_id),
    (SELECT CASE WHEN s.is_second THEN a.message->>'second_message' ELSE a.message->>'first_message' END
     FROM pgmq.a_broadcast_second_messages a
     WHERE s.queue_name = 'broadcast_second_messages' AND a.msg_id = s.queue_msg_id),
    (SELECT CASE WHEN s.is_second THEN b.second_message ELSE b.first_message END
     FROM public.broadcasts b WHERE b.id = s.broadcast_id),
    (SELECT CASE WHEN s.is_second THEN c.second_message ELSE c.first_message END
     FROM public.campaigns c WHERE c.id = s.campaign_id))
  FROM public.message_sends s WHERE s.id = p_send_id
$$;

CREATE OR REPLACE FUNCTION public.campaign_message_payload(p_campaign public.campaigns, p_phone text, p_first_message text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT jsonb_build_object(
    'recipient_phone_number', p_phone,
    'campaign_id', p_campaign.id,
    'first_message', coalesce(p_first_message, p_campaign.first_message),
    'second_message', p_campaign.second_message,
    'title', p_campaign.title,
    'delay', p_campaign.delay,
    'label_ids', to_jsonb(p_campaign.label_ids),
    'campaign_segments', p_campaign.segments,
    'conversation_id', (SELECT ca.conversation_id::text FROM public.conversations_authors ca
                        WHERE ca.author_phone_number = p_phone
                        ORDER BY ca.created_at DESC, ca.id DESC LIMIT 1),
    'created_at', floor(extract(epoch FROM now()))::bigint,
    -- A personal text (campaign_personalized_recipients) is the person's own: never templated.
    'personalized', p_first_message IS NOT NULL)
$$;
