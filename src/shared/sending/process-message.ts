import type { Logger } from '../log/logger.ts'
import { maskPhone } from '../log/logger.ts'
import { provedNotActedOn, type SendDraftResult } from '../missive/index.ts'
import {
  archiveMessage,
  deleteMessage,
  type QueuedMessage,
  queuedMessageSchema,
  type QueueName,
  type QueueRow,
  secondMessageDelaySeconds,
  setVisibleIn,
} from '../queue/index.ts'
import type { Deps } from '../runtime/deps.ts'
import { type QuietHours, type QuietVerdict, quietVerdict } from '../schedule/quiet-hours.ts'
import { outgoingText } from '../texts/outgoing.ts'
import { recordOutgoingStatus } from '../webhooks/outgoing-status.ts'
import { recordSentDraft } from './complete-send.ts'
import { lastLookAndClaim } from './claim.ts'
import { checkEligibility, type Verdict } from './eligibility.ts'
import { excludedLabelGroups, matchExclusion } from './excluded-labels.ts'
import {
  type Claim,
  findLedgerEntry,
  firstPhaseConversation,
  type LedgerEntry,
  markUnknown,
  recordFailedAttempt,
  recordSkip,
  type SendKey,
  undoClaim,
} from './ledger.ts'
import { logOutcome, type Outcome } from './outcome.ts'
import { backoffSeconds, DEFAULT_RATE_LIMIT_RETRY_SECONDS, MAX_ATTEMPTS, RECORD_ATTEMPTS } from './retry-policy.ts'

export interface SendContext {
  deps: Deps
  log: Logger
  queue: QueueName
  isSecond: boolean
  /** Epoch ms after which no new Missive call is started. */
  deadline: number
  /** The window in which no broadcast or campaign text goes out (null: QUIET_HOURS=off). */
  quietHours: QuietHours | null
}

interface Claimed {
  ctx: SendContext
  row: QueueRow
  message: QueuedMessage
  key: SendKey
  log: Logger
}

/** Takes one claimed queue message to its outcome, and logs that outcome. */
export async function processMessage(ctx: SendContext, row: QueueRow): Promise<Outcome> {
  const parsed = queuedMessageSchema.safeParse(row.message)
  if (!parsed.success) {
    const log = ctx.log.child({ queue: ctx.queue, msgId: row.msgId })
    await archiveMessage(ctx.deps.sql, ctx.queue, row.msgId)
    const outcome: Outcome = {
      status: 'invalid',
      detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    }
    logOutcome(log, outcome)
    return outcome
  }
  const message = parsed.data
  const claimed: Claimed = {
    ctx,
    row,
    message,
    key: {
      broadcastId: message.broadcast_id,
      campaignId: message.campaign_id,
      phone: message.recipient_phone_number,
      isSecond: ctx.isSecond,
    },
    log: ctx.log.child({
      queue: ctx.queue,
      msgId: row.msgId,
      broadcastId: message.broadcast_id ?? undefined,
      campaignId: message.campaign_id ?? undefined,
      phase: ctx.isSecond ? 'second' : 'first',
      phone: maskPhone(message.recipient_phone_number),
    }),
  }
  const outcome = await decideAndSend(claimed)
  logOutcome(claimed.log, outcome)
  return outcome
}

