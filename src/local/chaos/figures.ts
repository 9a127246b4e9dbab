// The crash test's verdict (issue 9, "Crash test"), computed from what the sandbox Missive
// recorded (the SMSs that really went out) and the ledger (public.message_sends):
//   - no recipient gets a phase twice;
//   - every recipient got exactly one first message, or has a ledger row saying why not;
//   - every recipient who got the first message got the follow-up, or has a ledger row saying why
//     not (the broadcast has one, and nobody replies during the test).
// A ledger row explains a missing text only when it states a decided non-send (skipped, failed,
// cancelled, …): `sent` without an SMS, `sending`, or an `unknown` nobody settled are the system
// not knowing what it did, which is exactly the loss this test is there to catch.

export type Phase = 'first' | 'second'

export interface DraftRecord {
  to: string
  phase: Phase
}

export interface LedgerRecord {
  phone: string
  phase: Phase
  state: string
  detail: string | null
  /** When a reconcile settled an `unknown` row. */
  resolvedAt: Date | null
}

export interface PhaseFigures {
  /** Recipients who got this phase at least once. */
  sent: number
  /** Recipients who got this phase twice or more. */
  duplicates: number
  /** Texts beyond the first, summed over recipients. */
  extraTexts: number
  /** Missing texts with a ledger row that says why (by reason). */
  explained: Record<string, number>
  /** Missing texts nobody can account for (by what the ledger says instead). */
  unexplained: Record<string, number>
  /** Texts that went out although the ledger says they did not (a retry or a follow-up may follow). */
  sentDespiteLedger: number
}

export interface Figures {
  recipients: number
  first: PhaseFigures
  second: PhaseFigures
  duplicates: number
  unexplainedLosses: number
  /** Ledger rows a reconcile settled from `unknown`. */
  unknownsSettled: number
  /** Ledger rows still `unknown`. */
  unknownRemaining: number
  /** A few recipients per problem, to look up in the logs. */
  examples: { duplicate: string[]; lost: string[] }
}

/** States in which the ledger does not know (or claims a send that never happened). */
const UNDECIDED = new Set(['sending', 'unknown', 'sent'])

export function computeFigures(recipients: string[], drafts: DraftRecord[], ledger: LedgerRecord[]): Figures {
  const audience = new Set(recipients)
  const counts = { first: new Map<string, number>(), second: new Map<string, number>() }
  for (const draft of drafts) {
    if (!audience.has(draft.to)) continue
    const map = counts[draft.phase]
    map.set(draft.to, (map.get(draft.to) ?? 0) + 1)
  }
  const rows = { first: new Map<string, LedgerRecord>(), second: new Map<string, LedgerRecord>() }
  for (const row of ledger) rows[row.phase].set(row.phone, row)

  const examples: Figures['examples'] = { duplicate: [], lost: [] }
  const note = (list: string[], phone: string) => void (list.length < 5 && !list.includes(phone) && list.push(phone))

  const phase = (name: Phase, expected: (phone: string) => boolean): PhaseFigures => {
    const figures: PhaseFigures = {
      sent: 0,
      duplicates: 0,
      extraTexts: 0,
      explained: {},
      unexplained: {},
      sentDespiteLedger: 0,
    }
    for (const phone of recipients) {
      const texts = counts[name].get(phone) ?? 0
      const row = rows[name].get(phone)
      if (texts > 0) {
        figures.sent++
        if (texts > 1) {
          figures.duplicates++
          figures.extraTexts += texts - 1
          note(examples.duplicate, phone)
        }
        if (row && !UNDECIDED.has(row.state)) figures.sentDespiteLedger++
        continue
      }
      if (!expected(phone)) continue
      if (row && !UNDECIDED.has(row.state)) {
        bump(figures.explained, `${row.state}: ${reasonOf(row.detail)}`)
        continue
      }
      bump(figures.unexplained, row ? `ledger says ${row.state}` : 'no ledger row')
      note(examples.lost, phone)
    }
    return figures
  }

  const first = phase('first', () => true)
  const second = phase('second', (phone) => (counts.first.get(phone) ?? 0) > 0)
  const total = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0)
  return {
    recipients: recipients.length,
    first,
    second,
    duplicates: first.duplicates + second.duplicates,
    unexplainedLosses: total(first.unexplained) + total(second.unexplained),
    unknownsSettled: ledger.filter((row) => row.resolvedAt !== null).length,
    unknownRemaining: ledger.filter((row) => row.state === 'unknown').length,
    examples,
  }
}

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

/** A reason without the ids and timings that make every detail unique, so equal reasons group. */
function reasonOf(detail: string | null): string {
  if (!detail) return '(no detail)'
  return detail.replace(/\b[0-9a-f]{8}-[0-9a-f-]{27}\b/gi, '…').replace(/\d+/g, 'N').slice(0, 80)
}
