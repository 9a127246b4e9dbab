import type { z } from 'zod'
import type { TransactionSql } from '../db/client.ts'
import { AppError, badRequest, describeIssues } from '../http/errors.ts'
import type { Logger } from '../log/logger.ts'
import { maskPhone } from '../log/logger.ts'
import { refreshLookupSummary } from '../lookup/refresh-summary.ts'
import type { Deps } from '../runtime/deps.ts'
import { ingestComment } from './comments.ts'
import { deliverConfirmationPosts, retryStalePosts } from './confirmation-posts.ts'
import {
  ingestAssigneeChange,
  ingestLabelChange,
  ingestStatusChange,
  ingestTeamChange,
} from './conversation-changes.ts'
import { claimDelivery, deliveryKey, probeBody, recordFailure, recordInvocation, type RuleFacts } from './event-log.ts'
import { recordOutgoingStatus } from './outgoing-status.ts'
import {
  type CommentEvent,
  commentEventSchema,
  type ConversationEvent,
  conversationEventSchema,
  fromEpoch,
  isIncomingMessage,
  isOutgoingMessage,
  isRuleType,
  type MessageEvent,
  messageEventSchema,
  ruleSchema,
  type RuleType,
} from './payload.ts'
import { confirmationKeys, handleIncomingSms } from './replies.ts'
import { ingestSms } from './sms-messages.ts'

// user-action: one Missive rule webhook, from verified bytes to stored rows (spec §2.11.2).
//   1. parse: malformed JSON 400; a body missing what its type needs 400; an unknown rule type is
//      recorded and answered 200 (as upstream: a 4xx makes Missive retry it forever).
//      Rejections are logged and written to `errors` (and `invoke_history` when the body is JSON);
//      nothing else is written.
//   2. record: invoke_history, rules, organizations (one statement, outside the transaction).
//   3. handle: one transaction, claimed by the body's hash (a redelivery of the conversation's last
//      event changes nothing, see claimDelivery).
//   4. after commit: confirmation posts, the lookup cache refresh, the outgoing SMS status.
// Any failure in 3 answers 500 and a failed confirmation post 502, so Missive retries (upstream
// answered 200 to nearly everything and lost the event, spec §8.4 #21).

export type IngestOutcome = 'processed' | 'duplicate' | { ignored: string }

type AnyEvent = ConversationEvent | CommentEvent | MessageEvent

interface AfterCommit {
  /** Confirmation notes this event may have queued. */
  postKeys: string[]
  /** References of an SMS conversation, for the lookup cache refresh. */
  lookupReferences: string[]
  /** An outgoing SMS whose Twilio SID Missive may know, with the SID and time the webhook carried. */
  outgoing: { id: string; externalId: string | null; deliveredAt: Date | null } | null
}

export async function ingestUserAction(deps: Deps, rawBody: string): Promise<IngestOutcome> {
  const body = parseBody(rawBody)
  const probe = probeBody(body)
  const log = deps.log.child({ ruleId: probe.rule.id, ruleType: probe.rule.type, conversationId: probe.conversationId })
  if (body === undefined) {
    await recordFailure(deps.sql, log, rawBody, probe.rule, 'Malformed JSON body')
    log.warn('Rejected a webhook: malformed JSON')
    throw badRequest('Malformed JSON body')
  }

  const reject = async (status: 400, message: string): Promise<AppError> => {
    log.warn(`Rejected a webhook: ${message}`)
    await recordInvocation(deps.sql, { rawBody, conversationId: probe.conversationId })
    await recordFailure(deps.sql, log, rawBody, probe.rule, message)
    return new AppError(status, message)
  }
  const rule = ruleSchema.safeParse((body as Record<string, unknown> | null)?.rule)
  if (!rule.success) {
    throw await reject(
      400,
      `Invalid webhook payload: ${
        describeIssues(rule.error, (path, message) => `[rule${path ? `,${path}` : ''}] ${message}`)
      }`,
    )
  }
  const type = rule.data.type
  if (!isRuleType(type)) {
    const message = `Unhandled rule type: ${type}`
    log.warn(`Ignored a webhook: ${message}`)
    await recordInvocation(deps.sql, { rawBody, conversationId: probe.conversationId })
    await recordFailure(deps.sql, log, rawBody, probe.rule, message)
    return { ignored: message }
  }
  const parsed = (schemaFor(type) as z.ZodType<AnyEvent>).safeParse(body)
  if (!parsed.success) throw await reject(400, `Invalid ${type} payload: ${describeIssues(parsed.error)}`)
  const event = parsed.data

  await recordInvocation(deps.sql, {
    rawBody,
    conversationId: event.conversation.id,
    rule: { id: rule.data.id, description: rule.data.description ?? null, type },
    organization: event.conversation.organization,
  })

  const key = await deliveryKey(rawBody)
  const ruleFacts: RuleFacts = { id: rule.data.id, description: rule.data.description ?? null, type }
  let handled: { outcome: IngestOutcome; postsPending: boolean }
  try {
    handled = await inTransaction(deps, log, async (tx) => {
      // A redelivery may find a confirmation whose post failed last time: look for it.
      if (!(await claimDelivery(tx, key, type, event.conversation.id))) {
        return { outcome: 'duplicate', postsPending: true }
      }
      return { outcome: 'processed', postsPending: await handle(tx, deps, log, type, event) }
    })
  } catch (error) {
    await recordFailure(deps.sql, log, rawBody, ruleFacts, error instanceof Error ? error.message : String(error))
    throw error
  }
  if (handled.outcome === 'duplicate') log.info('Delivery already processed; nothing to store')

  const work = afterCommitWork(type, event)
  if (!handled.postsPending) work.postKeys = []
  await afterCommit(deps, log, rawBody, ruleFacts, event.conversation.id, work)
  return handled.outcome
}

