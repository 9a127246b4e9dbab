import type { Sql } from '../../shared/db/client.ts'
import { FIRST_MESSAGES_QUEUE, SECOND_MESSAGES_QUEUE } from '../../shared/queue/names.ts'

// `npm run doctor -- <database-url> <functions-url>`: what a deployed project needs, checked one
// by one, each answered ok or missing with the fix. Read-only: the one request it makes is answered
// by the gate or by a 400 before any work starts.

export interface CheckResult {
  check: string
  ok: boolean
  detail: string
  /** What to do when it is not ok. */
  fix?: string
}

/**
 * The minimum versions this code relies on. pg_cron: five-field schedules and cron.job_run_details
 * (1.4 locally, Debian's; Supabase ships 1.6). pgmq: read with visibility timeout, archive (1.4).
 * pg_net: http_post with jsonb body and the JSON Content-Type check (0.10).
 */
export const requiredExtensions = [
  { name: 'pg_cron', min: '1.4', schema: 'cron', probe: null },
  { name: 'pgmq', min: '1.4', schema: 'pgmq', probe: 'pgmq.send(text,jsonb,integer)' },
  { name: 'pg_net', min: '0.10', schema: 'net', probe: 'net.http_post(text,jsonb,jsonb,jsonb,integer)' },
  { name: 'supabase_vault', min: '0.2', schema: 'vault', probe: 'vault.create_secret(text,text,text,uuid)' },
] as const

/** The Vault secrets every job and trigger reads through public.invoke_edge_function. */
export const requiredVaultSecrets = ['edge_function_url', 'secret_key']

/**
 * The cron jobs the migrations schedule and that stay scheduled (tests/platform/doctor.test.ts
 * checks this list against a freshly migrated database). Jobs made at run time — the per-minute
 * senders, the daily failure handlers, per-broadcast reconciles — come and go and are not checked.
 */
export const requiredCronJobs = [
  'check-and-trigger-broadcast-every-minute',
  'check_and_run_campaigns',
  'daily-archive-double-failures-setup',
  'daily-failed-deliveries-setup',
  'daily-reconciliation',
  'settle-unknown-sends',
]

export const requiredQueues = [FIRST_MESSAGES_QUEUE, SECOND_MESSAGES_QUEUE]

/** `1.6.4` ≥ `1.4`, numerically per part. */
export function versionAtLeast(version: string, min: string): boolean {
  const parts = (text: string) => text.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0)
  const [a, b] = [parts(version), parts(min)]
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0)
  }
  return true
}

async function checkExtensions(sql: Sql): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  for (const extension of requiredExtensions) {
    const check = `extension ${extension.name}`
    const [installed] = await sql<{ version: string }[]>`
      SELECT extversion AS version FROM pg_extension WHERE extname = ${extension.name}`
    if (installed) {
      const ok = versionAtLeast(installed.version, extension.min)
      results.push({
        check,
        ok,
        detail: `version ${installed.version}${ok ? '' : `, need ≥ ${extension.min}`}`,
        fix: ok ? undefined : `ALTER EXTENSION ${extension.name} UPDATE; (or upgrade the project's Postgres)`,
      })
      continue
    }
    // The local stack runs SQL stand-ins with the same names (src/local/standins), not extensions.
    const [standIn] = extension.probe
      ? await sql<{ found: boolean }[]>`SELECT to_regprocedure(${extension.probe}) IS NOT NULL AS found`
      : [{ found: false }]
    results.push(
      standIn.found ? { check, ok: true, detail: 'local stand-in (src/local/standins)' } : {
        check,
        ok: false,
        detail: 'not installed',
        fix:
          `CREATE EXTENSION IF NOT EXISTS ${extension.name}; — on Supabase: Database → Extensions, or \`supabase db push\` (the migrations enable it)`,
      },
    )
  }
  return results
}