async function decideAndSend(claimed: Claimed): Promise<Outcome> {
  const { ctx, row, message, key } = claimed
  const { sql } = ctx.deps

  // 1. An earlier claim of this recipient and phase decides first: nothing is sent twice.
  const earlier = await findLedgerEntry(sql, key)
  if (earlier) {
    const settled = await settleEarlierClaim(claimed, earlier)
    if (settled) return settled
  }

  // 2. Who may receive it, and the campaign's live exclusion labels.
  const verdict = await checkEligibility(sql, message, ctx.isSecond)
  if (verdict.kind !== 'send') return await applyVerdict(claimed, verdict)
  const excluded = await checkExcludedLabels(claimed)
  if (excluded) return excluded

  // 3. Quiet hours, before waiting for a slot (judged again at the claim, after every wait).
  const quiet = quietNow(claimed)
  if (quiet.kind !== 'send') return await applyQuiet(claimed, quiet)

  // 4. A slot in this token's rate windows (shared with every other drain).
  const slot = await ctx.deps.missive.reserve(
    ctx.isSecond ? 'second-messages' : 'first-messages',
    Math.max(0, ctx.deadline - ctx.deps.now().getTime()),
  )
  if (!slot.ok) {
    const seconds = Math.ceil(slot.waitMs / 1000)
    await setVisibleIn(sql, ctx.queue, row.msgId, seconds)
    return {
      status: 'deferred',
      detail: 'Missive rate windows full until after this drain',
      retryInSeconds: seconds,
      stopDrain: true,
    }
  }

  // 5. The last look and the claim, in one transaction after the wait (claim.ts): a reply or an
  // opt-out committed while we waited stops the send. `sending` is committed BEFORE Missive is
  // called: if we crash after Missive accepted the draft, the message comes back after its lease
  // and step 1 finds this row: dead-lettered as unknown instead of texting the person again.
  // The text is rendered for this recipient inside the claim's transaction (texts/outgoing.ts).
  const template = ctx.isSecond ? message.second_message ?? '' : message.first_message
  const look = await lastLookAndClaim(sql, {
    key,
    queue: ctx.queue,
    msgId: row.msgId,
    message,
    textFor: (recipient) =>
      outgoingText(template, recipient, {
        templated: !message.personalized,
        smartEncoding: ctx.deps.config.SMS_SMART_ENCODING,
      }),
    quietCheck: () => quietNow(claimed),
  })
  if (look.kind !== 'claimed') {
    await slot.cancel()
    switch (look.kind) {
      case 'withdrawn':
        return { status: 'skipped', detail: look.reason }
      case 'not-eligible':
        return await applyVerdict(claimed, look.verdict)
      case 'quiet':
        return await applyQuiet(claimed, look.verdict)
      case 'taken': {
        // Another message took this key between step 1 and now (two drains, duplicate payloads).
        const owner = await findLedgerEntry(sql, key)
        return (owner && (await settleEarlierClaim(claimed, owner))) ??
          { status: 'deferred', detail: 'claim lost; retried later' }
      }
    }
  }
  const { claim, text } = look

  // 6. The call, inside the slot (the client gives it back), with the text recorded in the claim.
  const result = await ctx.deps.missive.sendDraft({
    body: text,
    to: message.recipient_phone_number,
    phase: ctx.isSecond ? 'second' : 'first',
    labelIds: message.label_ids,
  }, slot)
  return await settleCall(claimed, claim, text, result)
}

/** What an existing ledger row means for this queue message; null = go on (a retryable `failed`). */
async function settleEarlierClaim(claimed: Claimed, entry: LedgerEntry): Promise<Outcome | null> {
  const { ctx, row } = claimed
  const { sql } = ctx.deps
  const sameMessage = entry.queueName === ctx.queue && entry.queueMsgId === row.msgId
  switch (entry.state) {
    case 'failed':
      return null
    case 'sending':
      if (sameMessage) {
        // Our own earlier claim whose lease ran out: the process died (or hung) between claiming
        // and recording. Missive may have sent it; there is no idempotency key to ask with.
        await sql.begin(async (tx) => {
          await markUnknown(tx, entry.id, null, 'claimed but never completed (crash or timeout mid-send); not re-sent')
          await archiveMessage(tx, ctx.queue, row.msgId)
        })
        return { status: 'unknown', detail: 'earlier claim never completed' }
      }
      await deleteMessage(sql, ctx.queue, row.msgId)
      return { status: 'duplicate', detail: `being sent by queue message ${entry.queueMsgId}` }
    case 'sent':
      await deleteMessage(sql, ctx.queue, row.msgId)
      return { status: 'duplicate', detail: 'already sent' }
    case 'skipped':
      await deleteMessage(sql, ctx.queue, row.msgId)
      return { status: 'duplicate', detail: 'already skipped' }
    case 'unknown':
      await archiveMessage(sql, ctx.queue, row.msgId)
      return { status: 'duplicate', detail: 'an earlier send has an unknown outcome; archived, not re-sent' }
  }
}

/** Quiet hours' verdict for this message at this instant (the sender's clock, deps.now). */
function quietNow(claimed: Claimed): QuietVerdict {
  const { ctx, row, message } = claimed
  const followUp = ctx.isSecond
    ? {
      // The first send's time on the sender's clock, carried by the follow-up (complete-send.ts);
      // a follow-up queued before that key existed has its enqueue time, the same instant.
      firstSentAt: message.first_sent_at ? new Date(message.first_sent_at) : row.enqueuedAt,
      delaySeconds: secondMessageDelaySeconds(message),
    }
    : undefined
  return quietVerdict(ctx.quietHours, ctx.deps.now(), followUp)
}

