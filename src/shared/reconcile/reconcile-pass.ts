import { AppError } from '../http/errors.ts'
import type { Deps } from '../runtime/deps.ts'
import { TwilioRequestError } from '../twilio/index.ts'
import { applyPage, clearStaged, type Cursor, type PageMessage, pairStaged, stopJobs } from './page-queries.ts'
import { loadTarget, type TargetRef, windowEnd } from './target.ts'
import { storableStatus } from './twilio-statuses.ts'
import { settleUnknownSends } from './settle-unknown.ts'
import { type PassCoverage, recordPassCoverage, resolveUnknownSends, type UnknownResolution } from './unknown-sends.ts'

export const PAGE_SIZE = 300
export const MAX_PAGES_PER_CALL = 5

export interface PassOptions {
  /** Pages fetched by one invocation at most; the per-minute job carries on from the stored token. */
  maxPages?: number
  /** Stop starting new pages after this long, well inside the edge runtime's wall clock. */
  budgetMs?: number
}

export interface PassSummary {
  pages: number
  messages: number
  matchedBySid: number
  pairedInOrder: number
  unpairedMessages: number
  unknownStatuses: number
  /** Rows of this broadcast/campaign still without a Twilio SID when the pass finished. */
  unreconciledRows: number | null
  /** Ledger `unknown` sends the finished pass found at Twilio (now `sent`). */
  unknownResolvedSent: number
  /** Ledger `unknown` sends Twilio never saw (now `failed`: safe to retry). */
  unknownResolvedNotSent: number
  /** Ledger rows still `unknown` when the pass finished; null until then. */
  unknownRemaining: number | null
  done: boolean
}

/**
 * Continues a broadcast's or campaign's reconcile pass from its stored page token: a few pages of
 * Twilio's message list (newest first), each applied in one transaction with the token moved on.
 * When Twilio has no next page the staged messages are paired, the token cleared and the pass's
 * cron jobs removed. A Twilio failure keeps the token (the next minute retries that page; upstream
 * lost it on a bad status) and answers 502.
 */
