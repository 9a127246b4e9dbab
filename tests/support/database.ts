import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, inject } from 'vitest'
import { storeVaultSecret } from '../../src/local/vault-secrets.ts'
import { createSql, type Sql } from '../../src/shared/db/client.ts'

export function databaseUrl(database: string): string {
  return `postgresql://postgres@127.0.0.1:${inject('pgPort')}/${database}`
}

export interface TestDatabase {
  name: string
  url: string
  sql: Sql
  drop(): Promise<void>
}

export interface TestDatabaseOptions {
  /**
   * Clone the template migrated over Supabase's anon/authenticated/service_role with the default
   * grants of an older project (applied before the migrations). Default: stock PostgreSQL, no roles.
   */
  legacySupabaseGrants?: boolean
}

/** A fresh, fully migrated database cloned from the run's template. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`
  const template = inject(options.legacySupabaseGrants ? 'legacyTemplateDatabase' : 'templateDatabase')
  const admin = createSql(databaseUrl('postgres'), { max: 1 })
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template}`)
  } finally {
    await admin.end()
  }
  const url = databaseUrl(name)
  const sql = createSql(url, { max: 10 })
  return {
    name,
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 })
      const dropper = createSql(databaseUrl('postgres'), { max: 1 })
      await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await dropper.end()
    },
  }
}

/**
 * Gives the calling test file its own database for all its tests (created in beforeAll, dropped in
 * afterAll). Use `resetDatabase` in a beforeEach when tests must not see each other's rows.
 */
export function useTestDatabase(options: TestDatabaseOptions = {}): { readonly sql: Sql; readonly url: string } {
  let db: TestDatabase | undefined
  beforeAll(async () => {
    db = await createTestDatabase(options)
  })
  afterAll(async () => {
    await db?.drop()
  })
  return {
    get sql() {
      if (!db) throw new Error('the test database is created in beforeAll; use it inside a test or hook')
      return db.sql
    },
    get url() {
      if (!db) throw new Error('the test database is created in beforeAll')
      return db.url
    },
  }
}

/**
 * Empties every table the application writes (public, queues and their archives, pg_net requests,
 * vault) and restarts identities, so serial ids begin at 1 as in upstream's tests. Cron jobs created
 * by the migrations are kept; jobs scheduled since (by triggers or functions) are removed.
 */
export async function resetDatabase(sql: Sql): Promise<void> {
  const tables = await sql<{ name: string }[]>`
    SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
    WHERE schemaname IN ('public', 'pgmq', 'net', 'vault') AND tablename <> 'meta'`
  if (tables.length) await sql.unsafe(`TRUNCATE ${tables.map((t) => t.name).join(', ')} RESTART IDENTITY CASCADE`)
  await sql`DELETE FROM cron.job WHERE jobname IS NULL OR NOT (jobname = ANY(${inject('staticCronJobs')}))`
}

/**
 * The vault secrets that the database's calls to functions read (URL root and secret key), created
 * or rotated with vault.create_secret / vault.update_secret as on Supabase.
 */
export async function setVaultSecrets(
  sql: Sql,
  secrets: { edgeFunctionUrl: string; secretKey: string },
): Promise<void> {
  await storeVaultSecret(sql, 'edge_function_url', secrets.edgeFunctionUrl)
  await storeVaultSecret(sql, 'secret_key', secrets.secretKey)
}