function parseBody(rawBody: string): unknown {
  try {
    return JSON.parse(rawBody)
  } catch {
    return undefined
  }
}

function schemaFor(type: RuleType) {
  if (type === 'new_comment') return commentEventSchema
  if (isIncomingMessage(type) || isOutgoingMessage(type)) return messageEventSchema
  return conversationEventSchema
}

/** Runs the event's handler; true when it may have left a confirmation note to post. */
async function handle(tx: TransactionSql, deps: Deps, log: Logger, type: RuleType, event: AnyEvent): Promise<boolean> {
  switch (type) {
    case 'new_comment':
      await ingestComment(tx, event as CommentEvent)
      return false
    case 'team_change':
      await ingestTeamChange(tx, event)
      return false
    case 'label_change':
      await ingestLabelChange(tx, event)
      return false
    case 'conversation_closed':
    case 'conversation_reopened':
      await ingestStatusChange(tx, event, type === 'conversation_closed')
      return false
    case 'conversation_assignee_change':
      await ingestAssigneeChange(tx, event)
      return false
    case 'outgoing_twilio_message':
    case 'outgoing_sms_message':
      await ingestSms(tx, event as MessageEvent, true, deps.now())
      return false
    case 'incoming_twilio_message':
    case 'incoming_sms_message': {
      const { message, conversation } = event as MessageEvent
      const sms = await ingestSms(tx, event as MessageEvent, false, deps.now())
      // Stored before (a redelivery with different bytes): its reply handling committed with it,
      // but its confirmation may still be waiting to be posted.
      if (!sms.inserted) return true
      const reply = await handleIncomingSms(tx, {
        messageId: message.id,
        conversationId: conversation.id,
        from: sms.from,
        deliveredAt: sms.deliveredAt,
        text: sms.text,
      })
      if (reply.intent !== 'none' || reply.repliedTo) {
        log.info('Incoming SMS handled', {
          phone: maskPhone(sms.from),
          intent: reply.intent,
          broadcastId: reply.repliedTo?.broadcastId,
          campaignId: reply.repliedTo?.campaignId,
          followUpsRemoved: reply.followUpsRemoved,
          resubscribed: reply.resubscribed,
        })
      }
      return reply.postQueued
    }
  }
}

function afterCommitWork(type: RuleType, event: AnyEvent): AfterCommit {
  if (isIncomingMessage(type) || isOutgoingMessage(type)) {
    const { message } = event as MessageEvent
    return {
      postKeys: isIncomingMessage(type) ? confirmationKeys(message.id) : [],
      lookupReferences: message.references ?? [],
      outgoing: isOutgoingMessage(type)
        ? {
          id: message.id,
          externalId: message.external_id ?? null,
          deliveredAt: message.delivered_at != null ? fromEpoch(message.delivered_at) : null,
        }
        : null,
    }
  }
  if (type === 'new_comment') {
    // Only comments in SMS conversations carry references.
    return {
      postKeys: [],
      lookupReferences: (event as CommentEvent).latest_message?.references ?? [],
      outgoing: null,
    }
  }
  return { postKeys: [], lookupReferences: [], outgoing: null }
}

/** The lookup refresh and the Missive calls run side by side; only a failed post fails the webhook. */
async function afterCommit(
  deps: Deps,
  log: Logger,
  rawBody: string,
  rule: RuleFacts,
  conversationId: string,
  work: AfterCommit,
): Promise<void> {
  const [failures] = await Promise.all([
    deliverConfirmationPosts({ ...deps, log }, work.postKeys),
    work.lookupReferences.length > 0
      ? refreshLookupSummary(deps.config, log, conversationId, work.lookupReferences)
      : Promise.resolve('skipped'),
    work.outgoing
      ? recordOutgoingStatus({ ...deps, log }, work.outgoing.id, work.outgoing).catch((error) => {
        // Provisional anyway: the reconcile fills the status from Twilio.
        log.warn('Could not record the outgoing SMS status', { error })
      })
      : Promise.resolve(),
  ])
  if (failures.length > 0) {
    const message = `Could not post the confirmation to Missive: ${failures.map((f) => f.error).join('; ')}`
    await recordFailure(deps.sql, log, rawBody, rule, message)
    throw new AppError(502, message)
  }
  await retryStalePosts({ ...deps, log }, conversationId, work.postKeys)
}

const RETRYABLE = new Set(['40P01', '40001']) // deadlock_detected, serialization_failure

/** Runs the handler's transaction, retrying it twice when PostgreSQL picked it as a deadlock victim. */
async function inTransaction<T>(deps: Deps, log: Logger, work: (tx: TransactionSql) => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return (await deps.sql.begin((tx) => work(tx))) as T
    } catch (error) {
      const code = (error as { code?: string }).code
      if (attempt >= 3 || !code || !RETRYABLE.has(code)) throw error
      log.warn('Webhook transaction retried', { attempt, code })
    }
  }
}
