import type { Sql } from '../db/client.ts'
import { AppError, notFound } from '../http/errors.ts'
import { type AudienceValues, estimateText, type TextEstimate } from '../texts/estimate.ts'
import { outgoingText } from '../texts/outgoing.ts'
import { findUpcoming } from './queries.ts'

// POST /broadcast-sidebar/preview/: the upcoming broadcast's texts (or the ones being edited)
// rendered for its first recipients, with their encoding, segments and cost (issue 14).
//
// The audience of a broadcast is what public.queue_broadcast_messages selects (segment queries in
// their sandbox, ratios of no_users, the 'Inactive' top-up, eligibility). Rather than a second
// copy of that selection that could drift from the real one, the preview runs the real one in a
// transaction that is always rolled back: the rows it queued are read back and nothing is
// committed (no queue row, no sender kick, no cron change: all of it is transactional). A short
// lock_timeout keeps a preview from waiting behind a drain's job lock.

export interface BroadcastPreviewRecipient {
  phoneNumber: string
  name: string | null
  zipcode: string | null
  firstMessage: string
  secondMessage: string | null
}

export interface BroadcastPreview {
  id: number
  recipient_count: number
  texts: { firstMessage: TextEstimate; secondMessage: TextEstimate | null }
  recipients: BroadcastPreviewRecipient[]
}

class DryRunDone extends Error {}

interface AudienceRow {
  phone_number: string
  name: string | null
  zipcode: string | null
}

async function dryRunAudience(sql: Sql, broadcastId: number, limit: number) {
  let values: AudienceValues[] = []
  let first: AudienceRow[] = []
  try {
    await sql.begin(async (tx) => {
      await tx`SET LOCAL lock_timeout = '3s'`
      await tx`SELECT public.queue_broadcast_messages(${broadcastId}::integer)`
      // Only this transaction can have queued messages of an editable broadcast (it has never run).
      const queued = tx`
        SELECT q.msg_id, a.phone_number, a.name, a.zipcode
        FROM pgmq.q_broadcast_first_messages q
        JOIN public.authors a ON a.phone_number = q.message->>'recipient_phone_number'
        WHERE q.message->>'broadcast_id' = ${String(broadcastId)}`
      values = [
        ...await tx<AudienceValues[]>`
        SELECT name, zipcode, count(*)::integer AS count FROM (${queued}) AS r GROUP BY name, zipcode`,
      ]
      first = [
        ...await tx<AudienceRow[]>`
        SELECT phone_number, name, zipcode FROM (${queued}) AS r ORDER BY msg_id LIMIT ${limit}`,
      ]
      throw new DryRunDone()
    })
  } catch (error) {
    if (error instanceof DryRunDone) return { values, first }
    if ((error as { code?: string }).code === '55P03') {
      throw new AppError(503, 'The sender is busy enqueueing; try the preview again in a few seconds')
    }
    throw error
  }
  return { values, first }
}

export async function previewUpcomingBroadcast(
  sql: Sql,
  input: { firstMessage?: string; secondMessage?: string; limit: number },
  smartEncoding: boolean,
): Promise<BroadcastPreview> {
  const upcoming = await findUpcoming(sql)
  if (!upcoming) throw notFound('There is no upcoming broadcast to preview')
  const texts = {
    firstMessage: input.firstMessage ?? upcoming.firstMessage,
    secondMessage: input.secondMessage ?? upcoming.secondMessage,
  }
  const { values, first } = await dryRunAudience(sql, upcoming.id, input.limit)
  const hasSecond = !!texts.secondMessage?.trim()
  const options = { templated: true, smartEncoding }
  const firstEstimate = estimateText(texts.firstMessage, values, { smartEncoding })
  return {
    id: upcoming.id,
    recipient_count: firstEstimate.recipients,
    texts: {
      firstMessage: firstEstimate,
      secondMessage: hasSecond ? estimateText(texts.secondMessage, values, { smartEncoding }) : null,
    },
    recipients: first.map((row) => ({
      phoneNumber: row.phone_number,
      name: row.name,
      zipcode: row.zipcode,
      firstMessage: outgoingText(texts.firstMessage, row, options),
      secondMessage: hasSecond ? outgoingText(texts.secondMessage, row, options) : null,
    })),
  }
}
