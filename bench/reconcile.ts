// Reconcile bulk-update cost: 10 000 message_statuses rows reconciled from 10 000 Twilio messages
// through the queries the function runs per page (src/shared/reconcile/page-queries.ts), against
// one plain `UPDATE … FROM (VALUES …)` of the same 10 000 rows by primary key in the same run.
// Goal: at most 2× the plain update. Two cases:
//   by order — rows have no Twilio SID yet: each page is staged, the last page pairs them all;
//   by SID   — rows already carry their SID (Missive webhook / status callback): one UPDATE per page.
// `npx tsx bench/reconcile.ts` (or `npm run bench -- reconcile`).
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { createSql, type Sql } from '../src/shared/db/client.ts'
import { applyPage, clearStaged, type PageMessage, pairStaged, stopJobs } from '../src/shared/reconcile/page-queries.ts'
import { PAGE_SIZE } from '../src/shared/reconcile/reconcile-pass.ts'
import type { TargetRef } from '../src/shared/reconcile/target.ts'

const RECIPIENTS = 5_000 // × 2 phases = 10 000 rows and messages
const ROUNDS = 5
const RUN_AT = new Date('2025-01-15T18:00:00Z')

const phoneOf = (i: number) => `+1313${String(i).padStart(7, '0')}`

async function seed(sql: Sql): Promise<TargetRef> {
  const [{ id }] = await sql<{ id: number }[]>`
    INSERT INTO public.broadcasts (run_at, editable, no_users, first_message, second_message)
    VALUES (${RUN_AT}, false, ${RECIPIENTS}, 'First', 'Second') RETURNING id`
  await sql`INSERT INTO public.authors (phone_number) SELECT '+1313' || lpad(i::text, 7, '0') FROM generate_series(1, ${RECIPIENTS}::int) i`
  await sql`
    INSERT INTO public.message_statuses (recipient_phone_number, missive_id, missive_conversation_id, broadcast_id, is_second, message, created_at)
    SELECT '+1313' || lpad(i::text, 7, '0'), gen_random_uuid(), gen_random_uuid(), ${id}, second, 'Text',
           ${RUN_AT}::timestamptz + make_interval(secs => i + CASE WHEN second THEN 900 ELSE 0 END)
    FROM generate_series(1, ${RECIPIENTS}::int) i CROSS JOIN (VALUES (false), (true)) AS phase(second)`
  await sql`VACUUM ANALYZE public.message_statuses`
  return { kind: 'broadcast', id }
}

/** What Twilio would list, newest first, in pages of 300. */
function twilioPages(): PageMessage[][] {
  const messages: PageMessage[] = []
  for (let i = 1; i <= RECIPIENTS; i++) {
    messages.push({
      sid: `SMfirst${i}`,
      to: phoneOf(i),
      status: 'delivered',
      dateSent: new Date(RUN_AT.getTime() + (i + 2) * 1000),
      body: 'Text',
    })
    messages.push({
      sid: `SMsecond${i}`,
      to: phoneOf(i),
      status: 'undelivered',
      dateSent: new Date(RUN_AT.getTime() + (i + 902) * 1000),
      body: 'Text',
    })
  }
  messages.sort((a, b) => b.dateSent!.getTime() - a.dateSent!.getTime())
  const pages: PageMessage[][] = []
  for (let i = 0; i < messages.length; i += PAGE_SIZE) pages.push(messages.slice(i, i + PAGE_SIZE))
  return pages
}

async function resetRows(sql: Sql, withSids: boolean): Promise<void> {
  if (withSids) {
    await sql`
      UPDATE public.message_statuses SET twilio_sent_status = 'sent', twilio_sent_at = NULL, updated_at = NULL,
        twilio_id = CASE WHEN is_second THEN 'SMsecond' ELSE 'SMfirst' END || ltrim(substr(recipient_phone_number, 6), '0')`
  } else {
    await sql`UPDATE public.message_statuses SET twilio_id = NULL, twilio_sent_status = 'delivered', twilio_sent_at = NULL, updated_at = NULL`
  }
  await sql`VACUUM ANALYZE public.message_statuses`
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await run()
  return performance.now() - started
}

/**
 * The function's path (reconcile-pass.ts applyFetchedPage): each page one statement that also
 * moves the page token; the first page clears a stale pass and the last pairs and stops the jobs,
 * each in a transaction.
 */
