import type { Sql } from '../../shared/db/client.ts'
import { type CheckResult, fix, ok } from './check-result.ts'

// What must hold AFTER `supabase db push` on a database that ran upstream (issue 13): every job
// runs, nothing of upstream's is left that breaks or leaks, and the data reads consistently.

const phase = 'after'

class RolledBack extends Error {}

/**
 * Runs every cron.job command inside a transaction that is always rolled back, so nothing it does
 * stays (pg_net requests are only sent after a commit, cron changes and queue writes vanish).
 * A job that fails here fails every time pg_cron runs it.
 */
export async function checkCronCommandsRun(sql: Sql): Promise<CheckResult> {
  const jobs = await sql<{ jobid: string; jobname: string | null; command: string }[]>`
    SELECT jobid, jobname, command FROM cron.job ORDER BY jobid`
  const failures: string[] = []
  for (const job of jobs) {
    try {
      await sql.begin(async (tx) => {
        await tx`SET LOCAL statement_timeout = '20s'`
        await tx`SET LOCAL lock_timeout = '5s'`
        await tx.savepoint((sp) => sp.unsafe(job.command))
        throw new RolledBack()
      })
    } catch (error) {
      if (!(error instanceof RolledBack)) failures.push(`${job.jobname ?? job.jobid}: ${(error as Error).message}`)
    }
  }
  if (failures.length) return fix(phase, 'cron commands run', failures.join('; '))
  return ok(phase, 'cron commands run', `all ${jobs.length} job commands ran (rolled back)`)
}

/** Two functions of one name make a call without arguments ambiguous ("function … is not unique"). */
export async function checkNoOverloads(sql: Sql): Promise<CheckResult> {
  const rows = await sql<{ name: string; signatures: string }[]>`
    SELECT p.proname AS name, string_agg(format('(%s)', pg_get_function_identity_arguments(p.oid)), ' and ' ORDER BY p.oid) AS signatures
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    GROUP BY p.proname
    HAVING count(*) > 1
    ORDER BY 1`
  if (rows.length) {
    return fix(
      phase,
      'no overloaded functions',
      `${
        rows.map((r) => `public.${r.name}${r.signatures}`).join('; ')
      }: drop the one that is not ours (DROP FUNCTION public.<name>(<arguments>))`,
    )
  }
  return ok(phase, 'no overloaded functions', 'every function name in public is unique')
}

// What a secret looks like in a command: upstream baked `"apikey": "<key>"` headers into its jobs.
const keyPatterns = [/apikey/i, /\bsb_secret_\w+/, /\bBearer\s+\S+/i, /\beyJ[\w-]{10,}\.[\w-]{10,}/]

/** Job commands are readable by anyone who can read cron.job; keys belong in Vault. */
export async function checkNoKeyInCommands(sql: Sql): Promise<CheckResult> {
  const secrets = await vaultSecrets(sql)
  const key = secrets.get('secret_key')
  const jobs = await sql<{ jobid: string; jobname: string | null; command: string }[]>`
    SELECT jobid, jobname, command FROM cron.job ORDER BY jobid`
  const leaking = jobs.filter((job) =>
    (key !== undefined && key.length >= 8 && job.command.includes(key)) ||
    keyPatterns.some((pattern) => pattern.test(job.command))
  )
  if (leaking.length) {
    return fix(
      phase,
      'no key in job commands',
      `${
        leaking.map((job) => job.jobname ?? job.jobid).join(', ')
      } carry a key in their command: unschedule them (SELECT cron.unschedule(<jobid>)) and rotate the key`,
    )
  }
  return ok(phase, 'no key in job commands', `none of ${jobs.length} commands carries a key`)
}

/** Our schedules are five-field (pg_cron 1.4 locally); a '2 seconds' job is upstream's sender. */
export async function checkNoSubMinuteSchedule(sql: Sql): Promise<CheckResult> {
  const rows = await sql<{ jobname: string | null; jobid: string; schedule: string }[]>`
    SELECT jobid, jobname, schedule FROM cron.job WHERE schedule ~* 'second' ORDER BY jobid`
  if (rows.length) {
    return fix(
      phase,
      'no sub-minute schedule',
      `${rows.map((r) => `${r.jobname ?? r.jobid} (${r.schedule})`).join(', ')}: unschedule them`,
    )
  }
  return ok(phase, 'no sub-minute schedule', 'every schedule is a five-field cron expression')
}

