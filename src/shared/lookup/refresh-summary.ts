import type { Config } from '../config/env.ts'
import type { Logger } from '../log/logger.ts'
import { maskPhone } from '../log/logger.ts'

// The lookup service (txt-outlier-lookups) memoises a per-conversation summary that the
// conversation sidebar shows; a new SMS or comment must invalidate it (clients.md §2.3, §6 #16):
//   GET ${LOOKUP_URL}/refresh-summary/<conversation id>?reference=<contact phone>
//   authorization: Bearer ${LOOKUP_SECRET}
// The reference is the conversation's first reference with our own number removed
// ("+18005550100+13135550199" → "+13135550199"). Upstream spliced it into the URL unencoded, so
// "+1313…" reached lookups as " 1313…" and lookups re-added the "+"; here it is percent-encoded,
// which lookups decodes to the same number.
//
// The refresh is a courtesy to another service: it is skipped when LOOKUP_URL is unset, its
// failures are logged and never fail the webhook, and it is abandoned after a short timeout so a
// slow lookups cannot push the webhook past Missive's 15 s limit.

export const LOOKUP_TIMEOUT_MS = 2_000

export interface RefreshOptions {
  timeoutMs?: number
  fetch?: typeof fetch
}

export type RefreshOutcome = 'skipped' | 'refreshed' | 'failed'

/** The contact's number from Missive's references (`+<ours>+<theirs>`); null when there is none. */
export function lookupReference(references: readonly string[], outlierPhone: string | undefined): string | null {
  const first = references[0]
  if (!first) return null
  const reference = outlierPhone ? first.replace(outlierPhone, '') : first
  return reference || null
}

export async function refreshLookupSummary(
  config: Pick<Config, 'LOOKUP_URL' | 'LOOKUP_SECRET' | 'OUTLIER_PHONE_NUMBER'>,
  log: Logger,
  conversationId: string,
  references: readonly string[],
  options: RefreshOptions = {},
): Promise<RefreshOutcome> {
  if (!config.LOOKUP_URL) return 'skipped'
  const reference = lookupReference(references, config.OUTLIER_PHONE_NUMBER)
  if (!reference) return 'skipped'

  const base = config.LOOKUP_URL.replace(/\/+$/, '')
  const url = `${base}/refresh-summary/${encodeURIComponent(conversationId)}?reference=${encodeURIComponent(reference)}`
  const timeoutMs = options.timeoutMs ?? LOOKUP_TIMEOUT_MS
  const context = { conversationId, reference: maskPhone(reference) }
  const headers: Record<string, string> = {}
  if (config.LOOKUP_SECRET) headers.authorization = `Bearer ${config.LOOKUP_SECRET}`
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const response = await (options.fetch ?? fetch)(url, { headers, signal })
    // Drain the body so the connection is reused; its content is of no interest.
    await response.arrayBuffer().catch(() => undefined)
    if (!response.ok) {
      log.warn('Lookup cache refresh answered an error', { ...context, status: response.status })
      return 'failed'
    }
    return 'refreshed'
  } catch (error) {
    const reason = signal.aborted
      ? `timed out after ${timeoutMs} ms`
      : error instanceof Error
      ? error.message
      : String(error)
    log.warn('Lookup cache refresh failed', { ...context, reason })
    return 'failed'
  }
}
