import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createSql, type Sql } from '../../src/shared/db/client.ts'
import { applyStandIns } from '../../src/local/postgres/migrate.ts'
import { databaseUrl } from './database.ts'

// A database built the way production was built by upstream: its 18 migrations from
// ../shared/reference/upstream-migrations (test data, never copied into this repository), applied
// in order and recorded in supabase_migrations.schema_migrations as the Supabase CLI records them.

export const upstreamMigrationsDir = fileURLToPath(
  new URL('../../../shared/reference/upstream-migrations/', import.meta.url),
)
export const hasUpstreamMigrations = existsSync(upstreamMigrationsDir)

// pg_cron creates its extension only in cron.database_name ("postgres" in the test cluster, whose
// template database is already taken) or in a database of this name, the one its own regression
// tests use. Its scheduler runs jobs only in cron.database_name, so nothing fires here.
const DATABASE = 'contrib_regression'

/**
 * What a stock PostgreSQL lacks that Supabase has, and nothing more: the `extensions` schema, a
 * minimal storage.buckets, the local stand-ins for pgmq / pg_net / Vault (upstream's
 * `CREATE EXTENSION pgmq` is skipped for them), and '2 seconds' schedules. pg_cron 1.4 rejects
 * those (1.5+ on Supabase accepts them), so while upstream runs, cron.schedule records such a job
 * in cron.job itself and passes every other schedule to the real function.
 */
const environmentShims = `
  CREATE SCHEMA IF NOT EXISTS extensions;
  CREATE SCHEMA IF NOT EXISTS storage;
  CREATE TABLE IF NOT EXISTS storage.buckets (id text PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());
  ALTER FUNCTION cron.schedule(text, text, text) RENAME TO schedule_five_fields;
  CREATE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint
  LANGUAGE plpgsql AS $$
  DECLARE
    id bigint;
  BEGIN
    IF schedule !~* '^\\s*[0-9]+\\s+seconds?\\s*$' THEN
      RETURN cron.schedule_five_fields(job_name, schedule, command);
    END IF;
    INSERT INTO cron.job (schedule, command, jobname) VALUES (schedule, command, job_name)
    ON CONFLICT ON CONSTRAINT jobname_username_uniq DO UPDATE SET schedule = EXCLUDED.schedule, command = EXCLUDED.command
    RETURNING jobid INTO id;
    RETURN id;
  END $$;`

/** Back to the real pg_cron 1.4 function before our migrations run (they use five fields only). */
export async function removeCronShim(sql: Sql): Promise<void> {
  await sql.unsafe(`
    DROP FUNCTION cron.schedule(text, text, text);
    ALTER FUNCTION cron.schedule_five_fields(text, text, text) RENAME TO schedule;`)
}

export interface UpstreamDatabase {
  sql: Sql
  url: string
  /** Upstream's versions as recorded, e.g. `0000`, `20250210085456`. */
  versions: string[]
  drop(): Promise<void>
}

/**
 * `afterVersion`: what production did between two of upstream's releases, run right after the
 * migration of that version (e.g. a campaign run by a version of check_and_run_campaigns that a
 * later migration replaced).
 */
export async function createUpstreamDatabase(
  afterVersion: Record<string, (sql: Sql) => Promise<void>> = {},
): Promise<UpstreamDatabase> {
  const admin = createSql(databaseUrl('postgres'), { max: 1 })
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)
    await admin.unsafe(`CREATE DATABASE ${DATABASE}`)
  } finally {
    await admin.end()
  }
  const url = databaseUrl(DATABASE)
  const sql = createSql(url, { max: 10 })
  await sql`CREATE EXTENSION pg_cron`
  await applyStandIns(sql)
  await sql.begin((tx) => tx.unsafe(environmentShims))
  await sql.unsafe(`
    CREATE SCHEMA IF NOT EXISTS supabase_migrations;
    CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text)`)

  const files = (await readdir(upstreamMigrationsDir)).filter((file) => file.endsWith('.sql')).sort()
  const versions: string[] = []
  for (const file of files) {
    const [version, ...rest] = file.replace(/\.sql$/, '').split('_')
    const text = (await readFile(`${upstreamMigrationsDir}${file}`, 'utf8'))
      .replace(/CREATE EXTENSION IF NOT EXISTS pgmq;/i, '-- pgmq: the local stand-in is already applied')
    await sql.begin(async (tx) => {
      await tx`INSERT INTO supabase_migrations.schema_migrations (version, name, statements)
               VALUES (${version!}, ${rest.join('_')}, ${[text]})`
      await tx.unsafe(text)
    }).catch((error) => {
      throw new Error(`upstream migration ${file} failed: ${(error as Error).message}`)
    })
    versions.push(version!)
    await afterVersion[version!]?.(sql)
  }

  return {
    sql,
    url,
    versions,
    drop: async () => {
      await sql.end({ timeout: 5 })
      const dropper = createSql(databaseUrl('postgres'), { max: 1 })
      await dropper.unsafe(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)
      await dropper.end()
    },
  }
}

/**
 * md5 and row count of every table of the given schemas over the given columns (by default the
 * columns each table has now), rows in a stable order: comparing two snapshots shows whether any
 * existing value changed.
 */
export async function tableHashes(
  sql: Sql,
  columns?: Map<string, string[]>,
): Promise<{ columns: Map<string, string[]>; hashes: Map<string, string> }> {
  const current = await sql<{ name: string; schema: string; table: string; columns: string[] }[]>`
    SELECT format('%I.%I', c.table_schema, c.table_name) AS name, c.table_schema AS schema, c.table_name AS table,
           array_agg(c.column_name::text ORDER BY c.ordinal_position) AS columns
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema IN ('public', 'pgmq', 'vault', 'storage') AND t.table_type = 'BASE TABLE'
    GROUP BY 1, 2, 3 ORDER BY 1`
  const wanted = columns ?? new Map(current.map((row) => [row.name, row.columns]))
  const hashes = new Map<string, string>()
  for (const [name, cols] of wanted) {
    const [{ query }] = await sql<{ query: string }[]>`
      SELECT format('SELECT count(*) || '':'' || md5(coalesce(string_agg(r::text, E''\\n'' ORDER BY r::text), '''')) AS hash FROM (SELECT %s FROM %s) AS r',
                    (SELECT string_agg(quote_ident(col), ', ') FROM unnest(${cols}::text[]) AS col), ${name}::text) AS query` as any
    const [row] = await sql.unsafe<{ hash: string }[]>(query)
    hashes.set(name, row!.hash)
  }
  return { columns: wanted, hashes }
}
