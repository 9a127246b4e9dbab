import type { Sql } from '../../shared/db/client.ts'
import type { LedgerRecord } from './figures.ts'

// The crash test's broadcast: its own audience of fictional numbers, set up the way an editor's
// broadcast is (a segment linked to the editable broadcast) and sent with send-now, so it goes
// through make's hand-over, the enqueue, the queue trigger, pg_net and send-messages.

/** +1 248 555-0000 onward: a block of numbers no sandbox author uses. */
export const phoneOf = (index: number) => `+1248${String(5_550_000 + index).padStart(7, '0')}`
const SEGMENT_NAME = 'Crash test audience'

export interface PreparedBroadcast {
  broadcastId: number
  phones: string[]
  firstMessage: string
  secondMessage: string
}

export async function prepareBroadcast(
  sql: Sql,
  options: { recipients: number; delaySeconds: number; runId: string },
): Promise<PreparedBroadcast> {
  const phones = Array.from({ length: options.recipients }, (_, i) => phoneOf(i))
  const firstMessage = `Crash test ${options.runId}: what should we look into this week? Reply to this text.`
  const secondMessage = `Crash test ${options.runId}: thanks for reading. Reply STOP to stop these texts.`
  return await sql.begin(async (tx) => {
    // No weekly slot may fire a second broadcast during the test (nor refuse send-now near one).
    await tx`UPDATE public.broadcast_settings SET active = false WHERE active`
    await tx`
      INSERT INTO public.authors (phone_number, name, unsubscribed)
      SELECT phone, 'Crash test reader', false FROM unnest(${phones}::text[]) AS phone
      ON CONFLICT (phone_number) DO NOTHING`
    const [segment] = await tx<{ id: number }[]>`
      INSERT INTO public.audience_segments (name, description, query)
      VALUES (${SEGMENT_NAME}, 'Fictional numbers of npm run chaos',
              'SELECT a.phone_number FROM public.authors a WHERE a.phone_number LIKE ''+1248555%'' ORDER BY a.phone_number')
      RETURNING id`
    const [broadcast] = await tx<{ id: number }[]>`
      UPDATE public.broadcasts
      SET first_message = ${firstMessage}, second_message = ${secondMessage},
          original_first_message = ${firstMessage}, original_second_message = ${secondMessage},
          delay = ${options.delaySeconds}, no_users = ${options.recipients}, run_at = NULL
      WHERE editable
      RETURNING id`
    if (!broadcast) throw new Error('no editable broadcast to send (the seed creates one)')
    await tx`DELETE FROM public.broadcasts_segments WHERE broadcast_id = ${broadcast.id}`
    await tx`
      INSERT INTO public.broadcasts_segments (broadcast_id, segment_id, ratio)
      VALUES (${broadcast.id}, ${segment!.id}, 100)`
    return { broadcastId: broadcast.id, phones, firstMessage, secondMessage }
  })
}

/** What is left to do: queued (visible or leased) messages, claims in flight, undecided outcomes. */
export interface Backlog {
  firstQueued: number
  secondQueued: number
  sending: number
  unknown: number
}

export async function backlog(sql: Sql, broadcastId: number): Promise<Backlog> {
  const [row] = await sql<Backlog[]>`
    SELECT (SELECT count(*) FROM pgmq.q_broadcast_first_messages)::int AS "firstQueued",
           (SELECT count(*) FROM pgmq.q_broadcast_second_messages)::int AS "secondQueued",
           (SELECT count(*) FROM public.message_sends WHERE broadcast_id = ${broadcastId} AND state = 'sending')::int AS sending,
           (SELECT count(*) FROM public.message_sends WHERE broadcast_id = ${broadcastId} AND state = 'unknown')::int AS unknown`
  return row!
}

export async function readLedger(sql: Sql, broadcastId: number): Promise<LedgerRecord[]> {
  const rows = await sql<
    { phone: string; is_second: boolean; state: string; detail: string | null; resolved_at: Date | null }[]
  >`
    SELECT recipient_phone_number AS phone, is_second, state, detail, resolved_at
    FROM public.message_sends WHERE broadcast_id = ${broadcastId}`
  return rows.map((row) => ({
    phone: row.phone,
    phase: row.is_second ? 'second' : 'first',
    state: row.state,
    detail: row.detail,
    resolvedAt: row.resolved_at,
  }))
}
