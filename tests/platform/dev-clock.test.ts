import { describe, expect, it } from 'vitest'
import { devClockFrom } from '../../src/local/dev-clock.ts'

// The local stack's settable clock (issue 14 part 3): DEV_CLOCK_START, then real time.

describe('DEV_CLOCK_START', () => {
  it('unset or empty: the real clock', () => {
    expect(devClockFrom(undefined)).toBeNull()
    expect(devClockFrom('  ')).toBeNull()
  })

  it('starts at the given instant and runs in real time', async () => {
    const clock = devClockFrom('2026-12-01T20:58:00-05:00')!
    const first = clock.now().getTime()
    expect(Math.abs(first - Date.parse('2026-12-02T01:58:00Z'))).toBeLessThan(1000)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(clock.now().getTime() - first).toBeGreaterThanOrEqual(50)
  })

  it.each(['tomorrow', '2026-12-01 20:58', '2026-12-01T20:58:00'])('%j is refused, naming the variable', (raw) => {
    expect(() => devClockFrom(raw)).toThrow(/DEV_CLOCK_START is invalid/)
  })
})
