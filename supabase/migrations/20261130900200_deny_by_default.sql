-- Deny by default (docs/security.md). On Supabase every table in `public` is reachable through the
-- REST API with the public (anon) key unless row level security says otherwise, and projects
-- created before late 2026 grant anon and authenticated ALL on everything in `public` by default.
-- Upstream left 39 of 42 tables open to anyone with that key (read every number and SMS, rewrite
-- the next broadcast, insert personalized recipients, which sends at once).
--
--   * row level security on every table in `public` (the owner — migrations, functions, pg_cron —
--     is not subject to it; Supabase's service_role bypasses it);
--   * no policy for anon or PUBLIC (the "Allow anonymous access" policies of
--     20250601000800_supabase_realtime.sql are dropped; the conversation sidebar now reads as
--     authenticated staff, see the next migration);
--   * no table, sequence or function privilege for anon or authenticated, no EXECUTE for PUBLIC on
--     public functions, and default privileges so that objects created later get none either.
-- Where the Supabase roles do not exist (stock PostgreSQL) only the role-independent parts apply.
-- tests/platform/schema-guard.test.ts fails if a later migration reopens any of it.

DO $$
DECLARE
  t record;
  p record;
  r text;
BEGIN
  -- Tables that belong to an extension are the extension's business (and not ours to alter).
  FOR t IN
    SELECT c.oid::regclass AS rel
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
  END LOOP;

  -- Any policy that applies to everyone (no TO clause means PUBLIC) or to anon.
  FOR p IN
    SELECT pol.polname, pol.polrelid::regclass AS rel
    FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
    WHERE c.relnamespace = 'public'::regnamespace
      AND (0 = ANY (pol.polroles) OR EXISTS (SELECT 1 FROM pg_roles ro WHERE ro.rolname = 'anon' AND ro.oid = ANY (pol.polroles)))
  LOOP
    RAISE NOTICE 'dropping policy % on %: it applied to anon or PUBLIC', p.polname, p.rel;
    EXECUTE format('DROP POLICY %I ON %s', p.polname, p.rel);
  END LOOP;

  FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', r);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', r);
    EXECUTE format('REVOKE ALL ON ALL ROUTINES IN SCHEMA public FROM %I', r);
    -- Supabase's legacy defaults were granted by `postgres` (who runs migrations) per schema.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM %I', r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM %I', r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON ROUTINES FROM %I', r);
  END LOOP;
END $$;

-- Functions are executable by PUBLIC unless revoked. Nothing needs that: functions, triggers and
-- pg_cron jobs run as the owner, and a trigger function needs no EXECUTE grant to fire.
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA public FROM PUBLIC;
-- PostgreSQL's built-in default (EXECUTE to PUBLIC) can only be removed globally, for the role
-- that creates the objects: every function our migrations create from now on.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON ROUTINES FROM PUBLIC;
