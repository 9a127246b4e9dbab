import type { Db } from '../db/client.ts'
import type { HygieneJob } from './episode.ts'

/** The per-minute job and the one-shot job that removes it, as the daily setup functions name them. */
export const dynamicJobs: Record<HygieneJob, string[]> = {
  'handle-failed-deliveries': ['handle-failed-deliveries-daily', 'unschedule-failed-deliveries-handler'],
  'archive-double-failures': ['archive-double-failures-daily', 'unschedule-archive-double-failures'],
}

/** Removes both jobs; a name already gone is ignored (upstream's cron.unschedule raised on it). */
export async function unscheduleJobs(db: Db, job: HygieneJob): Promise<void> {
  await db`SELECT public.unschedule_cron_jobs(${dynamicJobs[job]}::text[])`
}
