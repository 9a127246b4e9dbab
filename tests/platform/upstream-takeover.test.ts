import { readdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { broadcastSidebarFunction } from '../../src/shared/broadcasts/sidebar-function.ts'
import { campaignFunction } from '../../src/shared/campaigns/campaign-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { applyMigrations, migrationsDir } from '../../src/local/postgres/migrate.ts'
import { runUpgradeCheck } from '../../src/local/upgrade/upgrade-check.ts'
import type { Sql } from '../../src/shared/db/client.ts'
import { asStaff, createTestDeps } from '../support/app.ts'
import { type Fakes, startFakes } from '../support/fakes.ts'
import { callSendMessages } from '../sending/helpers.ts'
import {
  createUpstreamDatabase,
  hasUpstreamMigrations,
  removeCronShim,
  tableHashes,
  type UpstreamDatabase,
} from '../support/upstream-database.ts'

// Issue 13: a production database built by upstream's 18 migrations, with data written through
// upstream's own SQL functions and triggers (and its sender's writes, replayed in SQL), taken over
// by one `supabase db push` of ours (simulated: our directory applied in order, versions recorded as
// the CLI records them) and our functions.

if (!hasUpstreamMigrations) {
  console.warn(
    'upstream-takeover: ../shared/reference/upstream-migrations is absent (a checkout without ../shared); skipped',
  )
}

const UPSTREAM_KEY = 'sb_secret_upstream_0123456789abcdef'
const STATION = '+13135550000'
const A = ['+13135550101', '+13135550102', '+13135550103', '+13135550104', '+13135550105']
const UNSUBSCRIBED = '+13135550106'
const NEW_NUMBER = '+13135550109'
const LABEL = '0b9f8c36-5f43-4b5e-9a55-7c1f2c3d4e5f'

let db: UpstreamDatabase
let fakes: Fakes
const ids: Record<string, number> = {}
let applied: string[] = []
let before: Awaited<ReturnType<typeof tableHashes>>
let broadcastsBefore: Awaited<ReturnType<typeof tableHashes>>
let beforeCheck: Awaited<ReturnType<typeof runUpgradeCheck>>
let editableBefore: number[] = []
let jobsBefore: { jobname: string; schedule: string; command: string }[] = []

/** What upstream's send-messages does with one queue message after Missive accepted it (§2.3). */
async function upstreamSent(sql: Sql, queue: 'first' | 'second', msgId: number): Promise<void> {
  await sql.begin(async (tx) => {
    const [row] = await tx`SELECT message FROM ${tx(`pgmq.q_broadcast_${queue}_messages`)} WHERE msg_id = ${msgId}`
    const meta = row!.message
    const isSecond = queue === 'second'
    let secondQueueId: number | null = null
    if (!isSecond && meta.second_message) {
      const [sent] =
        await tx`SELECT pgmq.send('broadcast_second_messages', ${meta}::jsonb, ${meta.delay}::integer) AS id`
      secondQueueId = Number(sent!.id)
    }
    await tx`SELECT pgmq.delete(${`broadcast_${queue}_messages`}, ${msgId}::bigint)`
    await tx`
      INSERT INTO message_statuses (recipient_phone_number, message, is_second, broadcast_id, campaign_id, missive_id,
                                    missive_conversation_id, audience_segment_id, second_message_queue_id)
      VALUES (${meta.recipient_phone_number}, ${isSecond ? meta.second_message : meta.first_message}, ${isSecond},
              ${meta.broadcast_id ?? null}, ${meta.campaign_id ?? null}, gen_random_uuid(), gen_random_uuid(),
              ${meta.segment_id ?? null}, ${secondQueueId})`
  })
}

async function queued(sql: Sql, queue: 'first' | 'second') {
  return await sql<{ msg_id: string; message: any }[]>`
    SELECT msg_id, message FROM ${sql(`pgmq.q_broadcast_${queue}_messages`)} ORDER BY msg_id`
}

/**
 * Production between upstream's 20250227 and 20250317 releases: check_and_run_campaigns scheduled a
 * one-shot `delay-reconcile-twilio-status` which, two hours later, scheduled a per-minute
 * `reconcile-twilio-status` job that nothing ever removed, both with the key in their command.
 */
async function runCampaignOfFebruary(sql: Sql): Promise<void> {
  await sql`SELECT vault.create_secret('http://edge.upstream.test/functions/v1/', 'edge_function_url')`
  await sql`SELECT vault.create_secret(${UPSTREAM_KEY}, 'secret_key')`
  await sql.begin(async (tx) => {
    const [c0] = await tx`
      INSERT INTO campaigns (title, first_message, segments, run_at)
      VALUES ('February campaign', 'C0 first', ${tx.json({ included: [{ id: LABEL }] })}, date_trunc('minute', now()))
      RETURNING id`
    ids.c0 = c0!.id
    await tx`SELECT check_and_run_campaigns()`
  })
  const [delayed] = await sql`SELECT command FROM cron.job WHERE jobname = 'delay-reconcile-twilio-status'`
  await sql.unsafe(delayed!.command) // what pg_cron ran two hours later
  await sql`UPDATE campaigns SET run_at = now() - interval '280 days' WHERE id = ${ids.c0!}`
}

/** Upstream's production state: history, a broadcast half sent, a reply, a STOP, campaigns, jobs. */
async function writeUpstreamFixture(sql: Sql): Promise<void> {
  await sql`INSERT INTO authors (phone_number, name) VALUES (${STATION}, 'Station')`
  await sql`INSERT INTO authors (phone_number, name) SELECT unnest(${A}::text[]), 'Reader'`
  await sql`INSERT INTO authors (phone_number, unsubscribed) VALUES (${UNSUBSCRIBED}, true)`
  const [active] = await sql`
    INSERT INTO audience_segments (name, description, query)
    VALUES ('Active', 'subscribed readers',
            'SELECT phone_number FROM public.authors WHERE unsubscribed = false AND exclude = false AND name = ''Reader'' ORDER BY phone_number')
    RETURNING id`
  await sql`INSERT INTO audience_segments (name, description, query)
            VALUES ('Inactive', 'nobody', 'SELECT phone_number FROM public.authors WHERE false')`
  // Every day, 6 hours from now (Detroit time): never due during the test.
  await sql`INSERT INTO broadcast_settings (mon, tue, wed, thu, fri, sat, sun)
            SELECT t, t, t, t, t, t, t FROM (SELECT ((now() + interval '6 hours') AT TIME ZONE 'America/Detroit')::time AS t) AS slot`

  // Broadcast history, 3 days ago.
  const [old] = await sql`
    INSERT INTO broadcasts (run_at, editable, no_users, first_message, second_message, delay)
    VALUES (now() - interval '3 days', false, 2, 'B0 first', 'B0 second', 600) RETURNING id`
  ids.b0 = old!.id
  for (const phone of A.slice(0, 2)) {
    await sql`INSERT INTO message_statuses (recipient_phone_number, message, is_second, broadcast_id, missive_id,
                                            missive_conversation_id, twilio_id, twilio_sent_status)
              VALUES (${phone}, 'B0 first', false, ${ids.b0}, gen_random_uuid(), gen_random_uuid(), 'SM' || md5(${phone}), 'delivered')`
  }

  // A broadcast half sent 30 minutes ago: queued by upstream's queue_broadcast_messages (its insert
  // trigger schedules the 2-second sender job with the key baked in), two first messages sent.
  const [b1] = await sql`
    INSERT INTO broadcasts (run_at, editable, no_users, first_message, second_message, delay)
    VALUES (now() - interval '30 minutes', false, 4, 'B1 first', 'B1 second', 600) RETURNING id`
  ids.b1 = b1!.id
  await sql`INSERT INTO broadcasts_segments (broadcast_id, segment_id, ratio) VALUES (${ids.b1}, ${active!.id}, 100)`
  await sql`SELECT queue_broadcast_messages(${ids.b1})`
  const firstQueue = await queued(sql, 'first')
  const byPhone = (phone: string) => firstQueue.find((row) => row.message.recipient_phone_number === phone)!
  await upstreamSent(sql, 'first', Number(byPhone(A[0]!).msg_id))
  await upstreamSent(sql, 'first', Number(byPhone(A[1]!).msg_id))
  // A make retried after a crash enqueued A[0]'s first message again (upstream would send it twice).
  await sql`SELECT pgmq.send('broadcast_first_messages', ${byPhone(A[0]!).message}::jsonb)`

  // A reply from A[0] (upstream's user-actions deletes the pending follow-up) and a STOP from A[1].
  const [reply] = await sql`
    INSERT INTO twilio_messages (preview, delivered_at, "references", from_field, to_field, is_reply, reply_to_broadcast)
    VALUES ('Thanks!', now(), '{}', ${A[0]!}, ${STATION}, true, ${ids.b1}) RETURNING id`
  const [followUp] = await sql`
    SELECT second_message_queue_id FROM message_statuses WHERE broadcast_id = ${ids.b1} AND recipient_phone_number = ${A[
    0
  ]!}`
  await sql`SELECT pgmq.delete('broadcast_second_messages', ${followUp!.second_message_queue_id}::bigint)`
  expect(reply).toBeDefined()
  const [stop] = await sql`
    INSERT INTO twilio_messages (preview, delivered_at, "references", from_field, to_field, is_reply, reply_to_broadcast)
    VALUES ('STOP', now(), '{}', ${A[1]!}, ${STATION}, true, ${ids.b1}) RETURNING id`
  const [stopped] =
    await sql`SELECT id FROM message_statuses WHERE broadcast_id = ${ids.b1} AND recipient_phone_number = ${A[1]!}`
  await sql`INSERT INTO unsubscribed_messages (broadcast_id, twilio_message_id, reply_to) VALUES (${ids.b1}, ${
    stop!.id
  }, ${stopped!.id})`
  await sql`UPDATE authors SET unsubscribed = true WHERE phone_number = ${A[1]!}`

  // Two editable broadcasts (upstream never limited them to one).
  const [b2] = await sql`INSERT INTO broadcasts (editable, no_users, first_message, second_message)
                         VALUES (true, 4, 'B2 draft', 'B2 second') RETURNING id`
  const [b3] = await sql`INSERT INTO broadcasts (editable, no_users, first_message, second_message)
                         VALUES (true, 4, 'B3 draft', 'B3 second') RETURNING id`
  ids.b2 = b2!.id
  ids.b3 = b3!.id

  // Campaigns of every kind. A label segment and a CSV campaign, each run by upstream's
  // check_and_run_campaigns in its minute (one per call: upstream's temp table allows no more).
  await sql`INSERT INTO labels (id, name) VALUES (${LABEL}, 'Housing')`
  for (const phone of A.slice(2)) {
    const [conversation] = await sql`INSERT INTO conversations (web_url, app_url) VALUES ('w', 'a') RETURNING id`
    await sql`INSERT INTO conversations_authors (conversation_id, author_phone_number) VALUES (${
      conversation!.id
    }, ${phone})`
    await sql`INSERT INTO conversations_labels (conversation_id, label_id) VALUES (${conversation!.id}, ${LABEL})`
  }
  await sql.begin(async (tx) => {
    await tx`DROP TABLE IF EXISTS pg_temp.campaign_recipients_temp`
    const [c1] = await tx`
      INSERT INTO campaigns (title, first_message, second_message, segments, run_at, label_ids)
      VALUES ('Label campaign', 'C1 first', 'C1 second', ${tx.json({ included: [{ id: LABEL }] })},
              date_trunc('minute', now()), ${[LABEL]}) RETURNING id`
    ids.c1 = c1!.id
    await tx`SELECT check_and_run_campaigns()`
  })
  await sql.begin(async (tx) => {
    await tx`DROP TABLE IF EXISTS pg_temp.campaign_recipients_temp`
    const [c2] = await tx`
      INSERT INTO campaigns (title, first_message, run_at, recipient_file_url)
      VALUES ('CSV campaign', 'C2 first', date_trunc('minute', now()), 'campaign-recipients/c2.csv') RETURNING id`
    ids.c2 = c2!.id
    await tx`INSERT INTO campaign_file_recipients (campaign_id, phone_number) VALUES (${ids.c2}, ${A[
      0
    ]!}), (${ids.c2}, ${A[4]!})`
    await tx`SELECT check_and_run_campaigns()`
  })
  // The CSV campaign went out completely before the takeover.
  for (const row of await queued(sql, 'first')) {
    if (row.message.campaign_id === ids.c2) await upstreamSent(sql, 'first', Number(row.msg_id))
  }
  // A personalized campaign (upstream's trigger turns the INSERT into a campaign and queues it).
  await sql`INSERT INTO campaign_personalized_recipients (phone_number, message)
            VALUES (${A[3]!}, 'C3 for A4'), (${NEW_NUMBER.slice(1)}, 'C3 for a new number')`
  ids.c3 = (await sql`SELECT max(id) AS id FROM campaigns`)[0]!.id
  // An upcoming campaign, and one run long ago.
  const [c4] = await sql`INSERT INTO campaigns (first_message, segments, run_at)
                         VALUES ('C4 first', ${
    sql.json({ included: { id: LABEL } })
  }, now() + interval '1 day') RETURNING id`
  ids.c4 = c4!.id
  const [c5] = await sql`INSERT INTO campaigns (first_message, segments, run_at, processed, recipient_count)
                         VALUES ('C5 first', ${
    sql.json({ included: { id: LABEL } })
  }, now() - interval '3 days', true, 1)
                         RETURNING id`
  ids.c5 = c5!.id
  await sql`INSERT INTO message_statuses (recipient_phone_number, message, is_second, campaign_id, missive_id, missive_conversation_id)
            VALUES (${A[2]!}, 'C5 first', false, ${ids.c5}, gen_random_uuid(), gen_random_uuid())`

  // Upstream's daily jobs, as they fired today: per-item reconcile and hygiene jobs.
  await sql`SELECT schedule_daily_broadcast_reconciliation()`
  await sql`SELECT schedule_daily_failed_deliveries_handler()`
  await sql`SELECT schedule_daily_archive_double_failures()`
}

describe.skipIf(!hasUpstreamMigrations)('taking over a database that upstream built', () => {
  beforeAll(async () => {
    db = await createUpstreamDatabase({ '20250227075436': runCampaignOfFebruary })
    fakes = await startFakes()
    await writeUpstreamFixture(db.sql)
    await removeCronShim(db.sql)
    jobsBefore = await db.sql`SELECT jobname, schedule, command FROM cron.job ORDER BY jobid`
    editableBefore = (await db.sql`SELECT id FROM broadcasts WHERE editable ORDER BY id`).map((r) => r.id)
    beforeCheck = await runUpgradeCheck(db.sql)
    before = await tableHashes(db.sql)
    broadcastsBefore = await tableHashes(
      db.sql,
      new Map([['public.broadcasts', before.columns.get('public.broadcasts')!.filter((c) => c !== 'editable')]]),
    )
    applied = await applyMigrations(db.sql)
  }, 120_000)

  afterAll(async () => {
    await fakes?.missive.close()
    await fakes?.twilio.close()
    await db?.drop()
  })

  it('starts from what upstream left: 2-second senders and jobs with the key in their command', async () => {
    expect(db.versions).toHaveLength(18)
    expect(editableBefore).toEqual([ids.b2, ids.b3])
    const job = (name: string) => jobsBefore.find((j) => j.jobname === name)
    expect(job('send-first-messages')).toMatchObject({
      schedule: '2 seconds',
      command: expect.stringContaining(UPSTREAM_KEY),
    })
    expect(job('send-second-messages')).toMatchObject({ schedule: '2 seconds' })
    for (
      const name of [
        `reconcile-twilio-status-broadcast-${ids.b1}`,
        'handle-failed-deliveries-daily',
        'archive-double-failures-daily',
      ]
    ) {
      expect(job(name)?.command, name).toContain(UPSTREAM_KEY)
    }
    expect(job(`unschedule-broadcast-reconcile-${ids.b1}`)?.command).toMatch(/cron\.unschedule\(/)
    expect(job('reconcile-twilio-status')?.command).toContain(UPSTREAM_KEY)
    expect(job('delay-reconcile-twilio-status')?.command).toContain(UPSTREAM_KEY)
  })

  it('the "before" checks say what to fix before pushing', () => {
    expect(beforeCheck.phase).toBe('before')
    const verdicts = Object.fromEntries(beforeCheck.results.map((r) => [r.name, r.ok]))
    expect(verdicts).toEqual({
      'migration history': true,
      'editable broadcasts': false,
      'queue depth': false,
      'recent broadcast': false,
      'upcoming sends': true,
    })
    expect(beforeCheck.results.find((r) => r.name === 'editable broadcasts')!.detail).toContain(`keeps #${ids.b3}`)
  })

  it("applies every one of our migrations after upstream's versions, as supabase db push does", async () => {
    const ours = (await readdir(migrationsDir)).filter((file) =>
      file.endsWith('.sql') && file.split('_')[0]! > '20250508095220'
    )
    expect(applied).toEqual(ours.sort())
    expect(await applyMigrations(db.sql)).toEqual([])
  })

  it('changes no existing value, except `editable` of the extra editable broadcast', async () => {
    const after = await tableHashes(db.sql, before.columns)
    expect(after.hashes.size).toBeGreaterThan(40)
    const changed = [...before.hashes.keys()].filter((table) => before.hashes.get(table) !== after.hashes.get(table))
    expect(changed).toEqual(['public.broadcasts'])
    expect((await tableHashes(db.sql, broadcastsBefore.columns)).hashes).toEqual(broadcastsBefore.hashes)
    const rows = await db.sql`SELECT id, editable FROM broadcasts WHERE id IN ${db.sql([ids.b2!, ids.b3!])} ORDER BY id`
    expect(rows).toEqual([{ id: ids.b2, editable: false }, { id: ids.b3, editable: true }])
    await expect(db.sql`UPDATE broadcasts SET editable = true WHERE id = ${ids.b2!}`).rejects.toThrow(
      /broadcasts_one_editable/,
    )
  })

  it('the "after" checks are all ok: every job runs, no overload, no key, no sub-minute schedule', async () => {
    const check = await runUpgradeCheck(db.sql)
    expect(check.phase).toBe('after')
    for (const result of check.results) expect(result, result.detail).toMatchObject({ ok: true })
    const jobs = await db.sql`SELECT jobname, schedule, command FROM cron.job ORDER BY jobname`
    expect(jobs.filter((job) => /apikey|net\.http_|seconds/i.test(`${job.schedule} ${job.command}`))).toEqual([])
    expect(jobs.find((job) => job.jobname === 'send-first-messages')).toMatchObject({ schedule: '* * * * *' })
    expect(jobs.find((job) => job.jobname === 'send-second-messages')).toMatchObject({ schedule: '* * * * *' })
    expect(jobs.map((job) => job.jobname).filter((name) => name.startsWith('start-')).sort()).toEqual([
      `start-broadcast-reconcile-${ids.b0}`,
      `start-broadcast-reconcile-${ids.b1}`,
      `start-campaign-reconcile-${ids.c1}`,
      `start-campaign-reconcile-${ids.c2}`,
      // upstream's never-ending February job is handed to a (3-hour) pass of ours
      `start-campaign-reconcile-${ids.c0}`,
    ].sort())
    expect(jobs.map((job) => job.jobname)).not.toContain('handle-failed-deliveries-daily')
  })

  it('backfills the status of campaigns upstream already ran', async () => {
    const rows = await db.sql`SELECT id, status, processed FROM campaigns ORDER BY id`
    const status = Object.fromEntries(rows.map((row) => [row.id, row.status]))
    expect(status).toEqual({
      [ids.c0!]: 'sent',
      [ids.c1!]: 'sending',
      [ids.c2!]: 'sent',
      [ids.c3!]: 'sending',
      [ids.c4!]: 'scheduled',
      [ids.c5!]: 'sent',
    })
  })

  it('answers the sidebar and the campaign list on the migrated data', async () => {
    const deps = createTestDeps(db.sql, { env: fakes.env })
    const sidebar = await asStaff(createFunctionApp(broadcastSidebarFunction, deps)).request('/broadcast-sidebar/')
    expect(sidebar.status).toBe(200)
    const body = await sidebar.json()
    expect(body.upcoming).toMatchObject({ id: ids.b3 })
    const campaigns = await asStaff(createFunctionApp(campaignFunction, deps)).request('/campaigns/')
    expect(campaigns.status).toBe(200)
    expect((await campaigns.json()).upcoming.map((c: any) => c.id)).toEqual([ids.c4])
  })

  it('sends every message upstream queued exactly once, and nothing upstream had sent', async () => {
    const expectedFirst = (await queued(db.sql, 'first'))
      .filter((row) => !(row.message.broadcast_id === ids.b1 && row.message.recipient_phone_number === A[0]))
      .map((row) => `${row.message.first_message} → ${row.message.recipient_phone_number}`)
    await callSendMessages(db.sql, fakes, { isSecond: false })
    await db.sql`UPDATE pgmq.q_broadcast_second_messages SET vt = now()`
    await callSendMessages(db.sql, fakes, { isSecond: true })
    const sent = fakes.missive.drafts.map((draft) => `${draft.body} → ${draft.to}`).sort()
    expect(new Set(sent).size).toBe(sent.length)
    expect(sent).toEqual(expect.arrayContaining([...new Set(expectedFirst)]))
    // A[0]'s duplicate first message (upstream sent it) is not sent again.
    expect(sent).not.toContain(`B1 first → ${A[0]}`)
    expect(sent.filter((line) => line.startsWith('B1 first'))).toEqual([`B1 first → ${A[2]}`, `B1 first → ${A[3]}`])
    // Follow-ups: the one upstream queued for A[1] is not sent (STOP), A[0]'s was cancelled by the reply.
    expect(sent.filter((line) => line.startsWith('B1 second'))).toEqual([`B1 second → ${A[2]}`, `B1 second → ${A[3]}`])
    expect(sent).toContain(`C3 for a new number → ${NEW_NUMBER}`)
    expect(await queued(db.sql, 'first')).toEqual([])
    expect(await queued(db.sql, 'second')).toEqual([])
  })
})