/**
 * Held: the message is made visible again at once and the drain stops; nothing is recorded, no
 * attempt counted, and its place in the queue (msg_id order) is kept, so the morning's drain
 * sends in the original order. It is not pushed to the window's end: the queue's clock is the
 * database's, the decision is the sender's (an injectable clock), and every drain started inside
 * quiet hours stops before reading anyway. Skipped: recorded in the ledger with the reason.
 */
async function applyQuiet(claimed: Claimed, verdict: Exclude<QuietVerdict, { kind: 'send' }>): Promise<Outcome> {
  const { ctx, row, key } = claimed
  if (verdict.kind === 'skip') return await skip(claimed, verdict.reason, key)
  await setVisibleIn(ctx.deps.sql, ctx.queue, row.msgId, 0)
  return {
    status: 'held',
    detail: `quiet hours until ${verdict.until.toISOString()}`,
    stopDrain: true,
  }
}

async function applyVerdict(claimed: Claimed, verdict: Exclude<Verdict, { kind: 'send' }>): Promise<Outcome> {
  const { ctx, row, key } = claimed
  const { sql } = ctx.deps
  switch (verdict.kind) {
    case 'defer':
      await setVisibleIn(sql, ctx.queue, row.msgId, verdict.seconds)
      return { status: 'deferred', detail: verdict.reason, retryInSeconds: verdict.seconds }
    case 'orphan':
      await archiveMessage(sql, ctx.queue, row.msgId)
      return { status: 'invalid', detail: verdict.reason }
    case 'skip':
      return await skip(claimed, verdict.reason, key)
  }
}

async function skip(claimed: Claimed, reason: string, key: SendKey): Promise<Outcome> {
  const { ctx, row } = claimed
  const recorded = await ctx.deps.sql.begin(async (tx) => {
    const ok = await recordSkip(tx, key, ctx.queue, row.msgId, reason)
    if (ok) await deleteMessage(tx, ctx.queue, row.msgId)
    return ok
  })
  if (recorded) return { status: 'skipped', detail: reason }
  const owner = await findLedgerEntry(ctx.deps.sql, key)
  return (owner && (await settleEarlierClaim(claimed, owner))) ??
    { status: 'deferred', detail: 'skip lost a race; retried later' }
}

/**
 * Upstream's live exclusion check, fixed (see excluded-labels.ts). A Missive error here never
 * blocks the send: the enqueue already applied the exclusion; this only catches late labels.
 */
async function checkExcludedLabels(claimed: Claimed): Promise<Outcome | null> {
  const { ctx, message, key, log } = claimed
  if (message.campaign_id === null) return null
  const groups = excludedLabelGroups(message.campaign_segments)
  if (groups.length === 0) return null
  const conversationId = message.conversation_id ??
    (ctx.isSecond ? await firstPhaseConversation(ctx.deps.sql, key) : null)
  if (!conversationId) return null

  const slot = await ctx.deps.missive.reserve(
    'read-conversation',
    Math.max(0, ctx.deadline - ctx.deps.now().getTime()),
  )
  if (!slot.ok) {
    const seconds = Math.ceil(slot.waitMs / 1000)
    await setVisibleIn(ctx.deps.sql, ctx.queue, claimed.row.msgId, seconds)
    return {
      status: 'deferred',
      detail: 'no conversation-read rate slot before this drain ends',
      retryInSeconds: seconds,
    }
  }
  const conversation = await ctx.deps.missive.getConversation(conversationId, slot)
  if (!conversation.ok) {
    log.warn('excluded-label check failed; sending anyway', {
      conversationId,
      httpStatus: conversation.status,
      error: conversation.error,
    })
    return null
  }
  const matched = matchExclusion(groups, conversation.labelIds)
  if (!matched) return null
  return await skip(claimed, `conversation has excluded label ${matched.join(' + ')}`, key)
}

