-- Local sandbox data, loaded by `npm run dev` on every start (and by `supabase db reset`).
-- Idempotent: every insert checks what is already there, ids come from the sequences (upstream's
-- seed used explicit ids and left the sequences behind), and nothing that exists is changed.
-- Phone numbers are in the fictional +1-313-555-01xx range.

-- Audience segments. Queries are schema-qualified (queue_broadcast_messages runs them with an empty
-- search_path) and exclude unsubscribed, excluded and file-upload-only authors themselves, although
-- queue_broadcast_messages enforces that anyway.
INSERT INTO public.audience_segments (name, description, query)
SELECT v.name, v.description, v.query
FROM (VALUES
  ('Sandbox everyone',
   'Every subscribed sandbox author, in random order',
   'SELECT a.phone_number FROM public.authors a WHERE a.unsubscribed = false AND a.exclude = false AND a.added_via_file_upload IS NOT TRUE ORDER BY random()'),
  ('Inactive',
   'Tops up every broadcast to its batch size: subscribed authors (excluding unsubscribed users)',
   'SELECT a.phone_number FROM public.authors a WHERE a.unsubscribed = false AND a.exclude = false AND a.added_via_file_upload IS NOT TRUE ORDER BY random()')
) AS v(name, description, query)
WHERE NOT EXISTS (SELECT 1 FROM public.audience_segments s WHERE s.name = v.name);

INSERT INTO public.authors (phone_number, name, unsubscribed)
VALUES
  ('+13135550101', 'Sandbox Reader 1', false),
  ('+13135550102', 'Sandbox Reader 2', false),
  ('+13135550103', 'Sandbox Reader 3', false),
  ('+13135550104', 'Sandbox Reader 4', false),
  ('+13135550105', 'Sandbox Reader 5', false),
  -- Opted out: shows that a broadcast skips them.
  ('+13135550106', 'Sandbox Opted Out', true)
ON CONFLICT (phone_number) DO NOTHING;

-- The upcoming (editable) broadcast, only when there is none: the sidebar needs one to render.
WITH created AS (
  INSERT INTO public.broadcasts
    (first_message, second_message, original_first_message, original_second_message, delay, no_users, editable, run_at)
  SELECT
    'Hi from Outlier Media! What would you like us to look into in Detroit this week? Reply to this text.',
    'Thanks for reading. Reply STOP to stop receiving these texts.',
    'Hi from Outlier Media! What would you like us to look into in Detroit this week? Reply to this text.',
    'Thanks for reading. Reply STOP to stop receiving these texts.',
    600, 100, true, NULL
  WHERE NOT EXISTS (SELECT 1 FROM public.broadcasts WHERE editable)
  RETURNING id
)
INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio)
SELECT created.id, s.id, 100
FROM created
JOIN LATERAL (
  SELECT id FROM public.audience_segments WHERE name = 'Sandbox everyone' ORDER BY id LIMIT 1
) s ON true;

-- The weekly schedule (America/Detroit wall-clock), only when none is active: Mon-Thu 09:00.
INSERT INTO public.broadcast_settings (mon, tue, wed, thu, fri, sat, sun, active)
SELECT '09:00', '09:00', '09:00', '09:00', NULL, NULL, NULL, true
WHERE NOT EXISTS (SELECT 1 FROM public.broadcast_settings WHERE active);

-- Templates the failure jobs read; the label id is a sandbox value (create the label in Missive and
-- put its id here in production).
INSERT INTO public.lookup_template (name, content, type)
SELECT v.name, v.content, v.type
FROM (VALUES
  ('missive_broadcast_post_closing_message',
   '❌ This message was undeliverable. The phone number has now been unsubscribed. ', 'text'),
  ('missive_broadcast_post_closing_label_id', '00000000-0000-4000-8000-00000000b005', 'text')
) AS v(name, content, type)
WHERE NOT EXISTS (SELECT 1 FROM public.lookup_template t WHERE t.name = v.name);
