import { beforeEach, describe, expect, it } from 'vitest'
import type { Sql } from '../../src/shared/db/client.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  broadcastPayload,
  createAuthor,
  createBroadcast,
  enqueue,
  PHONE,
  SECOND_MESSAGES_QUEUE,
} from '../support/factories/sending.ts'
import { callSendMessages } from './helpers.ts'

// Migration 20250601000200: enqueueing kicks send-messages at once (once per statement, not per
// row) and makes sure the per-minute job exists; the job goes when its queue is empty, without
// upstream's race.

const db = useTestDatabase()
const fakes = useFakes()

const FIRST_JOB_COMMAND = `SELECT public.invoke_edge_function('send-messages', '{"isSecond": false}'::jsonb)`
const SECOND_JOB_COMMAND = `SELECT public.invoke_edge_function('send-messages', '{"isSecond": true}'::jsonb)`

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/', secretKey: 'test_service_key' })
})

async function kicks(sql: Sql) {
  return await sql<{ url: string; method: string; body: any; apikey: string }[]>`
    SELECT url, method, convert_from(body, 'UTF8')::jsonb AS body, headers->>'apikey' AS apikey
    FROM net.http_request_queue ORDER BY id`
}

async function job(sql: Sql, name: string) {
  const [row] = await sql<
    { schedule: string; command: string }[]
  >`SELECT schedule, command FROM cron.job WHERE jobname = ${name}`
  return row
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('queue insert triggers', () => {
  it('kicks send-messages once for a 10 000-row enqueue and schedules the per-minute job', async () => {
    await db.sql`
      SELECT pgmq.send_batch('broadcast_first_messages',
        ARRAY(SELECT jsonb_build_object('recipient_phone_number', '+1313' || lpad(i::text, 7, '0'), 'broadcast_id', 1,
                                        'first_message', 'hi', 'second_message', 'bye', 'delay', 600)
              FROM generate_series(1, 10000) AS i))`

    const [count] = await db.sql`SELECT count(*)::integer AS n FROM pgmq.q_broadcast_first_messages`
    expect(count!.n).toBe(10_000)
    expect(await kicks(db.sql)).toEqual([
      { url: 'http://edge.test/send-messages/', method: 'POST', body: { isSecond: false }, apikey: 'test_service_key' },
    ])
    expect(await job(db.sql, 'send-first-messages')).toEqual({ schedule: '* * * * *', command: FIRST_JOB_COMMAND })
  })

  it('kicks once per enqueuing statement (and once per transaction when a producer enqueues in batches)', async () => {
    await enqueue(db.sql, { recipient_phone_number: PHONE })
    await enqueue(db.sql, { recipient_phone_number: PHONE })
    expect(await kicks(db.sql)).toHaveLength(2)

    await db.sql.begin(async (tx) => {
      for (let batch = 0; batch < 3; batch++) await enqueue(tx, { recipient_phone_number: PHONE })
    })
    expect(await kicks(db.sql)).toHaveLength(3)
  })

  it('does not kick for a delayed follow-up, but keeps a job that will pick it up', async () => {
    await enqueue(db.sql, { recipient_phone_number: PHONE }, { queue: SECOND_MESSAGES_QUEUE, delay: 600 })

    expect(await kicks(db.sql)).toHaveLength(0)
    expect(await job(db.sql, 'send-second-messages')).toEqual({ schedule: '* * * * *', command: SECOND_JOB_COMMAND })
  })

  it('enqueues even when the kick cannot be made (no Vault secrets yet)', async () => {
    await db.sql`DELETE FROM vault.secrets`

    await enqueue(db.sql, { recipient_phone_number: PHONE })

    expect(await kicks(db.sql)).toHaveLength(0)
    expect(await job(db.sql, 'send-first-messages')).toBeDefined()
  })
})

describe('removing the job when the queue is empty', () => {
  it('removes the job once a drain has emptied the queue, and keeps the follow-up job while one waits', async () => {
    await createAuthor(db.sql, PHONE)
    const ids = await createBroadcast(db.sql)
    await enqueue(db.sql, broadcastPayload(ids))
    expect(await job(db.sql, 'send-first-messages')).toBeDefined()

    const first = await callSendMessages(db.sql, fakes, { isSecond: false })

    expect(first.body).toMatchObject({ sent: 1, jobRemoved: true })
    expect(await job(db.sql, 'send-first-messages')).toBeUndefined()
    // The follow-up waits 600 s: its job stays, and a drain that finds nothing visible keeps it.
    const second = await callSendMessages(db.sql, fakes, { isSecond: true })
    expect(second.body).toMatchObject({ sent: 0, jobRemoved: false })
    expect(await job(db.sql, 'send-second-messages')).toBeDefined()
  })

  it('does not remove the job while an enqueue is still being committed', async () => {
    const otherSession = db.sql
    let unscheduled: Promise<boolean> | undefined
    let settled = false
    await db.sql.begin(async (tx) => {
      await enqueue(tx, { recipient_phone_number: PHONE })
      // The queue looks empty to everyone else until this commits; upstream's DELETE trigger
      // would have dropped the job here.
      unscheduled = otherSession`SELECT public.unschedule_send_messages_job_if_idle(false) AS removed`.then((rows) => {
        settled = true
        return rows[0]!.removed as boolean
      })
      await sleep(300)
      expect(settled).toBe(false)
    })
    expect(await unscheduled).toBe(false)
    expect(await job(db.sql, 'send-first-messages')).toBeDefined()
  })

  it('puts the job back when an enqueue races with its removal', async () => {
    await enqueue(db.sql, { recipient_phone_number: PHONE })
    await db.sql`DELETE FROM pgmq.q_broadcast_first_messages`
    expect(await job(db.sql, 'send-first-messages')).toBeDefined()

    let enqueued: Promise<number> | undefined
    await db.sql.begin(async (tx) => {
      const [row] = await tx`SELECT public.unschedule_send_messages_job_if_idle(false) AS removed`
      expect(row!.removed).toBe(true)
      // A concurrent enqueue saw the job before the removal commits: it waits, then reschedules.
      enqueued = enqueue(db.sql, { recipient_phone_number: PHONE })
      await sleep(300)
    })
    await enqueued
    expect(await job(db.sql, 'send-first-messages')).toEqual({ schedule: '* * * * *', command: FIRST_JOB_COMMAND })
  })
})

// Upstream supabase/tests/database/cron_apikey_header.sql (spec upstream-database.md §11.2).
describe('cron_apikey_header', () => {
  it('the job command calls send-messages with the apikey from Vault and no Authorization header', async () => {
    await db.sql`SELECT cron.unschedule('send-first-messages') FROM cron.job WHERE jobname = 'send-first-messages'`
    await db.sql`INSERT INTO pgmq.q_broadcast_first_messages (vt, message) VALUES (now(), '{"isSecond": false}')`
    const [scheduled] = await db.sql<
      { command: string }[]
    >`SELECT command FROM cron.job WHERE jobname = 'send-first-messages'`
    expect(scheduled).toBeDefined()
    await db.sql`SELECT cron.unschedule('send-first-messages')`
    await db.sql.unsafe(scheduled!.command)

    const [newest] = await db.sql<{ url: string; headers: Record<string, string> }[]>`
      SELECT url, headers FROM net.http_request_queue WHERE url LIKE '%edge.test%' ORDER BY id DESC LIMIT 1`
    expect(newest!.url).toBe('http://edge.test/send-messages/')
    expect(newest!.headers.apikey).toBe('test_service_key')
    expect(Object.keys(newest!.headers).map((key) => key.toLowerCase())).not.toContain('authorization')
    const [offenders] = await db.sql`
      SELECT count(*)::integer AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname IN ('public', 'pgmq') AND p.prosrc ~ 'net\\.http_post' AND p.prosrc ~ 'Authorization'`
    expect(offenders!.n).toBe(0)
  })
})