async function settleCall(claimed: Claimed, claim: Claim, text: string, result: SendDraftResult): Promise<Outcome> {
  const { ctx, row } = claimed
  const { sql } = ctx.deps

  if (result.ok) {
    return await recordSent(claimed, claim, text, result.draftId, result.conversationId)
  }

  if (result.status === 429) {
    // Missive refused before acting: not an attempt (upstream's "429 is retried forever" stays,
    // but counted in the ledger, not by pgmq's read_ct, which a deferral also raises).
    const seconds = result.retryAfterSeconds ?? DEFAULT_RATE_LIMIT_RETRY_SECONDS
    await sql.begin(async (tx) => {
      await undoClaim(tx, claim, 429, `rate limited (429); retry in ${seconds} s; not counted as an attempt`)
      await setVisibleIn(tx, ctx.queue, row.msgId, seconds)
    })
    return { status: 'deferred', detail: 'Missive answered 429', httpStatus: 429, retryInSeconds: seconds }
  }

  if (!provedNotActedOn(result)) {
    // Missive may have sent it (a 5xx, a connection dropped after the request was written, a
    // timeout, an unreadable 2xx): never retried blindly. Retrying these after 30 s texted readers
    // twice; the ledger's `unknown` is settled by evidence (Twilio, Missive) instead.
    await sql.begin(async (tx) => {
      await markUnknown(tx, claim.ledgerId, result.status, result.error)
      await archiveMessage(tx, ctx.queue, row.msgId)
    })
    return { status: 'unknown', detail: result.error, httpStatus: result.status }
  }

  // A failure that proves nothing was sent (no connection, a 4xx rejecting the request): retried.
  return await sql.begin(async (tx) => {
    const attempts = await recordFailedAttempt(tx, claim.ledgerId, result.status, result.error)
    if (attempts >= MAX_ATTEMPTS) {
      await archiveMessage(tx, ctx.queue, row.msgId)
      return {
        status: 'failed',
        detail: `attempt ${attempts}: ${result.error}`,
        httpStatus: result.status,
      } satisfies Outcome
    }
    const seconds = backoffSeconds(attempts)
    await setVisibleIn(tx, ctx.queue, row.msgId, seconds)
    return {
      status: 'retrying',
      detail: `attempt ${attempts} of ${MAX_ATTEMPTS}: ${result.error}`,
      httpStatus: result.status,
      retryInSeconds: seconds,
    } satisfies Outcome
  })
}

async function recordSent(
  claimed: Claimed,
  claim: Claim,
  text: string,
  draftId: string,
  conversationId: string,
): Promise<Outcome> {
  const { ctx, row, message, log } = claimed
  const { sql } = ctx.deps
  let lastError: unknown
  for (let attempt = 1; attempt <= RECORD_ATTEMPTS; attempt++) {
    try {
      const recorded = await recordSentDraft(sql, {
        queue: ctx.queue,
        msgId: row.msgId,
        rawMessage: row.message,
        message,
        isSecond: ctx.isSecond,
        text,
        ledgerId: claim.ledgerId,
        draftId,
        conversationId,
        sentAt: ctx.deps.now(),
      })
      if (recorded.earlyWebhook === 'lookup') {
        // Provisional anyway (the reconcile fills the status from Twilio): a failure is only logged.
        await recordOutgoingStatus({ ...ctx.deps, log }, draftId).catch((error) =>
          log.warn('could not record the SID of an early outgoing webhook', { draftId, error })
        )
      }
      return {
        status: 'sent',
        detail: recorded.secondMessageQueueId !== null
          ? `follow-up queued as ${recorded.secondMessageQueueId}`
          : undefined,
      }
    } catch (error) {
      lastError = error
      log.warn('recording a sent draft failed', { attempt, draftId, error })
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
    }
  }
  // The SMS went out but could not be recorded. The ledger row still says `sending`, so whatever
  // happens next, this message is never sent again (at worst it is dead-lettered as unknown when
  // its lease ends). Say what we know while we can.
  const detail = `Missive accepted draft ${draftId} (conversation ${conversationId}) but recording it failed: ${
    String((lastError as Error)?.message ?? lastError)
  }`
  await sql.begin(async (tx) => {
    await markUnknown(tx, claim.ledgerId, 200, detail)
    await archiveMessage(tx, ctx.queue, row.msgId)
  }).catch((error) => log.error('could not dead-letter an unrecorded send', { draftId, error }))
  return { status: 'unknown', detail }
}
