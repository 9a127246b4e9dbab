-- Audience segment SQL, contained (docs/security.md "Segment queries").
--
-- `audience_segments.query` is admin-written SQL. Upstream spliced it into a statement that ran as
-- the database owner, so whoever could write that column could run anything (schedule a pg_cron job,
-- read vault.decrypted_secrets, call net.http_post). Here:
--
--   * the role `audience_segment_reader` (NOLOGIN) may only SELECT the tables segments read:
--     authors (upstream's and our seed segments) and labels, conversations, conversations_authors,
--     conversations_labels (label segments). Nothing else: no writes, no cron, vault, net or dblink;
--   * audience_segment_phones(query) runs a segment as that role: a SECURITY DEFINER function OWNED by
--     it (SET ROLE is refused inside a SECURITY DEFINER function, and a plain `SET LOCAL ROLE` could be
--     undone by the query itself with set_config('role', 'none', true); a definer context cannot be);
--   * audience_segment_check(query) is the same check without running the query; a trigger calls it
--     when a segment is written, and audience_segment_phones repeats it before running one written
--     before the trigger existed;
--   * queue_broadcast_messages no longer splices the text into its own statement: it reads the
--     phone numbers from audience_segment_phones.
--
-- What the check accepts: ONE statement (a cursor cannot be opened over several, and it is opened
-- before anything runs), wrapped as `SELECT * FROM (<query>) AS segment` (so it must be a SELECT; a
-- data-modifying WITH is not allowed in a subquery), whose result is exactly one column
-- `phone_number` of type text, reading only tables the role can read and calling only pg_catalog
-- functions that do not change state (no volatile function except random(), clock_timestamp() and
-- gen_random_uuid(); none of the *_to_xml functions, which run SQL of their own).
--
-- Timeout: PostgreSQL arms statement_timeout when a top-level statement starts, so a function cannot
-- give itself one. The callers (src/shared/broadcasts/hand-over.ts) run queue_broadcast_messages
-- under a statement timeout; lock_timeout, which is read at each lock wait, is set here.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'audience_segment_reader') THEN
    CREATE ROLE audience_segment_reader NOLOGIN NOINHERIT;
  END IF;
  -- Handing a function to the role (ALTER … OWNER) needs membership where we are not superuser
  -- (Supabase's `postgres`); the role holds less than we do, so this grants us nothing new.
  IF NOT pg_has_role(current_user, 'audience_segment_reader', 'MEMBER') THEN
    EXECUTE format('GRANT audience_segment_reader TO %I', current_user);
  END IF;
END $$;

-- The temp view the check builds lives in pg_temp; PUBLIC has TEMP on a database by default, but a
-- hardened database may not. Granting it needs the database's grant option, which Supabase's
-- `postgres` may lack; then the default applies.
DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO audience_segment_reader', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'could not grant TEMPORARY on database % to audience_segment_reader; relying on the PUBLIC default', current_database();
END $$;

GRANT USAGE ON SCHEMA public TO audience_segment_reader;

-- What segments read. Row level security is on for every public table (the deny-by-default
-- migration), so the role also needs a policy; it has no other table privilege anywhere.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['authors', 'labels', 'conversations', 'conversations_authors', 'conversations_labels'] LOOP
    EXECUTE format('GRANT SELECT ON public.%I TO audience_segment_reader', t);
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = t AND policyname = 'audience segments read') THEN
      EXECUTE format('CREATE POLICY "audience segments read" ON public.%I FOR SELECT TO audience_segment_reader USING (true)', t);
    END IF;
  END LOOP;
END $$;

