import type { Config } from '../config/env.ts'
import type { Sql } from '../db/client.ts'
import { AppError, badRequest, conflict, notFound } from '../http/errors.ts'
import { type Logger, maskPhone } from '../log/logger.ts'
import { type MissiveClient, provedNotActedOn } from '../missive/index.ts'
import { normalizePhone } from '../phone/normalize.ts'
import { outgoingText } from '../texts/outgoing.ts'
import type { Recipient } from '../texts/placeholders.ts'
import { findCampaign } from './queries.ts'

/** How long a test send waits for a free slot in the token's windows before answering 429. */
export const TEST_SEND_MAX_WAIT_MS = 5_000

/** 429: the first-message token's windows are full (a large campaign or broadcast is going out). */
export class TestSendRateLimited extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super(
      429,
      `Missive's rate windows for this token are full (messages are going out); try the test send again in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    )
  }
}

interface RecipientFacts {
  unsubscribed: boolean
  exclude: boolean | null
}

/**
 * DESIGN.md: "an opted-out number never receives anything we send on purpose, test sends
 * included". Same rule as the sender (eligibility.ts): unsubscribed, or `exclude` not false (NULL
 * counts as excluded). A number we have never seen is fine: nobody opted it out.
 */
async function refuseOptedOut(sql: Sql, phoneNumber: string): Promise<void> {
  const [author] = await sql<RecipientFacts[]>`
    SELECT unsubscribed, exclude FROM public.authors WHERE phone_number = ${phoneNumber}`
  if (!author) return
  if (author.unsubscribed) {
    throw conflict(`${phoneNumber} is unsubscribed: test messages are not sent to numbers that opted out`, {
      reason: 'unsubscribed',
    })
  }
  if (author.exclude !== false) {
    throw conflict(`${phoneNumber} is excluded from sends: test messages are not sent to excluded numbers`, {
      reason: 'excluded',
    })
  }
}

export interface TestSendResult {
  sent: true
  phoneNumber: string
  draftId: string
  conversationId: string
}

/**
 * POST /campaigns/:id/test/ {phoneNumber}: the campaign's first message to one number, now, for an
 * editor to see it on a phone. It is not part of the campaign: no queue message, no ledger row, no
 * status row, no campaign labels on the conversation (they would pull the tester into label
 * segments), and the campaign's status does not change. It is still a send: refused (409) to an
 * unsubscribed or excluded number, and paced by the first-message token's windows, which it shares
 * with every drain (upstream called Missive directly, so a test during a 1 msg/s broadcast could
 * push the token over Missive's limit).
 */
export async function sendTestMessage(
  deps: { sql: Sql; missive: MissiveClient; log: Logger; config: Config },
  id: number,
  rawPhone: string,
): Promise<TestSendResult> {
  const { sql, missive, log, config } = deps
  const phoneNumber = normalizePhone(rawPhone)
  if (!phoneNumber) {
    throw badRequest('Validation error: [phoneNumber] Not a phone number: use +13135550123 or 313-555-0123')
  }
  const campaign = await findCampaign(sql, id)
  if (!campaign) throw notFound('Campaign not found')

  const context = { campaignId: id, phone: maskPhone(phoneNumber) }
  await refuseOptedOut(sql, phoneNumber)

  // One slot in the first-message token's windows, reserved with a longer wait than a plain call
  // gets, and handed to the draft so the client does not take a second one.
  const slot = await missive.reserve('first-messages', TEST_SEND_MAX_WAIT_MS)
  if (!slot.ok) {
    log.warn('test message refused: rate windows full', { ...context, waitMs: slot.waitMs })
    throw new TestSendRateLimited(Math.max(1, Math.ceil(slot.waitMs / 1000)))
  }
  // Rendered as that number would receive it (its authors row, or the fallbacks for a stranger).
  const [recipient] = await sql<
    Recipient[]
  >`SELECT name, zipcode FROM public.authors WHERE phone_number = ${phoneNumber}`
  const body = outgoingText(campaign.firstMessage, recipient ?? null, {
    templated: true,
    smartEncoding: config.SMS_SMART_ENCODING,
  })
  const result = await missive.sendDraft({ body, to: phoneNumber, phase: 'first' }, slot)
  if (!result.ok) {
    log.warn('test message not sent', { ...context, status: result.status, kind: result.kind, error: result.error })
    throw new AppError(502, `Missive did not send the test message: ${result.error}`, {
      missiveStatus: result.status,
      kind: result.kind,
      ...(!provedNotActedOn(result)
        ? { detail: 'Missive may have sent it anyway: check the phone before trying again' }
        : {}),
    })
  }
  log.info('test message sent', { ...context, draftId: result.draftId })
  return { sent: true, phoneNumber, draftId: result.draftId, conversationId: result.conversationId }
}
