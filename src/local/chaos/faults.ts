// The faults the crash test (scripts/chaos.ts) injects into Missive draft requests (issue 9,
// "Crash test"). Three happen BEFORE Missive acts (nothing is sent) and three AFTER the sandbox
// recorded the draft (the SMS went out, but the sender cannot know): the second kind is what
// turns a naive retry into a double text.

export const FAULT_KINDS = [
  /** 429 with Retry-After: 1, before anything is done. */
  'rate-limit',
  /** A proxy's HTML 503, before anything is done. */
  'unavailable',
  /** No answer at all (past the client's timeout); nothing is done. */
  'hang',
  /** The draft is recorded (the SMS goes out), then the answer never comes. */
  'hang-after',
  /** The draft is recorded, then the proxy answers 503. */
  'unavailable-after',
  /** The draft is recorded, then the connection is dropped without an answer. */
  'drop-after',
] as const

export type ChaosFault = (typeof FAULT_KINDS)[number]

export const actsBeforeFault = (kind: ChaosFault): boolean => !kind.endsWith('-after')

export interface FaultMix {
  /** Share of draft requests that get a fault (0…1). */
  rate: number
  /** Relative weights of the kinds (equal unless given). */
  weights: Record<ChaosFault, number>
}

export function equalMix(rate: number): FaultMix {
  return { rate, weights: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 1])) as Record<ChaosFault, number> }
}

/**
 * Parses `rate-limit=1,drop-after=3` (unnamed kinds get 0); an empty string keeps them equal.
 * Throws on an unknown kind, so a typo does not silently disable a fault.
 */
export function parseMix(rate: number, spec: string): FaultMix {
  if (!spec.trim()) return equalMix(rate)
  const weights = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<ChaosFault, number>
  for (const part of spec.split(',')) {
    const [name, value = '1'] = part.split('=').map((s) => s.trim())
    if (!(FAULT_KINDS as readonly string[]).includes(name!)) {
      throw new Error(`unknown fault kind "${name}" (known: ${FAULT_KINDS.join(', ')})`)
    }
    const weight = Number(value)
    if (!Number.isFinite(weight) || weight < 0) throw new Error(`fault weight of ${name} must be a number >= 0`)
    weights[name as ChaosFault] = weight
  }
  return { rate, weights }
}

/** A fault for one request, or null (most requests). */
export function pickFault(mix: FaultMix, random: () => number = Math.random): ChaosFault | null {
  if (random() >= mix.rate) return null
  const total = FAULT_KINDS.reduce((sum, kind) => sum + mix.weights[kind], 0)
  if (total <= 0) return null
  let point = random() * total
  for (const kind of FAULT_KINDS) {
    point -= mix.weights[kind]
    if (point < 0) return kind
  }
  return FAULT_KINDS[FAULT_KINDS.length - 1]!
}
