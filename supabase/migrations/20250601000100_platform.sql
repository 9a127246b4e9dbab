-- Platform: extensions, the two message queues, the campaign-recipients bucket, and the one helper
-- every cron job and trigger uses to call an edge function.
--
-- pg_cron exists everywhere (Supabase; Debian's postgresql-15-cron locally). pgmq, pg_net and vault
-- are Supabase extensions: created here when the server has them; locally src/local/standins has
-- already created the same schemas and functions before the migrations ran.

CREATE EXTENSION IF NOT EXISTS pg_cron;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgmq') THEN
    CREATE EXTENSION IF NOT EXISTS pgmq;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_net') THEN
    CREATE EXTENSION IF NOT EXISTS pg_net;
  END IF;
END $$;

SELECT pgmq.create('broadcast_first_messages');
SELECT pgmq.create('broadcast_second_messages');

-- Upstream inserted the bucket unconditionally (not idempotent, and fatal where storage is absent).
DO $$
BEGIN
  IF to_regclass('storage.buckets') IS NOT NULL THEN
    INSERT INTO storage.buckets (id, name) VALUES ('campaign-recipients', 'campaign-recipients') ON CONFLICT (id) DO NOTHING;
  END IF;
END $$;

-- The vault secret `edge_function_url` is the functions root (e.g. https://<ref>.supabase.co/functions/v1/).
-- Upstream joined it to function names three different ways (`make/`, `send-messages/`,
-- `/reconcile-twilio-status/` → `//`); every URL is built here instead.
CREATE OR REPLACE FUNCTION public.vault_secret(secret_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  value text;
BEGIN
  SELECT decrypted_secret INTO value FROM vault.decrypted_secrets
  WHERE name = secret_name ORDER BY created_at DESC LIMIT 1;
  IF value IS NULL OR value = '' THEN
    RAISE EXCEPTION 'vault secret % is not set; see README "Deploying to Supabase"', secret_name;
  END IF;
  RETURN value;
END $$;

CREATE OR REPLACE FUNCTION public.edge_function_url(function_name text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT rtrim(public.vault_secret('edge_function_url'), '/') || '/' || function_name || '/'
$$;

-- Headers of every call from the database to a function: the secret key as `apikey` and no
-- Authorization header (upstream's cron_apikey_header test pins both).
CREATE OR REPLACE FUNCTION public.edge_function_headers() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('Content-Type', 'application/json', 'apikey', public.vault_secret('secret_key'))
$$;

-- Queues an asynchronous call (pg_net: sent after this transaction commits, never if it rolls back).
-- Secrets are read when the call is made, not baked into job commands, so rotating a key needs no
-- re-scheduling.
CREATE OR REPLACE FUNCTION public.invoke_edge_function(function_name text, body jsonb DEFAULT '{}'::jsonb, method text DEFAULT 'POST')
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  IF upper(method) = 'GET' THEN
    RETURN net.http_get(url := public.edge_function_url(function_name), headers := public.edge_function_headers(), timeout_milliseconds := 60000);
  END IF;
  RETURN net.http_post(url := public.edge_function_url(function_name), body := body,
                       headers := public.edge_function_headers(), timeout_milliseconds := 60000);
END $$;

-- Removes cron jobs by name, ignoring names that are already gone. cron.unschedule(name) raises on
-- a missing job, which made upstream's one-shot "unschedule" jobs stop half-way and fire again a
-- year later.
CREATE OR REPLACE FUNCTION public.unschedule_cron_jobs(job_names text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  job record;
  removed integer := 0;
BEGIN
  FOR job IN SELECT jobid FROM cron.job WHERE jobname = ANY (job_names) LOOP
    PERFORM cron.unschedule(job.jobid);
    removed := removed + 1;
  END LOOP;
  RETURN removed;
END $$;

-- Five-field cron expression for one instant (minute, hour, day and month pinned) in pg_cron's own
-- time zone: cron.timezone where the setting exists (pg_cron >= 1.5, GMT by default), else UTC
-- (pg_cron 1.4). Upstream EXTRACTed the fields in the session time zone instead.
CREATE OR REPLACE FUNCTION public.cron_schedule_at(at_time timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT to_char(at_time AT TIME ZONE coalesce(nullif(current_setting('cron.timezone', true), ''), 'UTC'),
                 'FMMI FMHH24 FMDD FMMM') || ' *'
$$;