async function checkVault(sql: Sql, functionsUrl: string): Promise<{ results: CheckResult[]; secretKey?: string }> {
  const results: CheckResult[] = []
  let secretKey: string | undefined
  for (const name of requiredVaultSecrets) {
    const check = `vault secret ${name}`
    const fixCreate = `SELECT vault.create_secret('<value>', '${name}');  (README "Deploying to Supabase", step 3)`
    let rows: { value: string | null }[]
    try {
      rows = await sql<{ value: string | null }[]>`
        SELECT decrypted_secret AS value FROM vault.decrypted_secrets WHERE name = ${name}`
    } catch (error) {
      results.push({
        check,
        ok: false,
        detail: `cannot be decrypted (${(error as Error).message})`,
        fix:
          `it was written into vault.secrets directly; set it again with SELECT vault.update_secret((SELECT id FROM vault.secrets WHERE name = '${name}'), '<value>');`,
      })
      continue
    }
    if (rows.length === 0) {
      results.push({ check, ok: false, detail: 'not set', fix: fixCreate })
      continue
    }
    const value = rows[0].value
    if (!value) {
      results.push({
        check,
        ok: false,
        detail: 'present but decrypts to nothing',
        fix: `SELECT vault.update_secret((SELECT id FROM vault.secrets WHERE name = '${name}'), '<value>');`,
      })
      continue
    }
    if (name === 'secret_key') secretKey = value
    if (name === 'edge_function_url' && trimSlash(value) !== trimSlash(functionsUrl)) {
      results.push({
        check,
        ok: false,
        detail: `is ${value}, but the functions are at ${functionsUrl}`,
        fix:
          `SELECT vault.update_secret((SELECT id FROM vault.secrets WHERE name = 'edge_function_url'), '${functionsUrl}');`,
      })
      continue
    }
    results.push({ check, ok: true, detail: name === 'secret_key' ? 'set and decryptable' : `set: ${value}` })
  }
  return { results, secretKey }
}

const trimSlash = (url: string) => url.replace(/\/+$/, '')

async function checkCronJobs(sql: Sql): Promise<CheckResult[]> {
  const [hasCron] = await sql`SELECT to_regclass('cron.job') IS NOT NULL AS ok`
  if (!hasCron.ok) {
    return [{ check: 'cron jobs', ok: false, detail: 'pg_cron is not installed', fix: 'CREATE EXTENSION pg_cron;' }]
  }
  const jobs = await sql<{ jobname: string; active: boolean }[]>`SELECT jobname, active FROM cron.job`
  return requiredCronJobs.map((name) => {
    const job = jobs.find((row) => row.jobname === name)
    if (!job) {
      return {
        check: `cron job ${name}`,
        ok: false,
        detail: 'not scheduled',
        fix:
          'run the migrations again (`supabase db push`), or re-run its cron.schedule(…) statement from supabase/migrations',
      }
    }
    if (!job.active) {
      return {
        check: `cron job ${name}`,
        ok: false,
        detail: 'scheduled but inactive',
        fix: `SELECT cron.alter_job((SELECT jobid FROM cron.job WHERE jobname = '${name}'), active => true);`,
      }
    }
    return { check: `cron job ${name}`, ok: true, detail: 'scheduled' }
  })
}

async function checkQueues(sql: Sql): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  for (const queue of requiredQueues) {
    const [row] = await sql<{ ok: boolean }[]>`SELECT to_regclass(${`pgmq.q_${queue}`}) IS NOT NULL AS ok`
    results.push(
      row.ok
        ? { check: `queue ${queue}`, ok: true, detail: 'exists' }
        : { check: `queue ${queue}`, ok: false, detail: 'missing', fix: `SELECT pgmq.create('${queue}');` },
    )
  }
  return results
}

/**
 * A function answers with Vault's secret key, and refuses a wrong one. `reconcile-twilio-status`
 * with an empty body is answered 400 by validation after the gate, before any work starts.
 */
