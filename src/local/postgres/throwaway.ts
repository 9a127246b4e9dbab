import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { createSql } from '../../shared/db/client.ts'
import { type Cluster, ensurePostgresInstalled, startCluster } from './cluster.ts'
import { applyMigrations, applyStandIns, applySupabaseLegacyRoles } from './migrate.ts'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface ThrowawayCluster {
  cluster: Cluster
  /** A database with the stand-ins and every migration applied; clone it with CREATE DATABASE … TEMPLATE. */
  templateDatabase: string
  /**
   * When asked for: the same, migrated on top of Supabase's API roles and the default grants older
   * projects carry (applied first, as on such a project).
   */
  legacyTemplateDatabase?: string
  /** Jobs the migrations schedule (everything else in cron.job was scheduled at run time). */
  staticCronJobs: string[]
  url(database: string): string
  destroy(): Promise<void>
}

/**
 * A PostgreSQL cluster in a temp dir on a free port, for tests and benchmarks: the stand-ins and
 * migrations are applied once to a template database that callers clone.
 *
 * pg_cron lets its extension be created only in `cron.database_name`, and its scheduler holds a
 * connection to that database (which would block cloning). So the template is migrated with
 * cron.database_name = template, then the cluster restarts pointing pg_cron at `postgres`: clones
 * keep the cron schema and job rows, and no job ever fires in them.
 */
export async function startThrowawayCluster(
  templateDatabase = 'txt_template',
  options: { legacyTemplateDatabase?: string } = {},
): Promise<ThrowawayCluster> {
  await ensurePostgresInstalled((line) => console.log(line))
  const dir = await mkdtemp(`${tmpdir()}/txt-outlier-pg-`)
  const port = await freePort()
  let cluster: Cluster | undefined
  try {
    cluster = await startCluster({ dataDir: `${dir}/data`, socketDir: dir, port, cronDatabase: templateDatabase })
    const admin = createSql(cluster.url('postgres'), { max: 1 })
    await admin.unsafe(`CREATE DATABASE ${templateDatabase}`)
    await admin.end()
    const template = createSql(cluster.url(templateDatabase), { max: 1 })
    // pg_net's stand-in even where a real one is installed: its worker serves one database
    // (pg_net.database_name), and each test file clones its own.
    await applyStandIns(template, { standInFor: ['pg_net'] })
    await applyMigrations(template)
    const staticCronJobs = (await template`SELECT jobname FROM cron.job`).map((row) => row.jobname as string)
    await template.end()
    const { legacyTemplateDatabase } = options
    if (legacyTemplateDatabase) {
      // Built after the first template, so that one never saw the (cluster-wide) Supabase roles:
      // it stays "stock PostgreSQL". pg_cron is created only in cron.database_name: one restart more.
      await cluster.restart({ cronDatabase: legacyTemplateDatabase })
      const creator = createSql(cluster.url('postgres'), { max: 1 })
      await creator.unsafe(`CREATE DATABASE ${legacyTemplateDatabase}`)
      await creator.end()
      const legacy = createSql(cluster.url(legacyTemplateDatabase), { max: 1 })
      await applySupabaseLegacyRoles(legacy)
      await applyStandIns(legacy)
      await applyMigrations(legacy)
      await legacy.end()
    }
    await cluster.restart({ cronDatabase: 'postgres' })
    const running = cluster
    return {
      cluster: running,
      templateDatabase,
      legacyTemplateDatabase,
      staticCronJobs,
      url: (database) => running.url(database),
      destroy: async () => {
        await running.stop()
        await rm(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await cluster?.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

/** Clones the template into a new database and returns its URL. */
export async function cloneTemplate(throwaway: ThrowawayCluster, name: string): Promise<string> {
  const admin = createSql(throwaway.url('postgres'), { max: 1 })
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${throwaway.templateDatabase}`)
  } finally {
    await admin.end()
  }
  return throwaway.url(name)
}
