import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Sql } from '../../shared/db/client.ts'
import { chooseImplementation, PRELOADED_EXTENSIONS } from './extensions.ts'

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url))
export const migrationsDir = `${projectRoot}supabase/migrations`
const standInsDir = `${projectRoot}src/local/standins`

/** Each stand-in replaces the Supabase extension of the same purpose when it is not installable here. */
const standIns = [
  { extension: 'pgmq', file: 'pgmq.sql', schema: 'pgmq' },
  { extension: 'pg_net', file: 'pg_net.sql', schema: 'net' },
  { extension: 'supabase_vault', file: 'vault.sql', schema: 'vault' },
]

/**
 * Applies the local stand-ins for pgmq, pg_net and vault where the real extension cannot be used
 * (see extensions.ts); `standInFor` names extensions replaced even where a real one could work.
 * Returns the extensions that got a stand-in.
 */
export async function applyStandIns(sql: Sql, options: { standInFor?: string[] } = {}): Promise<string[]> {
  const applied: string[] = []
  const [{ preload }] = await sql<{ preload: string }[]>`SELECT current_setting('shared_preload_libraries') AS preload`
  const preloaded = new Set(preload.split(',').map((name) => name.trim().replace(/^"|"$/g, '')))
  for (const { extension, file, schema } of standIns) {
    const [available] = await sql`SELECT 1 AS ok FROM pg_available_extensions WHERE name = ${extension}`
    // A database made earlier with the stand-in keeps it (its schema would clash with the extension's).
    const [standInPresent] = await sql`
      SELECT 1 AS ok FROM pg_namespace n WHERE nspname = ${schema}
        AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = ${extension})`
    const implementation = standInPresent ? 'stand-in' : chooseImplementation({
      available: Boolean(available),
      needsPreload: PRELOADED_EXTENSIONS.includes(extension),
      preloaded: preloaded.has(extension),
      realAllowed: !(options.standInFor ?? []).includes(extension),
    })
    if (implementation === 'real') {
      await sql.unsafe(`CREATE EXTENSION IF NOT EXISTS ${extension} CASCADE`)
      continue
    }
    await sql.begin(async (tx) => tx.unsafe(await readCached(`${standInsDir}/${file}`)))
    applied.push(extension)
  }
  return applied
}

/**
 * Tests only: Supabase's anon/authenticated/service_role with the default grants of projects
 * created before late 2026, to apply BEFORE the migrations (supabase-legacy-roles.sql).
 */
export async function applySupabaseLegacyRoles(sql: Sql): Promise<void> {
  await sql.begin(async (tx) =>
    tx.unsafe(await readCached(`${projectRoot}src/local/postgres/supabase-legacy-roles.sql`))
  )
}

// Cached so repeated runs in one process (tests) do not re-read the same files.
const fileCache = new Map<string, Promise<string>>()
function readCached(path: string): Promise<string> {
  let text = fileCache.get(path)
  if (!text) fileCache.set(path, text = readFile(path, 'utf8'))
  return text
}

/**
 * Applies `supabase/migrations/*.sql` in file-name order, each file in one transaction, recorded in
 * `supabase_migrations.schema_migrations` as the Supabase CLI records them (STYLE.md #11), so a
 * second run applies only what is new.
 */
export async function applyMigrations(sql: Sql, dir = migrationsDir): Promise<string[]> {
  await sql.unsafe(`
    CREATE SCHEMA IF NOT EXISTS supabase_migrations;
    CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text)`)
  const done = new Set(
    (await sql`SELECT version FROM supabase_migrations.schema_migrations`).map((row) => row.version as string),
  )
  const files = existsSync(dir) ? (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort() : []
  const applied: string[] = []
  for (const file of files) {
    const [version, ...rest] = file.replace(/\.sql$/, '').split('_')
    if (done.has(version)) continue
    const text = await readCached(`${dir}/${file}`)
    try {
      await sql.begin(async (tx) => {
        await tx`INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES (${version}, ${
          rest.join('_')
        }, ${[text]})`
        await tx.unsafe(text)
      })
    } catch (error) {
      throw new Error(`migration ${file} failed: ${(error as Error).message}`)
    }
    applied.push(file)
  }
  return applied
}