async function checkFunction(functionsUrl: string, secretKey: string | undefined): Promise<CheckResult[]> {
  const check = 'function reachable with the secret key'
  if (!secretKey) {
    return [{ check, ok: false, detail: 'no secret_key in Vault to call it with', fix: 'set the Vault secrets first' }]
  }
  const url = `${trimSlash(functionsUrl)}/reconcile-twilio-status/`
  const call = (key: string) =>
    fetch(url, {
      method: 'POST',
      headers: { apikey: key, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(15_000),
    })
  try {
    const accepted = await call(secretKey)
    await accepted.body?.cancel()
    if (accepted.status === 401) {
      return [{
        check,
        ok: false,
        detail: `${url} answered 401 to Vault's secret_key`,
        fix:
          "Vault's secret_key must be one of the function secret SUPABASE_SECRET_KEYS: update the Vault secret (vault.update_secret) to the project's secret key",
      }]
    }
    if (accepted.status !== 400) {
      return [{
        check,
        ok: false,
        detail: `${url} answered ${accepted.status} (expected 400 for an empty body)`,
        fix: 'deploy the functions: `supabase functions deploy --use-api` (README), and read its logs',
      }]
    }
    const refused = await call('doctor-wrong-key')
    await refused.body?.cancel()
    if (refused.status !== 401) {
      return [{
        check,
        ok: false,
        detail: `${url} accepted a wrong key (${refused.status})`,
        fix: 'SUPABASE_SECRET_KEYS must be set as a function secret; check `supabase secrets list`',
      }]
    }
    return [{ check, ok: true, detail: `${url} accepts the key and refuses a wrong one` }]
  } catch (error) {
    return [{
      check,
      ok: false,
      detail: `${url} unreachable (${(error as Error).message})`,
      fix: 'check the functions URL (https://<ref>.supabase.co/functions/v1) and deploy the functions',
    }]
  }
}

async function checkRowLevelSecurity(sql: Sql): Promise<CheckResult[]> {
  const open = await sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
    ORDER BY c.relname`
  if (open.length === 0) return [{ check: 'row level security', ok: true, detail: 'on for every public table' }]
  return [{
    check: 'row level security',
    ok: false,
    detail: `off on ${open.length} public table(s): ${open.map((row) => row.name).join(', ')}`,
    fix: open.map((row) => `ALTER TABLE public.${row.name} ENABLE ROW LEVEL SECURITY;`).join(' '),
  }]
}

/**
 * Jobs whose runs failed in the last day. A failing job (say a Vault secret missing, so
 * invoke_edge_function raises) never reaches a function, so only cron.job_run_details shows it.
 */
async function checkCronRuns(sql: Sql): Promise<CheckResult[]> {
  const check = 'cron runs in the last 24 hours'
  const [hasDetails] = await sql`SELECT to_regclass('cron.job_run_details') IS NOT NULL AS ok`
  if (!hasDetails.ok) return []
  const failed = await sql<{ jobname: string; failures: number; message: string | null }[]>`
    SELECT j.jobname, count(*)::integer AS failures,
      (array_agg(d.return_message ORDER BY d.start_time DESC))[1] AS message
    FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
    WHERE d.status = 'failed' AND d.start_time > now() - interval '24 hours'
    GROUP BY j.jobname ORDER BY j.jobname`
  if (failed.length === 0) return [{ check, ok: true, detail: 'no failed runs' }]
  return [{
    check,
    ok: false,
    detail: failed.map((row) => `${row.jobname} failed ${row.failures}× (last: ${row.message?.trim()})`).join('; '),
    fix: 'fix the cause named above (often a missing Vault secret); details in cron.job_run_details',
  }]
}

/**
 * Calls from the database to functions that failed in the last hour (pg_net keeps responses for 6
 * hours): a function answering 401 means Vault's secret_key is not one of the function's keys.
 */
async function checkNetResponses(sql: Sql): Promise<CheckResult[]> {
  const check = 'calls from the database to functions in the last hour'
  const [hasResponses] = await sql`SELECT to_regclass('net._http_response') IS NOT NULL AS ok`
  if (!hasResponses.ok) return []
  const failed = await sql<{ outcome: string; n: number }[]>`
    SELECT coalesce(status_code::text, CASE WHEN timed_out THEN 'timeout' ELSE 'error' END) AS outcome, count(*)::integer AS n
    FROM net._http_response
    WHERE created > now() - interval '1 hour' AND (status_code IS NULL OR status_code >= 400)
    GROUP BY 1 ORDER BY 1`
  if (failed.length === 0) return [{ check, ok: true, detail: 'none failed' }]
  return [{
    check,
    ok: false,
    detail: failed.map((row) => `${row.n} answered ${row.outcome}`).join(', '),
    fix:
      "401: Vault's secret_key is not one of SUPABASE_SECRET_KEYS; 404: a function is not deployed; 5xx: read the function's logs (or Sentry)",
  }]
}

export async function runDoctor(sql: Sql, functionsUrl: string): Promise<CheckResult[]> {
  const vault = await checkVault(sql, functionsUrl)
  return [
    ...await checkExtensions(sql),
    ...vault.results,
    ...await checkCronJobs(sql),
    ...await checkQueues(sql),
    ...await checkFunction(functionsUrl, vault.secretKey),
    ...await checkCronRuns(sql),
    ...await checkNetResponses(sql),
    ...await checkRowLevelSecurity(sql),
  ]
}

export function formatResults(results: CheckResult[]): string {
  return results.map((result) =>
    `${result.ok ? 'ok     ' : 'missing'} ${result.check}: ${result.detail}${
      result.ok || !result.fix ? '' : `\n        fix: ${result.fix}`
    }`
  ).join('\n')
}
