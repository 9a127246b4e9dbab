/**
 * Every message status Twilio documents (providers.md §7), which the `twilio_status` enum holds
 * since migration 20250601000350, plus our own `delivery_unknown`. Upstream's enum knew 6 of them, so
 * one `queued` message stalled a whole reconcile page (upstream-functions.md §8.3 #15).
 */
export const twilioStatuses = [
  'accepted',
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'canceled',
  'read',
  'partially_delivered',
  'receiving',
  'received',
  'delivery_unknown',
] as const

export type TwilioStatus = (typeof twilioStatuses)[number]

const known = new Set<string>(twilioStatuses)

/**
 * A status Twilio adds after this list is stored as `delivery_unknown` (and counted) rather than
 * failing the statement that carries the rest of the page.
 */
export function storableStatus(status: string): { status: TwilioStatus; known: boolean } {
  const normalised = status.trim().toLowerCase()
  return known.has(normalised)
    ? { status: normalised as TwilioStatus, known: true }
    : { status: 'delivery_unknown', known: false }
}

/** Statuses that mean the SMS has left Twilio for the carrier, so a send time is known. */
export function hasBeenSent(status: TwilioStatus): boolean {
  return !['accepted', 'scheduled', 'queued', 'sending', 'canceled', 'receiving'].includes(status)
}
