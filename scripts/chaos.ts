import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { chmod, rm } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { backlog, prepareBroadcast, readLedger } from '../src/local/chaos/broadcast.ts'
import { startFaultProxy } from '../src/local/chaos/fault-proxy.ts'
import { FAULT_KINDS, parseMix } from '../src/local/chaos/faults.ts'
import { computeFigures, type DraftRecord, type Figures } from '../src/local/chaos/figures.ts'
import { type DevProcess, spawnDev, waitForGroupExit } from '../src/local/dev-process.ts'
import { loadLocalEnvironment } from '../src/local/env-file.ts'
import { startMissiveFake } from '../src/local/fakes/missive.ts'
import { startTwilioFake } from '../src/local/fakes/twilio.ts'
import { stopServer } from '../src/local/postgres/cluster.ts'
import { freePort } from '../src/local/postgres/throwaway.ts'
import { mintUserToken } from '../src/local/token.ts'
import { createSql } from '../src/shared/db/client.ts'

// `npm run chaos`: the crash test of issue 9. A broadcast with follow-ups drains through
// `npm run dev` against the sandbox Missive, with faults injected into a share of the draft
// requests, while the whole `npm run dev` process group is SIGKILLed at random moments and
// started again. The sandbox (Missive, Twilio, the fault proxy) runs in THIS process, outside the
// killed group, so its record of what was really sent survives every kill. Afterwards the record
// and the ledger must show no double text and no text lost without a reason.
//
//   npm run chaos                                   # the issue's run: 2 000 recipients, 20 kills, 10 % faults
//   npm run chaos -- --recipients 200 --kills 5     # a quick run
//   npm run chaos -- --help

