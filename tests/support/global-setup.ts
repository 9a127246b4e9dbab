import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import type { TestProject } from 'vitest/node'
import { createSql } from '../../src/shared/db/client.ts'
import { type Cluster, ensurePostgresInstalled, startCluster } from '../../src/local/postgres/cluster.ts'
import { applyMigrations, applyStandIns } from '../../src/local/postgres/migrate.ts'

export const TEMPLATE_DATABASE = 'txt_template'

declare module 'vitest' {
  export interface ProvidedContext {
    pgPort: number
    templateDatabase: string
    /** Jobs the migrations schedule; everything else in cron.job was scheduled by a test. */
    staticCronJobs: string[]
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * One throwaway PostgreSQL cluster for the whole run (own temp dir, own port). The stand-ins and
 * migrations are applied once to a template database; every test file clones it (CREATE DATABASE …
 * TEMPLATE), which takes a fraction of a second and isolates files from each other.
 *
 * pg_cron lets its extension be created only in `cron.database_name`, and its scheduler holds a
 * connection to that database (which would block cloning). So the template is migrated with
 * cron.database_name = template, then the cluster restarts pointing pg_cron at `postgres`: clones
 * keep the cron schema and job rows, and no job ever fires during a test.
 */
export default async function setup(project: TestProject) {
  await ensurePostgresInstalled((line) => console.log(line))
  const dir = await mkdtemp(`${tmpdir()}/txt-outlier-test-`)
  const port = await freePort()
  let cluster: Cluster | undefined
  let staticCronJobs: string[] = []
  try {
    cluster = await startCluster({ dataDir: `${dir}/data`, socketDir: dir, port, cronDatabase: TEMPLATE_DATABASE })
    const admin = createSql(cluster.url('postgres'), { max: 1 })
    await admin.unsafe(`CREATE DATABASE ${TEMPLATE_DATABASE}`)
    await admin.end()
    const template = createSql(cluster.url(TEMPLATE_DATABASE), { max: 1 })
    await applyStandIns(template)
    await applyMigrations(template)
    staticCronJobs = (await template`SELECT jobname FROM cron.job`).map((row) => row.jobname as string)
    await template.end()
    await cluster.restart({ cronDatabase: 'postgres' })
  } catch (error) {
    await cluster?.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  project.provide('pgPort', port)
  project.provide('templateDatabase', TEMPLATE_DATABASE)
  project.provide('staticCronJobs', staticCronJobs)
  return async () => {
    await cluster?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
