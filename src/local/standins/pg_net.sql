-- Local stand-in for pg_net (Supabase has the real one). Applied only when `pg_net` is not an
-- available extension. Same shapes as pg_net 0.x: `net.http_post` / `net.http_get` queue a row in
-- net.http_request_queue and return its id; a worker sends it after the transaction commits and
-- stores the answer in net._http_response. Locally that worker is src/local/net-worker.ts: it is
-- woken by NOTIFY, which PostgreSQL delivers only on commit, and it only ever sees committed rows,
-- so a rolled-back transaction never sends anything — exactly pg_net's guarantee.

CREATE SCHEMA IF NOT EXISTS net;

CREATE TABLE IF NOT EXISTS net.http_request_queue (
  id bigserial PRIMARY KEY,
  method text NOT NULL,
  url text NOT NULL,
  headers jsonb NOT NULL,
  body bytea,
  timeout_milliseconds integer NOT NULL
);

CREATE TABLE IF NOT EXISTS net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS _http_response_created_idx ON net._http_response (created);

-- Appends `params` as a query string, as pg_net does.
CREATE OR REPLACE FUNCTION net._with_query(url text, params jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN params IS NULL OR params = '{}'::jsonb THEN url
    ELSE url || CASE WHEN position('?' in url) > 0 THEN '&' ELSE '?' END ||
      (SELECT string_agg(key || '=' || value, '&') FROM jsonb_each_text(params))
  END
$$;

CREATE OR REPLACE FUNCTION net.http_post(
  url text,
  body jsonb DEFAULT '{}'::jsonb,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  request_id bigint;
  full_url text := net._with_query(url, params);
  content_type text;
BEGIN
  -- As pg_net: the body is sent as JSON, so any other Content-Type is refused (an exact match:
  -- "application/json; charset=utf-8" is refused too); an omitted one is added.
  SELECT header_value INTO content_type
  FROM jsonb_each_text(COALESCE(headers, '{}'::jsonb)) AS h(header_name, header_value)
  WHERE lower(header_name) = 'content-type'
  LIMIT 1;
  IF content_type IS NULL THEN
    headers := COALESCE(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  ELSIF content_type <> 'application/json' THEN
    RAISE EXCEPTION 'Content-Type header must be "application/json"';
  END IF;
  IF body IS NULL THEN
    RAISE EXCEPTION 'body must not be null';
  END IF;
  INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  VALUES ('POST', full_url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
  RETURNING id INTO request_id;
  PERFORM pg_notify('net_http_request', request_id::text);
  RETURN request_id;
END $$;

CREATE OR REPLACE FUNCTION net.http_get(
  url text,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  request_id bigint;
  full_url text := net._with_query(url, params);
BEGIN
  INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  VALUES ('GET', full_url, COALESCE(headers, '{}'::jsonb), NULL, timeout_milliseconds)
  RETURNING id INTO request_id;
  PERFORM pg_notify('net_http_request', request_id::text);
  RETURN request_id;
END $$;
