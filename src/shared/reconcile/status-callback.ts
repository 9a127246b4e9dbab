import { z } from 'zod'
import type { Db } from '../db/client.ts'
import { AppError, badRequest, describeIssues, unauthorized } from '../http/errors.ts'
import { maskPhone } from '../log/logger.ts'
import type { Deps } from '../runtime/deps.ts'
import { hasBeenSent, storableStatus } from './twilio-statuses.ts'

/** How far back a callback without a known SID looks for the SMS's row (the "To" fallback). */
const FALLBACK_HOURS = 24

/** Form-encoded params Twilio posts (providers.md §8); the set varies, so only these are required. */
const callbackSchema = z.object({
  MessageSid: z.string().trim().min(1, 'is required'),
  MessageStatus: z.string().trim().min(1, 'is required'),
  To: z.string().trim().optional(),
  From: z.string().trim().optional(),
  ErrorCode: z.string().trim().optional(),
  /** Present only when Twilio is set up to send it; the "To" fallback needs it. */
  Body: z.string().optional(),
})

export type CallbackParams = Record<string, string | string[]>

/** Decodes a form body; a repeated key becomes an array, as the signature algorithm expects. */
export function decodeForm(body: string): CallbackParams {
  const params: CallbackParams = {}
  for (const [key, value] of new URLSearchParams(body)) {
    const existing = params[key]
    params[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return params
}

/**
 * The configured callback URL, and the signature header's presence, before the body is read. 503
 * when no URL is configured: without it no signature can be checked, so nothing is accepted.
 */
export function callbackPreconditions(deps: Deps, signature: string | undefined): string {
  const url = deps.config.TWILIO_STATUS_CALLBACK_URL
  if (!url) {
    throw new AppError(
      503,
      'Twilio status callbacks are not configured: set TWILIO_STATUS_CALLBACK_URL to the URL Twilio calls',
    )
  }
  if (!signature) throw unauthorized('Missing X-Twilio-Signature header')
  return url
}

/**
 * Checks `X-Twilio-Signature` against the URL Twilio was configured with (not the URL we were
 * reached at, which proxies and the gateway rewrite). A missing or bad signature is a 401.
 */
export function verifyCallback(deps: Deps, signature: string | undefined, params: CallbackParams): void {
  const url = callbackPreconditions(deps, signature)
  if (!deps.twilio.validateStatusCallback({ signature: signature!, url, params })) {
    throw unauthorized('Invalid X-Twilio-Signature')
  }
}

export interface CallbackOutcome {
  matched: 'sid' | 'recipient' | null
  messageStatusId: number | null
}

/**
 * Applies one status callback. The row is the one carrying `MessageSid`; failing that (the first
 * callback can arrive before any reconcile or webhook recorded the SID), the newest row for `To`
 * written in the last 24 hours that has no SID yet and sent the callback's `Body`, provided the SMS
 * came from the broadcast number and no ledger row claims its SID.
 * Callbacks arrive out of order: a final status is never replaced by an intermediate one.
 */
export async function applyStatusCallback(deps: Deps, params: CallbackParams): Promise<CallbackOutcome> {
  const flat = Object.fromEntries(
    Object.entries(params).map(([key, value]) => [key, Array.isArray(value) ? value[0] : value]),
  )
  const parsed = callbackSchema.safeParse(flat)
  if (!parsed.success) throw badRequest(`Invalid status callback: ${describeIssues(parsed.error)}`)
  const { MessageSid: sid, MessageStatus: rawStatus, To: to, From: from, ErrorCode: errorCode, Body: body } =
    parsed.data
  const { status, known } = storableStatus(rawStatus)
  const log = deps.log.child({ twilioSid: sid, to: maskPhone(to), status: rawStatus })
  if (!known) log.warn('Unknown Twilio status stored as delivery_unknown')

  const now = deps.now()
  // The fallback pairs an SMS without a known SID, so it follows the reconcile's rule (issue 9 #6):
  // only with the body to compare (a staff reply to the same number has another), and never an SMS
  // a ledger row already claims. Without a body the reconcile pass, which has it, pairs it later.
  const fallbackAllowed = Boolean(to) && body !== undefined &&
    (!from || from === deps.config.BROADCAST_SOURCE_PHONE_NUMBER)
  const [row] = await updateFromCallback(deps.sql, {
    sid,
    status,
    to: to ?? '',
    body: body ?? '',
    fallbackAllowed,
    since: new Date(now.getTime() - FALLBACK_HOURS * 3_600_000),
    sentAt: hasBeenSent(status) ? now : null,
    now,
  })
  if (!row) {
    log.info('Status callback matched no message_statuses row', { errorCode })
    return { matched: null, messageStatusId: null }
  }
  log.info('Status callback applied', {
    messageStatusId: row.id,
    matched: row.matched,
    storedStatus: row.stored_status,
    errorCode,
    broadcastId: row.broadcast_id,
    campaignId: row.campaign_id,
  })
  return { matched: row.matched, messageStatusId: row.id }
}

interface CallbackUpdate {
  sid: string
  status: string
  to: string
  body: string
  fallbackAllowed: boolean
  since: Date
  sentAt: Date | null
  now: Date
}

function updateFromCallback(db: Db, input: CallbackUpdate) {
  return db<
    {
      id: number
      matched: 'sid' | 'recipient'
      stored_status: string
      broadcast_id: string | null
      campaign_id: number | null
    }[]
  >`
    WITH by_sid AS (
      SELECT id, 'sid' AS matched FROM public.message_statuses WHERE twilio_id = ${input.sid}
    ),
    by_recipient AS (
      SELECT id, 'recipient' AS matched FROM public.message_statuses
      WHERE ${input.fallbackAllowed} AND NOT EXISTS (SELECT 1 FROM by_sid)
        AND recipient_phone_number = ${input.to} AND twilio_id IS NULL AND created_at >= ${input.since}
        AND public.sms_text_key(message) = public.sms_text_key(${input.body})
        AND NOT EXISTS (SELECT 1 FROM public.message_sends r WHERE r.twilio_id = ${input.sid})
      ORDER BY created_at DESC, id DESC
      LIMIT 1
    ),
    target AS (SELECT * FROM by_sid UNION ALL SELECT * FROM by_recipient)
    UPDATE public.message_statuses ms SET
      twilio_id = ${input.sid},
      twilio_sent_status = public.merge_twilio_status(ms.twilio_sent_status, ms.twilio_id, ${input.status}::public.twilio_status),
      twilio_sent_at = COALESCE(ms.twilio_sent_at, ${input.sentAt}::timestamptz),
      updated_at = ${input.now}
    FROM target t
    -- A concurrent callback for another SID may have claimed the fallback row first.
    WHERE ms.id = t.id AND (ms.twilio_id IS NULL OR ms.twilio_id = ${input.sid})
    RETURNING ms.id, t.matched, ms.twilio_sent_status::text AS stored_status, ms.broadcast_id, ms.campaign_id`
}