/** `processed` (the runner claimed it) and `status` must tell the same story. */
export async function checkCampaignStatuses(sql: Sql): Promise<CheckResult> {
  const rows = await sql<{ id: number; processed: boolean; status: string }[]>`
    SELECT id, processed, status FROM public.campaigns
    WHERE (processed AND status IN ('draft', 'scheduled')) OR (NOT processed AND status IN ('sending', 'sent'))
    ORDER BY id`
  if (rows.length) {
    return fix(
      phase,
      'campaign statuses',
      `${
        rows.map((r) => `#${r.id} ${r.processed ? 'processed' : 'not processed'} but ${r.status}`).join(', ')
      }: the adoption migration backfills these; re-run supabase db push`,
    )
  }
  return ok(phase, 'campaign statuses', 'processed campaigns are sending/sent/failed/paused/cancelled, the others not')
}

/** Every job and queue trigger reaches the functions through these two Vault secrets. */
export async function checkVaultSecrets(sql: Sql): Promise<CheckResult> {
  const secrets = await vaultSecrets(sql)
  const missing = ['edge_function_url', 'secret_key'].filter((name) => !secrets.get(name))
  if (missing.length) {
    return fix(
      phase,
      'vault secrets',
      `${missing.join(', ')} missing: select vault.create_secret('<value>', '<name>') (README "Deploying to Supabase")`,
    )
  }
  return ok(phase, 'vault secrets', `edge_function_url = ${secrets.get('edge_function_url')}, secret_key set`)
}

/** A queue that is not empty needs its per-minute sender job, in our form. */
export async function checkSenderJobs(sql: Sql): Promise<CheckResult> {
  const rows = await sql<{ phase: string; queued: number; scheduled: boolean }[]>`
    SELECT q.phase, q.queued,
           EXISTS (SELECT 1 FROM cron.job j
                   WHERE j.jobname = public.send_messages_job_name(q.is_second) AND j.schedule = '* * * * *'
                     AND j.command = public.send_messages_job_command(q.is_second) AND j.active) AS scheduled
    FROM (SELECT 'first' AS phase, false AS is_second, (SELECT count(*)::integer FROM pgmq.q_broadcast_first_messages) AS queued
          UNION ALL
          SELECT 'second', true, (SELECT count(*)::integer FROM pgmq.q_broadcast_second_messages)) AS q`
  const stranded = rows.filter((r) => r.queued > 0 && !r.scheduled)
  if (stranded.length) {
    return fix(
      phase,
      'sender jobs',
      `${
        stranded.map((r) => `${r.queued} ${r.phase} messages queued without a sender job`).join(', ')
      }: select public.ensure_send_messages_job(<is_second>)`,
    )
  }
  return ok(
    phase,
    'sender jobs',
    rows.map((r) => `${r.queued} ${r.phase} queued${r.queued ? ', job scheduled' : ''}`).join('; '),
  )
}

async function vaultSecrets(sql: Sql): Promise<Map<string, string>> {
  const [view] = await sql`SELECT to_regclass('vault.decrypted_secrets') IS NOT NULL AS present`
  if (!view?.present) return new Map()
  const rows = await sql<{ name: string; secret: string | null }[]>`
    SELECT DISTINCT ON (name) name, decrypted_secret AS secret FROM vault.decrypted_secrets
    WHERE name IN ('edge_function_url', 'secret_key') ORDER BY name, created_at DESC`
  return new Map(rows.filter((r) => r.secret).map((r) => [r.name, r.secret!]))
}

export async function afterChecks(sql: Sql): Promise<CheckResult[]> {
  return [
    await checkCronCommandsRun(sql),
    await checkNoOverloads(sql),
    await checkNoKeyInCommands(sql),
    await checkNoSubMinuteSchedule(sql),
    await checkCampaignStatuses(sql),
    await checkVaultSecrets(sql),
    await checkSenderJobs(sql),
  ]
}
