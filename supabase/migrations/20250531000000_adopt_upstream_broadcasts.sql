-- Taking over a database that upstream built (issue 13): more than one editable broadcast.
--
-- Upstream never limited editable (upcoming) broadcasts to one, and its production databases can
-- hold several. Our 20250601000300_broadcasts.sql (released, so never edited) adds the unique index
-- `broadcasts_one_editable` and stops with an error when it finds more than one, which would halt
-- `supabase db push` half-way. This file's version sorts before that file on purpose (the only
-- version of ours below 20250601000000): it settles the question first.
--
-- What it does: keeps the newest editable broadcast (highest id, the one upstream's and our
-- check_and_trigger_broadcast pick) editable and sets `editable = false` on the others, naming them
-- in a NOTICE so an editor can review them. On a fresh database (no broadcasts table yet) and on a
-- database with at most one editable broadcast it changes nothing; re-running it changes nothing.
DO $$
DECLARE
  kept integer;
  demoted text;
BEGIN
  IF to_regclass('public.broadcasts') IS NULL THEN
    RETURN;
  END IF;
  SELECT max(id) INTO kept FROM public.broadcasts WHERE editable;
  WITH changed AS (
    UPDATE public.broadcasts SET editable = false
    WHERE editable AND id <> kept
    RETURNING id
  )
  SELECT string_agg(id::text, ', ' ORDER BY id) INTO demoted FROM changed;
  IF demoted IS NOT NULL THEN
    RAISE NOTICE 'more than one editable broadcast: kept broadcast % editable (the newest) and marked % as not editable; review them in the sidebar''s past list',
      kept, demoted;
  END IF;
END $$;
