-- Supabase only (a no-op locally, where neither the `anon` role nor the Realtime publication
-- exists): what the conversation sidebar and the lookup service rely on (clients.md §2.2, §4.2).
-- Upstream kept these only in the production database; here a fresh project gets them too.
--   * anon may SELECT authors, comments and twilio_messages (policy "Allow anonymous access"); the
--     functions connect as the tables' owner, which RLS does not restrict.
--   * authors, comments, twilio_messages and lookup_template are in the supabase_realtime publication.
DO $$
DECLARE
  t text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    FOREACH t IN ARRAY ARRAY['authors', 'comments', 'twilio_messages'] LOOP
      EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
      IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = t AND policyname = 'Allow anonymous access') THEN
        EXECUTE format('CREATE POLICY "Allow anonymous access" ON public.%I FOR SELECT TO anon USING (true)', t);
      END IF;
      EXECUTE format('GRANT SELECT ON public.%I TO anon', t);
    END LOOP;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    FOREACH t IN ARRAY ARRAY['authors', 'comments', 'twilio_messages', 'lookup_template'] LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'public' AND tablename = t) THEN
        EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE public.%I', t);
      END IF;
    END LOOP;
  END IF;
END $$;