const root = fileURLToPath(new URL('../', import.meta.url))
const { values: args } = parseArgs({
  options: {
    recipients: { type: 'string', default: '2000' },
    kills: { type: 'string', default: '20' },
    'fault-rate': { type: 'string', default: '0.1' },
    faults: { type: 'string', default: '' },
    delay: { type: 'string', default: '60' },
    'min-uptime': { type: 'string', default: '2' },
    'max-uptime': { type: 'string', default: '20' },
    'timeout-ms': { type: 'string', default: '3000' },
    'per-minute': { type: 'string', default: '600' },
    'per-15-minutes': { type: 'string', default: '9000' },
    // A send nobody acknowledged is declared not sent (and re-queued) only 10 minutes after its last
    // attempt (NOT_SENT_AFTER_MS in src/shared/reconcile/settle-unknown.ts), and a re-send can fault
    // again: settling takes rounds of ~11 minutes.
    settle: { type: 'string', default: '900' },
    'max-wait': { type: 'string', default: '3600' },
    seed: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})

if (args.help) {
  console.log(`npm run chaos -- [options]
  --recipients N       broadcast audience (default 2000)
  --kills N            SIGKILLs of the npm run dev process group (default 20)
  --fault-rate X       share of draft requests that fail (default 0.1)
  --faults SPEC        weights of the fault kinds, e.g. "drop-after=2,hang=1" (default: equal;
                       kinds: ${FAULT_KINDS.join(', ')})
  --delay S            follow-up delay of the broadcast in seconds (default 60)
  --min-uptime S / --max-uptime S   random time from each start to its kill (default 2 / 20)
  --timeout-ms MS      MISSIVE_TIMEOUT_MS of the stack (default 3000; hangs outlast it)
  --per-minute N / --per-15-minutes N   MISSIVE_MAX_PER_* of the stack and the sandbox (default 600 / 9000: 2 000 drafts in ~3.5 min,
                       not the 35 min of Missive's real 900 per 15 min)
  --settle S           after the queues drain, how long unknown outcomes may take to settle (default 900)
  --max-wait S         after the last kill, how long the drain may take before the run fails (default 3600)
  --seed N             random seed (kill times, faults); printed so a run can be repeated
The database stays in .local/chaos/postgres (inspect it with LOCAL_DB_DIR=.local/chaos/postgres npm run dev).
Ports: FUNCTIONS_PORT, DB_PORT (the stack), MISSIVE_FAKE_PORT (the fault proxy), TWILIO_FAKE_PORT; free ports when unset.`)
  process.exit(0)
}

const num = (name: keyof typeof args) => {
  const value = Number(args[name])
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0`)
  return value
}
const recipients = Math.floor(num('recipients'))
const kills = Math.floor(num('kills'))
const mix = parseMix(num('fault-rate'), args.faults!)
const seed = args.seed !== undefined ? Number(args.seed) : Date.now() % 1_000_000
const random = mulberry32(seed)

const workDir = `${root}.local/chaos`
const devLog = `${workDir}/dev.log`
const started = Date.now()
const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`
const say = (line: string) => console.log(`[chaos ${elapsed().padStart(5)}] ${line}`)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Small seeded PRNG (mulberry32), so a run's kill times and fault draws can be replayed. */
function mulberry32(a: number): () => number {
  return () => {
    a |= 0
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const { env: localEnv } = loadLocalEnvironment(root)
const port = async (name: string) => (process.env[name] ? Number(process.env[name]) : await freePort())
const functionsPort = await port('FUNCTIONS_PORT')
const dbPort = await port('DB_PORT')

// A fresh database for every run: the figures are about this broadcast only.
mkdirSync(workDir, { recursive: true })
await chmod(workDir, 0o755) // the cluster runs as `postgres` when we are root
await stopServer(`${workDir}/postgres/data`)
await rm(`${workDir}/postgres`, { recursive: true, force: true })
writeFileSync(devLog, '')

// The sandbox, in this process: it outlives every kill of the stack.
const twilio = await startTwilioFake({
  accountSid: localEnv.TWILIO_ACCOUNT_SID ?? '',
  authToken: localEnv.TWILIO_AUTH_TOKEN ?? '',
  port: await port('TWILIO_FAKE_PORT'),
})
const firstToken = localEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES ?? ''
const secondToken = localEnv.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES ?? ''
const limits = { maxConcurrent: 5, perMinute: num('per-minute'), per15Minutes: num('per-15-minutes') }
const missive = await startMissiveFake({
  tokens: [
    firstToken,
    secondToken,
    localEnv.MISSIVE_SECRET_NON_BROADCAST ?? '',
    localEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION ?? '',
  ].filter(Boolean),
  organizationId: localEnv.MISSIVE_ORGANIZATION_ID,
  rateLimits: limits,
  twilio,
})
const proxy = await startFaultProxy({ target: missive.url, mix, port: await port('MISSIVE_FAKE_PORT'), random })

const devEnv = {
  FUNCTIONS_PORT: String(functionsPort),
  DB_PORT: String(dbPort),
  LOCAL_DB_DIR: `${workDir}/postgres`,
  MISSIVE_API_BASE_URL: proxy.baseUrl,
  TWILIO_API_BASE_URL: twilio.baseUrl,
  MISSIVE_TIMEOUT_MS: String(num('timeout-ms')),
  MISSIVE_MAX_CONCURRENT: String(limits.maxConcurrent),
  MISSIVE_MAX_PER_MINUTE: String(limits.perMinute),
  MISSIVE_MAX_PER_15_MINUTES: String(limits.per15Minutes),
  LOG_LEVEL: 'warn',
}
const functionsUrl = `http://127.0.0.1:${functionsPort}/functions/v1`
const secretKey = Object.values(JSON.parse(localEnv.SUPABASE_SECRET_KEYS ?? '{}') as Record<string, string>)[0] ?? ''
const sql = createSql(`postgresql://postgres@127.0.0.1:${dbPort}/postgres`, { max: 2 })

let dev: DevProcess | null = null
let starts = 0
const startDev = () => {
  starts++
  const run = starts
  appendFileSync(devLog, `\n===== start ${run} at ${elapsed()} =====\n`)
  dev = spawnDev({ env: devEnv, readyTimeoutMs: 180_000, onLine: (line) => appendFileSync(devLog, `${line}\n`) })
  return dev
}
const stopDev = async (signal: 'SIGKILL' | 'SIGINT') => {
  const current = dev
  if (!current) return
  current.signalGroup(signal)
  await current.exited
  if (!(await waitForGroupExit(current.pid, 60_000))) {
    throw new Error(`npm run dev (group ${current.pid}) outlived ${signal}`)
  }
  dev = null
}
/** What the next cron tick would do, sooner: a kill then costs seconds, not a minute. */
const kick = () => {
  for (const isSecond of [false, true]) {
    fetch(`${functionsUrl}/send-messages/`, {
      method: 'POST',
      headers: { apikey: secretKey, 'content-type': 'application/json' },
      body: JSON.stringify({ isSecond }),
    }).then((response) => response.body?.cancel(), () => {})
  }
}

let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) process.exit(130)
  interrupted = true
  say('interrupted: stopping npm run dev and the sandbox')
  void shutdown().finally(() => process.exit(130))
})
async function shutdown(): Promise<void> {
  await stopDev('SIGINT').catch((error) => say(`stopping dev: ${error.message}`))
  await sql.end({ timeout: 5 }).catch(() => {})
  await proxy.close()
  await missive.close()
  await twilio.close()
}

say(
  `seed ${seed}: ${recipients} recipients, ${kills} kills, ${
    mix.rate * 100
  } % of drafts faulted; limits ${limits.perMinute}/min, ${limits.per15Minutes}/15 min; dev log ${devLog}`,
)
let killsDone = 0
let killsWhileSending = 0
let broadcastId = 0
let phones: string[] = []
try {
  await startDev().ready
  say(`npm run dev ready (stack ${functionsUrl}, PostgreSQL port ${dbPort}, sandbox Missive behind ${proxy.baseUrl})`)
  const prepared = await prepareBroadcast(sql, {
    recipients,
    delaySeconds: num('delay'),
    runId: String(seed),
  })
  phones = prepared.phones
  const token = await mintUserToken(localEnv.SUPABASE_JWT_SECRET ?? '')
  const response = await fetch(`${functionsUrl}/send-now/`, { headers: { authorization: `Bearer ${token}` } })
  const made = (await response.json()) as { broadcastId?: number; queued?: number }
  if (!response.ok || made.broadcastId !== prepared.broadcastId) {
    throw new Error(`send-now answered ${response.status}: ${JSON.stringify(made)}`)
  }
  broadcastId = prepared.broadcastId
  say(`broadcast ${broadcastId} sent now: ${made.queued} queued, follow-ups after ${num('delay')} s`)

  const progress = setInterval(async () => {
    const left = await backlog(sql, broadcastId).catch(() => null)
    const drafts = countDrafts()
    say(
      `kills ${killsDone}/${kills}; sandbox has ${drafts.first} first + ${drafts.second} follow-ups; ${
        left
          ? `queued ${left.firstQueued} + ${left.secondQueued}, sending ${left.sending}, unknown ${left.unknown}`
          : 'database unreachable'
      }; ${proxy.injected.length} faults injected`,
    )
  }, 15_000)

  // The kills: each at a random moment after its start (sometimes before `ready:`, mid-migration).
  const minUptime = num('min-uptime')
  const maxUptime = Math.max(minUptime, num('max-uptime'))
  for (let k = 1; k <= kills; k++) {
    await sleep((minUptime + random() * (maxUptime - minUptime)) * 1000)
    // Mid-send: the sandbox took a draft within the last 3 s (queued messages alone may just be
    // waiting out a lease or a backoff).
    if (lastDraftAt() > Date.now() - 3000) killsWhileSending++
    await stopDev('SIGKILL')
    killsDone = k
    const next = startDev()
    try {
      await next.ready
    } catch (error) {
      // Killed before ready is expected only from us; anything else means a person is needed.
      throw new Error(`npm run dev did not start again after kill ${k}: ${(error as Error).message}`)
    }
    kick()
  }
  say(`${killsDone} kills done (${killsWhileSending} while drafts were going out); letting it finish`)

  // The drain: queues empty and no claim in flight; then unknown outcomes get `--settle` seconds
  // to be settled by the stack itself (the test never settles them for it).
  const deadline = Date.now() + num('max-wait') * 1000
  let drainedAt: number | null = null
  for (;;) {
    const left = await backlog(sql, broadcastId)
    const drained = left.firstQueued + left.secondQueued + left.sending === 0
    if (drained && drainedAt === null) {
      drainedAt = Date.now()
      say(`queues drained; ${left.unknown} unknown outcome(s) left to settle`)
    }
    if (drained && (left.unknown === 0 || Date.now() - drainedAt! >= num('settle') * 1000)) break
    if (!drained) drainedAt = null
    if (Date.now() >= deadline) {
      say(`gave up waiting after --max-wait ${num('max-wait')} s: ${JSON.stringify(left)}`)
      break
    }
    await sleep(2000)
  }
  clearInterval(progress)

  const figures = computeFigures(phones, sentDrafts(), await readLedger(sql, broadcastId))
  const left = await backlog(sql, broadcastId)
  report(figures, left)
  process.exitCode = figures.duplicates > 0 || figures.unexplainedLosses > 0 ? 1 : 0
} catch (error) {
  say(`FAILED: ${(error as Error).message}`)
  process.exitCode = 2
} finally {
  await shutdown()
}

function sentDrafts(): DraftRecord[] {
  const records: DraftRecord[] = []
  for (const draft of missive.drafts) {
    if (!draft.sent) continue
    if (draft.token === firstToken) records.push({ to: draft.to, phase: 'first' })
    else if (draft.token === secondToken) records.push({ to: draft.to, phase: 'second' })
  }
  return records
}

function lastDraftAt(): number {
  const last = missive.drafts[missive.drafts.length - 1]
  return last ? last.createdAt.getTime() : 0
}

function countDrafts(): { first: number; second: number } {
  const records = sentDrafts()
  return {
    first: records.filter((r) => r.phase === 'first').length,
    second: records.filter((r) => r.phase === 'second').length,
  }
}

function report(figures: Figures, left: Awaited<ReturnType<typeof backlog>>): void {
  const seconds = Math.round((Date.now() - started) / 1000)
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0]))
  let recordedBeforeFault = 0
  for (const fault of proxy.injected) {
    faults[fault.kind]!++
    if (fault.recorded) recordedBeforeFault++
  }
  const lines = [
    `recipients                 ${figures.recipients}`,
    `sent first / follow-up     ${figures.first.sent} / ${figures.second.sent}`,
    `duplicates (recipients)    ${figures.first.duplicates} first, ${figures.second.duplicates} follow-up (${
      figures.first.extraTexts + figures.second.extraTexts
    } extra texts)`,
    `unexplained losses         ${sum(figures.first.unexplained)} first, ${sum(figures.second.unexplained)} follow-up${
      describe({ ...prefix('first', figures.first.unexplained), ...prefix('follow-up', figures.second.unexplained) })
    }`,
    `explained non-sends        ${sum(figures.first.explained)} first, ${sum(figures.second.explained)} follow-up${
      describe({ ...prefix('first', figures.first.explained), ...prefix('follow-up', figures.second.explained) })
    }`,
    `sent, ledger says not      ${figures.first.sentDespiteLedger} first, ${figures.second.sentDespiteLedger} follow-up`,
    `unknowns settled / left    ${figures.unknownsSettled} / ${figures.unknownRemaining}`,
    `kills                      ${killsDone} (${killsWhileSending} while drafts were going out), ${starts} starts of npm run dev`,
    `faults injected            ${proxy.injected.length} of ${proxy.draftRequests()} draft requests (${recordedBeforeFault} after the draft was recorded)${
      describe(faults)
    }`,
    `left at the end            queued ${left.firstQueued} + ${left.secondQueued}, sending ${left.sending}`,
    `duration                   ${Math.floor(seconds / 60)} min ${seconds % 60} s`,
  ]
  if (figures.examples.duplicate.length) {
    lines.push(`e.g. texted twice          ${figures.examples.duplicate.join(' ')}`)
  }
  if (figures.examples.lost.length) lines.push(`e.g. lost                  ${figures.examples.lost.join(' ')}`)
  const ok = figures.duplicates === 0 && figures.unexplainedLosses === 0
  lines.push(
    ok
      ? 'PASS: no recipient texted twice, every missing text has a reason'
      : 'FAIL: duplicates or unexplained losses (above)',
  )
  console.log(`\n${lines.join('\n')}`)
  writeFileSync(
    `${workDir}/figures.json`,
    JSON.stringify(
      { seed, broadcastId, kills: killsDone, killsWhileSending, durationSeconds: seconds, faults, figures },
      null,
      2,
    ),
  )
  say(`figures also in ${workDir}/figures.json`)
}

function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0)
}
function prefix(name: string, record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [`${name} ${key}`, value]))
}
function describe(record: Record<string, number>): string {
  const parts = Object.entries(record).filter(([, n]) => n > 0).map(([key, n]) => `${key}: ${n}`)
  return parts.length ? `\n                           (${parts.join('; ')})` : ''
}
