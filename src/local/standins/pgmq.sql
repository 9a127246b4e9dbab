-- Local stand-in for the pgmq extension (Supabase has the real one; Debian and npm do not).
-- Applied only when `pgmq` is not an available extension. Same schema, names, signatures and table
-- shapes as pgmq 1.4 for the subset this project and its SQL tests use:
--   pgmq.create, send, send_batch, read (visibility timeout, read_ct), delete, archive, purge_queue,
--   tables pgmq.q_<queue>(msg_id, read_ct, enqueued_at, vt, message) and pgmq.a_<queue> (+ archived_at).
-- Our own code is written against these signatures, so it runs unchanged on the real extension.

CREATE SCHEMA IF NOT EXISTS pgmq;

CREATE TABLE IF NOT EXISTS pgmq.meta (
  queue_name text PRIMARY KEY,
  is_partitioned boolean NOT NULL DEFAULT false,
  is_unlogged boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'pgmq' AND t.typname = 'message_record') THEN
    CREATE TYPE pgmq.message_record AS (
      msg_id bigint,
      read_ct integer,
      enqueued_at timestamptz,
      vt timestamptz,
      message jsonb
    );
  END IF;
END $$;

-- Queue names become table names, so only plain identifiers are accepted (as pgmq does).
CREATE OR REPLACE FUNCTION pgmq._check_name(queue_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF queue_name !~ '^[a-z_][a-z0-9_]{0,46}$' THEN
    RAISE EXCEPTION 'queue name is invalid: %', queue_name;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION pgmq.create(queue_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgmq._check_name(queue_name);
  EXECUTE format($q$
    CREATE TABLE IF NOT EXISTS pgmq.%I (
      msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
      read_ct integer NOT NULL DEFAULT 0,
      enqueued_at timestamptz NOT NULL DEFAULT now(),
      vt timestamptz NOT NULL,
      message jsonb
    )$q$, 'q_' || queue_name);
  EXECUTE format($q$
    CREATE TABLE IF NOT EXISTS pgmq.%I (
      msg_id bigint PRIMARY KEY,
      read_ct integer NOT NULL DEFAULT 0,
      enqueued_at timestamptz NOT NULL DEFAULT now(),
      archived_at timestamptz NOT NULL DEFAULT now(),
      vt timestamptz NOT NULL,
      message jsonb
    )$q$, 'a_' || queue_name);
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I (vt ASC)', 'q_' || queue_name || '_vt_idx', 'q_' || queue_name);
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I (archived_at)', 'archived_at_idx_' || queue_name, 'a_' || queue_name);
  INSERT INTO pgmq.meta (queue_name) VALUES (queue_name) ON CONFLICT DO NOTHING;
END $$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay integer DEFAULT 0) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgmq._check_name(queue_name);
  RETURN QUERY EXECUTE format(
    'INSERT INTO pgmq.%I (vt, message) VALUES (clock_timestamp() + make_interval(secs => $1), $2) RETURNING msg_id',
    'q_' || queue_name) USING delay, msg;
END $$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay integer DEFAULT 0) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgmq._check_name(queue_name);
  -- One INSERT statement for the whole batch, so statement-level triggers fire once per batch.
  RETURN QUERY EXECUTE format(
    'INSERT INTO pgmq.%I (vt, message) SELECT clock_timestamp() + make_interval(secs => $1), m FROM unnest($2) WITH ORDINALITY AS t(m, o) ORDER BY o RETURNING msg_id',
    'q_' || queue_name) USING delay, msgs;
END $$;

-- Claims up to `qty` visible messages: each becomes invisible for `vt` seconds and its read_ct
-- grows by one. SKIP LOCKED lets concurrent readers take disjoint messages without waiting.
CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt integer, qty integer) RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgmq._check_name(queue_name);
  RETURN QUERY EXECUTE format($q$
    WITH claimed AS (
      SELECT msg_id FROM pgmq.%1$I
      WHERE vt <= clock_timestamp()
      ORDER BY msg_id
      LIMIT $1
      FOR UPDATE SKIP LOCKED
    )
    UPDATE pgmq.%1$I q
    SET vt = clock_timestamp() + make_interval(secs => $2), read_ct = q.read_ct + 1
    FROM claimed
    WHERE q.msg_id = claimed.msg_id
    RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message$q$, 'q_' || queue_name) USING qty, vt;
END $$;

CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  deleted bigint;
BEGIN
  PERFORM pgmq._check_name(queue_name);
  EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = $1 RETURNING msg_id', 'q_' || queue_name) INTO deleted USING msg_id;
  RETURN deleted IS NOT NULL;
END $$;

CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_ids bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgmq._check_name(queue_name);
  RETURN QUERY EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = ANY($1) RETURNING msg_id', 'q_' || queue_name) USING msg_ids;
END $$;

CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  moved bigint;
BEGIN
  PERFORM pgmq._check_name(queue_name);
  EXECUTE format($q$
    WITH gone AS (DELETE FROM pgmq.%I WHERE msg_id = $1 RETURNING msg_id, read_ct, enqueued_at, vt, message)
    INSERT INTO pgmq.%I (msg_id, read_ct, enqueued_at, vt, message)
    SELECT msg_id, read_ct, enqueued_at, vt, message FROM gone
    RETURNING msg_id$q$, 'q_' || queue_name, 'a_' || queue_name) INTO moved USING msg_id;
  RETURN moved IS NOT NULL;
END $$;

CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgmq._check_name(queue_name);
  RETURN QUERY EXECUTE format($q$
    WITH gone AS (DELETE FROM pgmq.%I WHERE msg_id = ANY($1) RETURNING msg_id, read_ct, enqueued_at, vt, message)
    INSERT INTO pgmq.%I (msg_id, read_ct, enqueued_at, vt, message)
    SELECT msg_id, read_ct, enqueued_at, vt, message FROM gone
    RETURNING msg_id$q$, 'q_' || queue_name, 'a_' || queue_name) USING msg_ids;
END $$;

CREATE OR REPLACE FUNCTION pgmq.purge_queue(queue_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  removed bigint;
BEGIN
  PERFORM pgmq._check_name(queue_name);
  EXECUTE format('WITH gone AS (DELETE FROM pgmq.%I RETURNING 1) SELECT count(*) FROM gone', 'q_' || queue_name) INTO removed;
  RETURN removed;
END $$;