async function reconcileThroughPages(sql: Sql, target: TargetRef, pages: PageMessage[][]): Promise<void> {
  const now = new Date()
  const tokens = pages.map((_, i) => (i === pages.length - 1 ? null : `PAbench${i}`))
  for (const [i, page] of pages.entries()) {
    const cursor = { from: i === 0 ? null : tokens[i - 1]!, to: tokens[i]! }
    const applied = i === 0 || i === pages.length - 1
      ? await sql.begin(async (tx) => {
        if (i === 0) await clearStaged(tx, target)
        const result = await applyPage(tx, target, cursor, page, now)
        if (i === pages.length - 1) {
          await pairStaged(tx, target, now)
          await clearStaged(tx, target)
          await stopJobs(tx, target)
        }
        return result
      })
      : await applyPage(sql, target, cursor, page, now)
    if (!applied) throw new Error(`page ${i} was not applied`)
  }
}

/** The baseline: the same 10 000 rows updated in one statement, ids known in advance. */
async function plainBulkUpdate(sql: Sql, values: [number, string, string, string][]): Promise<void> {
  await sql`
    UPDATE public.message_statuses ms SET
      twilio_id = v.sid, twilio_sent_status = v.status::public.twilio_status,
      twilio_sent_at = v.date_sent::timestamptz, updated_at = now()
    FROM (VALUES ${sql(values)}) AS v (id, sid, status, date_sent)
    WHERE ms.id = v.id::int`
}

async function check(sql: Sql): Promise<void> {
  const [row] = await sql<{ wrong: number }[]>`
    SELECT count(*)::int AS wrong FROM public.message_statuses
    WHERE twilio_id IS DISTINCT FROM (CASE WHEN is_second THEN 'SMsecond' ELSE 'SMfirst' END) || ltrim(substr(recipient_phone_number, 6), '0')
       OR twilio_sent_status::text <> CASE WHEN is_second THEN 'undelivered' ELSE 'delivered' END`
  if (row!.wrong !== 0) throw new Error(`${row!.wrong} rows reconciled wrongly`)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main() {
  const throwaway = await startThrowawayCluster()
  const sql = createSql(await cloneTemplate(throwaway, 'bench_reconcile'), { max: 2 })
  try {
    const target = await seed(sql)
    const pages = twilioPages()
    const rows = await sql<{ id: number; phone: string; is_second: boolean }[]>`
      SELECT id, recipient_phone_number AS phone, is_second FROM public.message_statuses`
    const values: [number, string, string, string][] = rows.map((row) => {
      const i = Number(row.phone.slice(5))
      const sent = new Date(RUN_AT.getTime() + (i + (row.is_second ? 902 : 2)) * 1000)
      return [
        row.id,
        `${row.is_second ? 'SMsecond' : 'SMfirst'}${i}`,
        row.is_second ? 'undelivered' : 'delivered',
        sent.toISOString(),
      ]
    })

    const results = { byOrder: [] as number[], bySid: [] as number[], plain: [] as number[] }
    // Warm-up, then alternate so drift on a noisy machine hits every variant alike.
    await resetRows(sql, false)
    await reconcileThroughPages(sql, target, pages)
    for (let round = 0; round < ROUNDS; round++) {
      await resetRows(sql, false)
      results.byOrder.push(await timed(() => reconcileThroughPages(sql, target, pages)))
      await check(sql)
      await resetRows(sql, true)
      results.bySid.push(await timed(() => reconcileThroughPages(sql, target, pages)))
      await check(sql)
      await resetRows(sql, false)
      results.plain.push(await timed(() => plainBulkUpdate(sql, values)))
      await check(sql)
    }

    const plain = median(results.plain)
    console.log(`${rows.length} rows, ${pages.length} Twilio pages of ${PAGE_SIZE}, median of ${ROUNDS} rounds`)
    console.log(`plain UPDATE … FROM (VALUES …), one statement: ${plain.toFixed(0)} ms`)
    let met = true
    for (
      const [name, times] of [['reconcile, paired by order', results.byOrder], [
        'reconcile, matched by SID',
        results.bySid,
      ]] as const
    ) {
      const ratio = median(times) / plain
      met &&= ratio <= 2
      console.log(`${name}: ${median(times).toFixed(0)} ms = ${ratio.toFixed(2)}× the plain update (goal ≤ 2×)`)
    }
    console.log(met ? 'goal met' : 'GOAL NOT MET')
  } finally {
    await sql.end()
    await throwaway.destroy()
  }
}

await main()
