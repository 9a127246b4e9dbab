-- The conversation sidebar's live updates, for signed-in staff only (docs/security.md "Realtime").
--
-- The sidebar subscribes to postgres_changes on authors (UPDATE), comments (INSERT) and
-- twilio_messages (INSERT) (shared/reference/clients.md §2.2). Upstream let the anon key read those
-- tables in full; the deny-by-default migration removed that. Supabase Realtime checks, for each
-- change and subscriber, the subscriber's role and RLS with the subscriber's JWT claims in
-- `request.jwt.claims`, and sends only the columns that role may SELECT (it needs the primary key).
-- So a client that calls `supabase.realtime.setAuth(<user access token>)` keeps its events when:
--
--   * its token's role is `authenticated` and its e-mail passes the staff rule — the same rule the
--     sidebar functions apply from SIDEBAR_STAFF_EMAILS / SIDEBAR_STAFF_EMAIL_DOMAINS; the database
--     cannot read the functions' environment, so the same lists are stored in public.sidebar_staff
--     (set them with public.set_sidebar_staff(emails, domains), same comma-separated format);
--   * `authenticated` may SELECT just the columns the sidebar reads, plus the primary keys.
--
-- The claims are read from the `request.jwt.claims` setting (what auth.jwt() reads), so nothing
-- here needs Supabase's auth schema.

CREATE TABLE IF NOT EXISTS public.sidebar_staff (
  kind  text NOT NULL CHECK (kind IN ('email', 'domain')),
  -- Stored lower-case and trimmed: e-mail addresses and domains compare case-insensitively.
  value text NOT NULL CHECK (value = lower(btrim(value)) AND value <> '' AND value !~ '\s'),
  PRIMARY KEY (kind, value)
);
COMMENT ON TABLE public.sidebar_staff IS
  'Staff allowlist for database access with a user token (Realtime): the same lists as SIDEBAR_STAFF_EMAILS and SIDEBAR_STAFF_EMAIL_DOMAINS. Set with set_sidebar_staff().';
-- Nobody but the owner reads or writes it (no policy).
ALTER TABLE public.sidebar_staff ENABLE ROW LEVEL SECURITY;

-- Replaces the allowlist with the two comma-separated lists, as the environment variables hold
-- them ('a@x.org, b@y.org', 'outliermedia.org'). Returns how many entries it stored.
CREATE OR REPLACE FUNCTION public.set_sidebar_staff(p_emails text, p_domains text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  v_count integer;
BEGIN
  DELETE FROM public.sidebar_staff;
  INSERT INTO public.sidebar_staff (kind, value)
  SELECT DISTINCT entry.kind, entry.value
  FROM (
    SELECT 'email' AS kind, lower(btrim(e)) AS value FROM unnest(string_to_array(coalesce(p_emails, ''), ',')) AS e
    UNION ALL
    SELECT 'domain', lower(btrim(ltrim(btrim(d), '@'))) FROM unnest(string_to_array(coalesce(p_domains, ''), ',')) AS d
  ) AS entry
  WHERE entry.value <> '';
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
REVOKE ALL ON FUNCTION public.set_sidebar_staff(text, text) FROM PUBLIC;

-- True when the current request's JWT (Realtime or PostgREST) is a signed-in user whose e-mail is
-- on the allowlist, by address or by the domain after its last '@'. SECURITY DEFINER: the caller
-- cannot read the allowlist itself.
CREATE OR REPLACE FUNCTION public.is_sidebar_staff()
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  WITH claims AS (
    SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb AS jwt
  ), who AS (
    SELECT lower(btrim(claims.jwt ->> 'email')) AS email
    FROM claims
    WHERE claims.jwt ->> 'role' = 'authenticated'
  )
  SELECT EXISTS (
    SELECT 1
    FROM who
    JOIN public.sidebar_staff staff
      ON (staff.kind = 'email' AND staff.value = who.email)
      OR (staff.kind = 'domain' AND staff.value = substring(who.email FROM '@([^@]+)$'))
    WHERE who.email LIKE '%_@_%'
  )
$$;
REVOKE ALL ON FUNCTION public.is_sidebar_staff() FROM PUBLIC;

DO $$
DECLARE
  grant_columns constant jsonb := '{"authors": ["phone_number", "zipcode", "email"], "comments": ["id", "conversation_id"], "twilio_messages": ["id", "to_field"]}';
  t text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    GRANT EXECUTE ON FUNCTION public.is_sidebar_staff() TO authenticated;
    FOR t IN SELECT jsonb_object_keys(grant_columns) LOOP
      EXECUTE format('GRANT SELECT (%s) ON public.%I TO authenticated',
        (SELECT string_agg(quote_ident(c), ', ') FROM jsonb_array_elements_text(grant_columns -> t) AS c), t);
      IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = t AND policyname = 'sidebar staff read') THEN
        EXECUTE format('CREATE POLICY "sidebar staff read" ON public.%I FOR SELECT TO authenticated USING ((SELECT public.is_sidebar_staff()))', t);
      END IF;
    END LOOP;
  END IF;
  -- Still published (20250601000800 added them; kept here in case that ran before the publication
  -- existed).
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    FOREACH t IN ARRAY ARRAY['authors', 'comments', 'twilio_messages', 'lookup_template'] LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'public' AND tablename = t) THEN
        EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE public.%I', t);
      END IF;
    END LOOP;
  END IF;
END $$;
