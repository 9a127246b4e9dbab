import { readdir } from 'node:fs/promises'
import type { Sql } from '../../shared/db/client.ts'
import { migrationsDir } from '../postgres/migrate.ts'
import { afterChecks } from './after-checks.ts'
import { beforeChecks } from './before-checks.ts'
import type { CheckResult } from './check-result.ts'

/** Versions of supabase/migrations, as the Supabase CLI names them (the part before the first `_`). */
export async function localMigrationVersions(dir = migrationsDir): Promise<string[]> {
  return (await readdir(dir)).filter((file) => file.endsWith('.sql')).map((file) => file.split('_')[0]!).sort()
}

async function pendingVersions(sql: Sql, localVersions: string[]): Promise<string[]> {
  const [table] = await sql`SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL AS present`
  if (!table?.present) return localVersions
  const recorded = new Set(
    (await sql<{ version: string }[]>`SELECT version FROM supabase_migrations.schema_migrations`).map((r) => r.version),
  )
  return localVersions.filter((version) => !recorded.has(version))
}

/**
 * `npm run upgrade:check`: the "before" checks while some of our migrations are not applied yet
 * (is the push possible, is this a good moment), the "after" checks once all are.
 */
export async function runUpgradeCheck(
  sql: Sql,
  options: { localVersions?: string[]; now?: Date } = {},
): Promise<{ phase: 'before' | 'after'; results: CheckResult[] }> {
  const localVersions = options.localVersions ?? await localMigrationVersions()
  const pending = await pendingVersions(sql, localVersions)
  if (pending.length) {
    return { phase: 'before', results: await beforeChecks(sql, localVersions, options.now ?? new Date()) }
  }
  return { phase: 'after', results: await afterChecks(sql) }
}
