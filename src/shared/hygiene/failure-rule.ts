import type { Db } from '../db/client.ts'

/**
 * When a `message_statuses` row (aliased `ms`) counts as a failed delivery: Twilio reported it
 * `undelivered` or `failed` AND the row carries the Twilio message id, i.e. the status came from
 * Twilio (the reconcile or its status callback), not from a guess.
 *
 * Upstream treated everything but `delivered` as failed, so `sent`, `delivery_unknown` and rows
 * nobody had reconciled yet counted, and people whose texts were merely slow were excluded. It also
 * cannot trust the status alone: the column defaults to `delivered`, and the outgoing-message
 * webhook writes a provisional `undelivered` with no Twilio id when Missive has not handed the SMS
 * to Twilio yet.
 */
export function failedDelivery(db: Db) {
  return db`(ms.twilio_sent_status IN ('undelivered', 'failed') AND ms.twilio_id IS NOT NULL)`
}