---------------------------------------------------------------------------------------------------
-- audience_segment_prepare(query): validates a segment and leaves it as the temp view
-- pg_temp.audience_segment_candidate, or raises check_violation with the reason. Runs as
-- audience_segment_reader (owner, SECURITY DEFINER): every name is resolved and every privilege
-- checked as that role.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.audience_segment_prepare(p_query text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
AS $$
DECLARE
  -- Trailing semicolons are tolerated (upstream's seed and editors write them); the newline keeps a
  -- trailing `--` comment from swallowing the closing parenthesis.
  v_query text := regexp_replace(coalesce(p_query, ''), '(\s*;)+\s*$', '');
  v_wrapped text;
  v_cursor refcursor;
  v_view oid;
  v_columns text;
  v_bad text;
  v_reason text;
BEGIN
  IF btrim(v_query) = '' THEN
    RAISE EXCEPTION 'audience segment query is empty' USING ERRCODE = 'check_violation';
  END IF;
  v_wrapped := format(E'SELECT * FROM (\n%s\n) AS segment', v_query);

  BEGIN
    -- Opening a cursor parses every statement of the string but refuses more than one before
    -- planning or running any; over one it plans and checks privileges, and fetches nothing.
    OPEN v_cursor NO SCROLL FOR EXECUTE v_wrapped;
    CLOSE v_cursor;
    DROP VIEW IF EXISTS pg_temp.audience_segment_candidate;
    -- The same text behind a prefix without quotes or comments: still exactly one statement.
    EXECUTE 'CREATE TEMP VIEW audience_segment_candidate AS ' || v_wrapped;
  EXCEPTION
    WHEN invalid_cursor_definition THEN
      v_reason := 'it must be a single statement';
    WHEN syntax_error THEN
      v_reason := format('it must be a single SELECT (%s)', SQLERRM);
    WHEN feature_not_supported THEN
      v_reason := format('it must not write (%s)', SQLERRM);
    WHEN insufficient_privilege THEN
      v_reason := format('segments may read only public.authors, labels, conversations, conversations_authors and conversations_labels (%s)', SQLERRM);
    WHEN undefined_table OR undefined_function OR undefined_column OR invalid_schema_name THEN
      v_reason := format('%s; names must be schema-qualified, e.g. public.authors', SQLERRM);
    -- Anything else planning found (a constant 1/0, a bad cast): still the query's fault.
    -- (OTHERS does not catch query_canceled: a timeout stays a timeout.)
    WHEN OTHERS THEN
      v_reason := SQLERRM;
  END;
  IF v_reason IS NOT NULL THEN
    RAISE EXCEPTION 'audience segment query rejected: %', v_reason USING ERRCODE = 'check_violation';
  END IF;

  v_view := 'pg_temp.audience_segment_candidate'::regclass;
  SELECT string_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
  INTO v_columns
  FROM pg_attribute a WHERE a.attrelid = v_view AND a.attnum > 0 AND NOT a.attisdropped;
  IF v_columns IS DISTINCT FROM 'phone_number text' THEN
    RAISE EXCEPTION 'audience segment query rejected: it must return exactly one column, phone_number of type text (it returns: %)', v_columns
      USING ERRCODE = 'check_violation',
            HINT = 'e.g. SELECT a.phone_number FROM public.authors a WHERE …';
  END IF;

  -- Everything the query calls or reads, from the view's stored query tree (sub-queries and CTEs
  -- included). Not from pg_depend: PostgreSQL records no dependency on built-in objects, which
  -- are exactly the ones to look at (pg_sleep, set_config, query_to_xml, lo_create …).
  SELECT string_agg(DISTINCT used.what, ', ') INTO v_bad
  FROM pg_rewrite r
  CROSS JOIN LATERAL regexp_matches(r.ev_action::text, ':(funcid|aggfnoid|winfnoid|opno|relid) (\d+)', 'g') AS m
  CROSS JOIN LATERAL (
    SELECT format('function %s', p.oid::regprocedure) AS what
    FROM pg_proc p
    WHERE m[1] IN ('funcid', 'aggfnoid', 'winfnoid') AND p.oid = m[2]::oid
      AND (p.pronamespace <> 'pg_catalog'::regnamespace
           OR (p.provolatile = 'v' AND p.proname NOT IN ('random', 'clock_timestamp', 'gen_random_uuid'))
           OR p.proname ~ '(_to_xml|xmlschema)')
    UNION ALL
    SELECT format('operator %s', o.oid::regoperator)
    FROM pg_operator o
    WHERE m[1] = 'opno' AND o.oid = m[2]::oid AND o.oprnamespace <> 'pg_catalog'::regnamespace
    UNION ALL
    SELECT format('table %s', c.oid::regclass)
    FROM pg_class c
    WHERE m[1] = 'relid' AND c.oid = m[2]::oid AND c.oid <> v_view AND NOT has_table_privilege(c.oid, 'SELECT')
  ) AS used
  WHERE r.ev_class = v_view;
  IF v_bad IS NOT NULL THEN
    DROP VIEW pg_temp.audience_segment_candidate;
    RAISE EXCEPTION 'audience segment query rejected: it may only read public.authors, labels, conversations, conversations_authors and conversations_labels with functions that change nothing (it uses: %)', v_bad
      USING ERRCODE = 'check_violation';
  END IF;
END $$;

CREATE OR REPLACE FUNCTION public.audience_segment_check(p_query text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM public.audience_segment_prepare(p_query);
  DROP VIEW pg_temp.audience_segment_candidate;
END $$;

-- The phone numbers of one segment, in the query's own order (callers number them WITH ORDINALITY).
-- ROWS: a segment is typically "everyone" (tens of thousands); the default estimate of 1000 made
-- the planner pick nested loops for the eligibility join (bench/enqueue.ts: 1.6× slower).
CREATE OR REPLACE FUNCTION public.audience_segment_phones(p_query text)
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER
ROWS 100000
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
AS $$
BEGIN
  PERFORM public.audience_segment_prepare(p_query);
  -- EXECUTE: the view is a new object on every call, so no plan is cached for it.
  RETURN QUERY EXECUTE 'SELECT candidate.phone_number FROM pg_temp.audience_segment_candidate AS candidate';
  DROP VIEW pg_temp.audience_segment_candidate;
END $$;

-- Owned by the restricted role, so that their SECURITY DEFINER context is that role. Changing the
-- owner needs the new owner to have CREATE on the schema for a moment (same transaction).
GRANT CREATE ON SCHEMA public TO audience_segment_reader;
ALTER FUNCTION public.audience_segment_prepare(text) OWNER TO audience_segment_reader;
ALTER FUNCTION public.audience_segment_check(text) OWNER TO audience_segment_reader;
ALTER FUNCTION public.audience_segment_phones(text) OWNER TO audience_segment_reader;
REVOKE CREATE ON SCHEMA public FROM audience_segment_reader;

-- Only the owner of the schema's objects (who runs migrations, functions and cron) and the service
-- role may call them; see the deny-by-default migration for everyone else.
REVOKE ALL ON FUNCTION public.audience_segment_prepare(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.audience_segment_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.audience_segment_phones(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.audience_segment_check(text) TO CURRENT_USER;
GRANT EXECUTE ON FUNCTION public.audience_segment_phones(text) TO CURRENT_USER;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    GRANT EXECUTE ON FUNCTION public.audience_segment_check(text) TO service_role;
    GRANT EXECUTE ON FUNCTION public.audience_segment_phones(text) TO service_role;
  END IF;
END $$;

---------------------------------------------------------------------------------------------------
-- Write-time validation: a segment that would fail (or escape) at send time is refused when saved.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.audience_segments_check_query()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
  PERFORM public.audience_segment_check(NEW.query);
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS audience_segments_check_query ON public.audience_segments;
CREATE TRIGGER audience_segments_check_query
  BEFORE INSERT OR UPDATE OF query ON public.audience_segments
  FOR EACH ROW EXECUTE FUNCTION public.audience_segments_check_query();

-- Segments saved before this migration are not rejected here (that would fail the deploy); they
-- are checked again each time they run, and a bad one fails its broadcast with the reason.
DO $$
DECLARE
  s record;
BEGIN
  FOR s IN SELECT id, name, query FROM public.audience_segments ORDER BY id LOOP
    BEGIN
      PERFORM public.audience_segment_check(s.query);
    EXCEPTION WHEN check_violation THEN
      RAISE WARNING 'audience segment % (%) will fail at send time: %', s.id, s.name, SQLERRM;
    END;
  END LOOP;
END $$;

---------------------------------------------------------------------------------------------------
-- queue_broadcast_messages(p_broadcast_id), as in 20250601000300_broadcasts.sql, except that each
-- segment's numbers come from audience_segment_phones (the restricted role) instead of the query
-- text spliced into an INSERT run as the owner, and a failing segment names itself.
---------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.queue_broadcast_messages(p_broadcast_id integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
-- The planner cannot know how many distinct numbers a segment yields; with the default 4MB the
-- de-duplication of a 100 000-number audience spilled to disk (bench/enqueue.ts).
SET work_mem = '32MB'
AS $$
DECLARE
  v_broadcast record;
  v_segment record;
  v_take integer;
  v_added integer;
  v_pass integer := 0;
  v_count integer := 0;
BEGIN
  SELECT b.first_message, b.second_message, b.no_users, b.delay INTO v_broadcast
  FROM public.broadcasts b WHERE b.id = p_broadcast_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'broadcast % does not exist', p_broadcast_id;
  END IF;

  DROP TABLE IF EXISTS pg_temp.queue_broadcast_recipients;
  CREATE TEMP TABLE queue_broadcast_recipients (
    pass integer NOT NULL,
    pos bigint NOT NULL,
    phone_number text NOT NULL,
    segment_id integer NOT NULL
  ) ON COMMIT DROP;

  -- Linked segments first, in link order, each up to its ratio of no_users; then every segment
  -- named 'Inactive' tops up to no_users (upstream-database.md §9.1, defects of §14 fixed).
  FOR v_segment IN
    SELECT s.id, s.name, s.query, (bs.ratio::bigint * v_broadcast.no_users / 100)::integer AS share, 1 AS pass, bs.id AS link_order
    FROM public.broadcasts_segments bs
    JOIN public.audience_segments s ON s.id = bs.segment_id
    WHERE bs.broadcast_id = p_broadcast_id AND s.name IS DISTINCT FROM 'Inactive'
    UNION ALL
    SELECT s.id, s.name, s.query, NULL, 2, s.id
    FROM public.audience_segments s
    WHERE s.name = 'Inactive'
    ORDER BY pass, link_order
  LOOP
    v_take := v_broadcast.no_users - v_count;
    IF v_segment.pass = 1 THEN
      v_take := least(v_take, v_segment.share);
    END IF;
    CONTINUE WHEN v_take <= 0;

    -- Only subscribed, not excluded (NULL counts as excluded), not file-upload-only authors;
    -- numbers already taken and repeats are skipped before the limit; the query's order is kept.
    v_pass := v_pass + 1;
    BEGIN
      INSERT INTO pg_temp.queue_broadcast_recipients (pass, pos, phone_number, segment_id)
      SELECT v_pass, picked.pos, picked.phone_number, v_segment.id
      FROM (
        SELECT candidate.phone_number, min(candidate.pos) AS pos
        FROM public.audience_segment_phones(v_segment.query) WITH ORDINALITY AS candidate(phone_number, pos)
        JOIN public.authors author ON author.phone_number = candidate.phone_number
        WHERE author.unsubscribed = false
          AND author.exclude = false
          AND author.added_via_file_upload IS NOT TRUE
          AND NOT EXISTS (SELECT 1 FROM pg_temp.queue_broadcast_recipients taken WHERE taken.phone_number = candidate.phone_number)
        GROUP BY candidate.phone_number
      ) AS picked
      ORDER BY picked.pos
      LIMIT v_take;
      GET DIAGNOSTICS v_added = ROW_COUNT;
    EXCEPTION
      -- The caller's statement timeout (or a cancel) while a segment runs: say which segment.
      WHEN query_canceled THEN
        RAISE EXCEPTION 'broadcast %: audience segment % (%) did not finish in time: %', p_broadcast_id, v_segment.id, v_segment.name, SQLERRM
          USING ERRCODE = 'query_canceled';
      WHEN OTHERS THEN
        RAISE EXCEPTION 'broadcast %: audience segment % (%) failed: %', p_broadcast_id, v_segment.id, v_segment.name, SQLERRM
          USING ERRCODE = SQLSTATE;
    END;
    v_count := v_count + v_added;
  END LOOP;

  -- One INSERT for the whole audience (one sender kick; all or nothing). Payload: §8.1.
  IF v_count > 0 THEN
    PERFORM pgmq.send_batch('broadcast_first_messages', ARRAY(
      SELECT jsonb_build_object(
        'recipient_phone_number', r.phone_number,
        'broadcast_id', p_broadcast_id,
        'segment_id', r.segment_id,
        'first_message', v_broadcast.first_message,
        'second_message', v_broadcast.second_message,
        'delay', v_broadcast.delay)
      FROM pg_temp.queue_broadcast_recipients r
      ORDER BY r.pass, r.pos));
  END IF;

  DROP TABLE pg_temp.queue_broadcast_recipients;
  RETURN v_count;
END $$;