export async function reconcilePass(deps: Deps, ref: TargetRef, options: PassOptions = {}): Promise<PassSummary> {
  const maxPages = options.maxPages ?? MAX_PAGES_PER_CALL
  const budgetMs = options.budgetMs ?? 40_000
  const started = performance.now()
  const target = await loadTarget(deps.sql, ref)
  const log = deps.log.child({ [`${ref.kind}Id`]: ref.id })
  const summary: PassSummary = {
    pages: 0,
    messages: 0,
    matchedBySid: 0,
    pairedInOrder: 0,
    unpairedMessages: 0,
    unknownStatuses: 0,
    unreconciledRows: null,
    unknownResolvedSent: 0,
    unknownResolvedNotSent: 0,
    unknownRemaining: null,
    done: false,
  }
  let token = target.twilioPaging

  while (summary.pages < maxPages && performance.now() - started < budgetMs) {
    const firstPage = token === null
    const end = windowEnd(target, deps.config.MISSIVE_MAX_PER_15_MINUTES)
    // Twilio lists newest first from this request on: an SMS sent later is never seen by this pass.
    const requestedAt = deps.now()
    let page
    try {
      page = await deps.twilio.listMessagesPage({
        from: deps.config.BROADCAST_SOURCE_PHONE_NUMBER,
        dateSentAfter: target.runAt,
        // Later pages carry on from the token alone, as upstream did; the cursor is already inside the window.
        dateSentBefore: firstPage ? end : undefined,
        pageToken: token,
        pageSize: PAGE_SIZE,
      })
    } catch (error) {
      if (!(error instanceof TwilioRequestError)) throw error
      // Logged once, with the request path, by the error renderer (status ≥ 500).
      throw new AppError(
        502,
        `Could not fetch Twilio messages (${error.message}); the page token is kept and the next run retries`,
        {
          ...summary,
        },
      )
    }

    let unknown = 0
    const messages: PageMessage[] = page.messages.map((message) => {
      const { status, known } = storableStatus(message.status)
      if (!known) unknown++
      return { sid: message.sid, to: message.to, status, dateSent: message.dateSent, body: message.body }
    })
    const last = page.nextPageToken === null

    const coverage: PassCoverage | null = firstPage
      ? { startedAt: requestedAt, windowStart: target.runAt, coversUntil: requestedAt < end ? requestedAt : end }
      : null
    const outcome = await applyFetchedPage(
      deps,
      ref,
      { from: token, to: page.nextPageToken },
      messages,
      deps.now(),
      coverage,
    )
    if (!outcome) {
      log.warn('Another invocation moved this pass on meanwhile; leaving the page to it', { pageToken: token })
      break
    }

    summary.pages++
    summary.messages += messages.length
    summary.matchedBySid += outcome.bySid
    summary.unknownStatuses += unknown
    log.info('Reconciled a Twilio page', {
      page: summary.pages,
      firstPage,
      messages: messages.length,
      matchedBySid: outcome.bySid,
      staged: outcome.staged,
      unknownStatuses: unknown,
      nextPage: !last,
    })
    if (unknown > 0) {
      const raw = [...new Set(page.messages.map((m) => m.status).filter((s) => !storableStatus(s).known))]
      log.warn('Twilio statuses outside the known list were stored as delivery_unknown', { statuses: raw })
    }
    if (outcome.paired) {
      summary.pairedInOrder = outcome.paired.paired
      // SMSs that turned out to be `unknown` sends are accounted for, not surplus.
      summary.unpairedMessages = outcome.paired.unpairedMessages - outcome.unknown!.resolvedSent
      summary.unreconciledRows = outcome.paired.openRows
      summary.unknownResolvedSent = outcome.unknown!.resolvedSent
      summary.unknownResolvedNotSent = outcome.unknown!.resolvedNotSent
      summary.unknownRemaining = outcome.unknown!.remaining
      summary.done = true
      log.info('Reconcile pass finished; its cron jobs are removed', {
        pairedInOrder: outcome.paired.paired,
        unpairedMessages: summary.unpairedMessages,
        unreconciledRows: outcome.paired.openRows,
        unknownResolvedSent: outcome.unknown!.resolvedSent,
        unknownResolvedNotSent: outcome.unknown!.resolvedNotSent,
        unknownRemaining: outcome.unknown!.remaining,
        unknownRefreshed: outcome.unknown!.refreshed,
      })
      break
    }
    token = page.nextPageToken
  }
  if (summary.done && (summary.unknownRemaining ?? 0) > 0) {
    // What the pass could not prove went out: a lookup of each number, not-yet-sent messages
    // included, settles it (the pass's `DateSent>` listing cannot prove an SMS does not exist).
    const settled = await settleUnknownSends(deps, { target: ref })
    summary.unknownResolvedSent += settled.resolvedSent
    summary.unknownResolvedNotSent += settled.resolvedNotSent
    const owner = deps.sql(ref.kind === 'broadcast' ? 'broadcast_id' : 'campaign_id')
    const [{ remaining }] = await deps.sql<{ remaining: number }[]>`
      SELECT count(*)::int AS remaining FROM public.message_sends WHERE ${owner} = ${ref.id} AND state = 'unknown'`
    summary.unknownRemaining = remaining
  }
  return summary
}

interface PageOutcome {
  bySid: number
  staged: number
  paired: Awaited<ReturnType<typeof pairStaged>> | null
  /** Set with `paired`, on the last page. */
  unknown: UnknownResolution | null
}

/** Rolls back a first or last page that another invocation already applied. */
class PageTaken extends Error {}

/**
 * A page in the middle of a pass is one self-contained statement; the first page also forgets a
 * previous unfinished pass and records what the pass covers, and the last one pairs, settles the
 * `unknown` sends (only a pass that ran to its last page has seen every SMS of its window), cleans
 * up and stops the jobs, atomically. Null when another invocation already moved the token on.
 */
async function applyFetchedPage(
  deps: Deps,
  ref: TargetRef,
  cursor: Cursor,
  messages: PageMessage[],
  now: Date,
  coverage: PassCoverage | null,
): Promise<PageOutcome | null> {
  const firstPage = cursor.from === null
  const last = cursor.to === null
  if (!firstPage && !last) {
    const applied = await applyPage(deps.sql, ref, cursor, messages, now)
    return applied && { ...applied, paired: null, unknown: null }
  }
  try {
    return await deps.sql.begin(async (tx): Promise<PageOutcome> => {
      if (firstPage) await clearStaged(tx, ref)
      const applied = await applyPage(tx, ref, cursor, messages, now)
      if (!applied) throw new PageTaken()
      if (coverage) await recordPassCoverage(tx, ref, coverage)
      if (!last) return { ...applied, paired: null, unknown: null }
      const paired = await pairStaged(tx, ref, now)
      const unknown = await resolveUnknownSends(tx, ref, now)
      await clearStaged(tx, ref)
      await stopJobs(tx, ref)
      return { ...applied, paired, unknown }
    })
  } catch (error) {
    if (error instanceof PageTaken) return null
    throw error
  }
}
