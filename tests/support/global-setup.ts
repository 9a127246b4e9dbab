import type { TestProject } from 'vitest/node'
import { startThrowawayCluster } from '../../src/local/postgres/throwaway.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    pgPort: number
    templateDatabase: string
    /** The same migrations over Supabase's API roles with an older project's default grants. */
    legacyTemplateDatabase: string
    /** Jobs the migrations schedule; everything else in cron.job was scheduled by a test. */
    staticCronJobs: string[]
  }
}

/**
 * One throwaway PostgreSQL cluster for the whole run (own temp dir, own port), with the stand-ins
 * and migrations applied once to a template database; every test file clones it (CREATE DATABASE …
 * TEMPLATE), which takes a fraction of a second and isolates files from each other.
 */
export default async function setup(project: TestProject) {
  const throwaway = await startThrowawayCluster('txt_template', { legacyTemplateDatabase: 'txt_template_legacy' })
  project.provide('pgPort', throwaway.cluster.port)
  project.provide('templateDatabase', throwaway.templateDatabase)
  project.provide('legacyTemplateDatabase', throwaway.legacyTemplateDatabase!)
  project.provide('staticCronJobs', throwaway.staticCronJobs)
  return () => throwaway.destroy()
}
