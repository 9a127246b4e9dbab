import { maskPhone } from '../log/logger.ts'

// What an error report may carry. Log fields are free-form and some hold message bodies, Missive
// payloads or request bodies, so a report keeps only the fields named here — the scope a person
// needs to find the broadcast, campaign or conversation — and masks every phone number again, in
// case a caller forgot.

const allowed = new Set([
  'function',
  'broadcastId',
  'campaignId',
  'phase',
  'isSecond',
  'queue',
  'msgId',
  'messageStatusId',
  'conversationId',
  'twilioSid',
  'status',
  'kind',
  'job',
  'action',
  'method',
  'path',
  'component',
  'attempt',
  'phone',
  'to',
  'from',
])
const phoneFields = new Set(['phone', 'to', 'from'])

export type ReportContext = Record<string, string | number | boolean>

/** The reportable scope of a log line: allowed keys with primitive values, phone numbers masked. */
export function reportContext(fields: Record<string, unknown>): ReportContext {
  const context: ReportContext = {}
  for (const [key, value] of Object.entries(fields)) {
    if (!allowed.has(key) || value === null || value === undefined) continue
    if (phoneFields.has(key)) context[key] = maskPhone(String(value))
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') context[key] = value
  }
  return context
}

const contextKey = Symbol.for('txt-outlier.report-context')

/**
 * Attaches scope (say the reconcile's broadcastId) to an error that is about to escape a handler, so
 * the one place that logs unhandled errors reports it with that scope.
 */
export function withReportContext<T>(error: T, fields: Record<string, unknown>): T {
  if (error && typeof error === 'object') {
    const holder = error as { [contextKey]?: Record<string, unknown> }
    holder[contextKey] = { ...fields, ...holder[contextKey] }
  }
  return error
}

export function attachedContext(error: unknown): Record<string, unknown> {
  if (!error || typeof error !== 'object') return {}
  return (error as { [contextKey]?: Record<string, unknown> })[contextKey] ?? {}
}
