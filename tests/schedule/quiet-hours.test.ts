import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/shared/config/env.ts'
import {
  firstQuietIn,
  isQuiet,
  nextAllowed,
  type QuietHours,
  quietHoursFrom,
  quietVerdict,
} from '../../src/shared/schedule/quiet-hours.ts'
import { quietRunAtRefusal, quietWeeklyRefusals } from '../../src/shared/schedule/quiet-run-at.ts'
import { exampleEnv } from '../support/app.ts'

// Quiet hours (issue 14 part 3): the rule alone, on fixed instants. 2026's DST changes in
// America/Detroit: spring forward Sunday March 8 (02:00 EST → 03:00 EDT), fall back Sunday
// November 1 (02:00 EDT → 01:00 EST).

const detroit: QuietHours = { start: '21:00', end: '08:00', timeZone: 'America/Detroit' }
const at = (iso: string) => new Date(iso)
const HOUR = 3_600_000

describe('quiet hours: is this instant quiet?', () => {
  it('21:00-08:00 crosses midnight: 20:59:59 and 08:00 are allowed, 21:00, midnight and 07:59 are quiet', () => {
    expect(isQuiet(detroit, at('2026-12-01T20:59:59-05:00'))).toBe(false)
    expect(isQuiet(detroit, at('2026-12-01T21:00:00-05:00'))).toBe(true)
    expect(isQuiet(detroit, at('2026-12-02T00:00:00-05:00'))).toBe(true)
    expect(isQuiet(detroit, at('2026-12-02T07:59:59-05:00'))).toBe(true)
    expect(isQuiet(detroit, at('2026-12-02T08:00:00-05:00'))).toBe(false)
    expect(isQuiet(detroit, at('2026-12-02T12:00:00-05:00'))).toBe(false)
  })

  it('a window inside one day (12:00-13:00)', () => {
    const lunch = { ...detroit, start: '12:00', end: '13:00' }
    expect(isQuiet(lunch, at('2026-12-01T11:59:00-05:00'))).toBe(false)
    expect(isQuiet(lunch, at('2026-12-01T12:00:00-05:00'))).toBe(true)
    expect(isQuiet(lunch, at('2026-12-01T13:00:00-05:00'))).toBe(false)
    expect(isQuiet(lunch, at('2026-12-01T23:00:00-05:00'))).toBe(false)
    expect(nextAllowed(lunch, at('2026-12-01T12:30:00-05:00'))).toEqual(at('2026-12-01T13:00:00-05:00'))
  })

  it('is read on the audience wall clock, DST included (a fixed UTC offset would be an hour off)', () => {
    // Summer (EDT, UTC-4): 21:00 EDT is 01:00 UTC.
    expect(isQuiet(detroit, at('2026-07-02T00:59:00Z'))).toBe(false)
    expect(isQuiet(detroit, at('2026-07-02T01:00:00Z'))).toBe(true)
    // Winter (EST, UTC-5): 01:30 UTC is 20:30 EST, allowed.
    expect(isQuiet(detroit, at('2026-12-02T01:30:00Z'))).toBe(false)
    expect(isQuiet(detroit, at('2026-12-02T02:00:00Z'))).toBe(true)
  })

  it('another audience zone moves the window', () => {
    const west = { ...detroit, timeZone: 'America/Los_Angeles' }
    // 04:30 UTC: 23:30 in Detroit, 20:30 in Los Angeles.
    expect(isQuiet(detroit, at('2026-12-02T04:30:00Z'))).toBe(true)
    expect(isQuiet(west, at('2026-12-02T04:30:00Z'))).toBe(false)
  })

  it('off: nothing is quiet', () => {
    expect(isQuiet(null, at('2026-12-02T03:00:00-05:00'))).toBe(false)
    expect(nextAllowed(null, at('2026-12-02T03:00:00-05:00'))).toEqual(at('2026-12-02T03:00:00-05:00'))
    expect(quietVerdict(null, at('2026-12-02T03:00:00-05:00'))).toEqual({ kind: 'send' })
  })
})

describe('quiet hours: the next allowed instant', () => {
  it('before midnight: 08:00 tomorrow; after midnight: 08:00 today; outside: now', () => {
    expect(nextAllowed(detroit, at('2026-12-01T21:00:00-05:00'))).toEqual(at('2026-12-02T08:00:00-05:00'))
    expect(nextAllowed(detroit, at('2026-12-02T03:10:00-05:00'))).toEqual(at('2026-12-02T08:00:00-05:00'))
    expect(nextAllowed(detroit, at('2026-12-02T09:00:00-05:00'))).toEqual(at('2026-12-02T09:00:00-05:00'))
  })

  it('spring forward (March 8, 2026): the night is 10 h, and 08:00 is EDT', () => {
    const from = at('2026-03-07T21:00:00-05:00')
    const opens = nextAllowed(detroit, from)
    expect(opens).toEqual(at('2026-03-08T08:00:00-04:00'))
    expect(opens.toISOString()).toBe('2026-03-08T12:00:00.000Z')
    expect(opens.getTime() - from.getTime()).toBe(10 * HOUR)
    expect(isQuiet(detroit, at('2026-03-08T11:59:00Z'))).toBe(true)
    expect(isQuiet(detroit, at('2026-03-08T12:00:00Z'))).toBe(false)
  })

  it('fall back (November 1, 2026): the night is 12 h, and 08:00 is EST', () => {
    const from = at('2026-10-31T21:00:00-04:00')
    const opens = nextAllowed(detroit, from)
    expect(opens).toEqual(at('2026-11-01T08:00:00-05:00'))
    expect(opens.toISOString()).toBe('2026-11-01T13:00:00.000Z')
    expect(opens.getTime() - from.getTime()).toBe(12 * HOUR)
    // 12:30 UTC is 07:30 EST (08:30 with the summer offset): still quiet.
    expect(isQuiet(detroit, at('2026-11-01T12:30:00Z'))).toBe(true)
  })

  it('the first quiet instant of a span', () => {
    expect(firstQuietIn(detroit, at('2026-12-01T20:00:00-05:00'), at('2026-12-01T20:59:00-05:00'))).toBeNull()
    expect(firstQuietIn(detroit, at('2026-12-01T20:00:00-05:00'), at('2026-12-02T09:00:00-05:00')))
      .toEqual(at('2026-12-01T21:00:00-05:00'))
    expect(firstQuietIn(detroit, at('2026-12-01T22:00:00-05:00'), at('2026-12-01T23:00:00-05:00')))
      .toEqual(at('2026-12-01T22:00:00-05:00'))
  })
})

describe('quiet hours: follow-ups', () => {
  const followUp = (firstSentAt: string, delaySeconds: number) => ({ firstSentAt: at(firstSentAt), delaySeconds })

  it('a delay ending inside quiet hours waits until 08:00 when that is within 12 h of the first message', () => {
    const timing = followUp('2026-12-01T20:30:00-05:00', 3600)
    expect(quietVerdict(detroit, at('2026-12-01T21:30:00-05:00'), timing))
      .toEqual({ kind: 'hold', until: at('2026-12-02T08:00:00-05:00') })
    expect(quietVerdict(detroit, at('2026-12-02T08:00:00-05:00'), timing)).toEqual({ kind: 'send' })
    // A slow morning queue does not turn it into a skip: 08:00 was within 12 h.
    expect(quietVerdict(detroit, at('2026-12-02T08:45:00-05:00'), timing)).toEqual({ kind: 'send' })
  })

  it('more than 12 h after the first message: skipped, at night and in the morning', () => {
    const timing = followUp('2026-12-01T19:30:00-05:00', 7200)
    const night = quietVerdict(detroit, at('2026-12-01T21:30:00-05:00'), timing)
    expect(night).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/quiet hours.*more than 12 h/) })
    expect(quietVerdict(detroit, at('2026-12-02T08:00:00-05:00'), timing)).toMatchObject({ kind: 'skip' })
  })

  it('due before 21:00 but still queued when quiet hours began counts as held too', () => {
    expect(quietVerdict(detroit, at('2026-12-01T21:05:00-05:00'), followUp('2026-12-01T20:30:00-05:00', 600)))
      .toMatchObject({ kind: 'hold' })
    expect(quietVerdict(detroit, at('2026-12-01T21:05:00-05:00'), followUp('2026-12-01T19:30:00-05:00', 600)))
      .toMatchObject({ kind: 'skip' })
  })

  it('a follow-up quiet hours never touched is sent, however late', () => {
    expect(quietVerdict(detroit, at('2026-12-02T20:00:00-05:00'), followUp('2026-12-02T08:00:00-05:00', 60)))
      .toEqual({ kind: 'send' })
  })
})

describe('quiet hours: scheduling refusals', () => {
  it('a run time inside quiet hours names the next allowed time, ISO and on the Detroit clock', () => {
    const refusal = quietRunAtRefusal(detroit, at('2026-12-01T22:15:00-05:00'))
    expect(refusal).toMatchObject({
      nextAllowedAt: '2026-12-02T13:00:00.000Z',
      nextAllowedRunAt: Date.parse('2026-12-02T13:00:00Z') / 1000,
      nextAllowedAtLocal: 'Wed, Dec 2, 2026, 08:00 EST (America/Detroit)',
      quietHours: '21:00–08:00 America/Detroit',
    })
    expect(refusal!.message).toContain('quiet hours')
    expect(refusal!.message).toContain('2026-12-02T13:00:00.000Z')
    expect(quietRunAtRefusal(detroit, at('2026-12-01T20:45:00-05:00'))).toBeNull()
    expect(quietRunAtRefusal(null, at('2026-12-01T22:15:00-05:00'))).toBeNull()
  })

  it('weekly times inside quiet hours, each named with the time to use instead', () => {
    const refused = quietWeeklyRefusals(
      detroit,
      { mon: '21:30', tue: '09:00', wed: '07:45', thu: null },
      at('2026-12-01T12:00:00-05:00'),
    )
    expect(refused.map(({ day, time, nextAllowedTime }) => ({ day, time, nextAllowedTime }))).toEqual([
      { day: 'mon', time: '21:30', nextAllowedTime: '08:00' },
      { day: 'wed', time: '07:45', nextAllowedTime: '08:00' },
    ])
  })
})

describe('quiet hours: configuration', () => {
  const env = (extra: Record<string, string | undefined>) => ({ ...exampleEnv, ...extra })

  it('defaults to 21:00-08:00 in America/Detroit when unset; off disables', () => {
    const config = parseConfig(env({ QUIET_HOURS: undefined, BROADCAST_TIME_ZONE: undefined }))
    expect(quietHoursFrom(config)).toEqual({ start: '21:00', end: '08:00', timeZone: 'America/Detroit' })
    expect(quietHoursFrom(parseConfig(env({ QUIET_HOURS: 'off' })))).toBeNull()
    expect(quietHoursFrom(parseConfig(env({ QUIET_HOURS: 'OFF' })))).toBeNull()
    expect(quietHoursFrom(parseConfig(env({ QUIET_HOURS: '22:30-07:15', BROADCAST_TIME_ZONE: 'America/Chicago' }))))
      .toEqual({ start: '22:30', end: '07:15', timeZone: 'America/Chicago' })
  })

  it.each([
    ['QUIET_HOURS', '9pm-8am'],
    ['QUIET_HOURS', '21:00-24:00'],
    ['QUIET_HOURS', '21:00-21:00'],
    ['BROADCAST_TIME_ZONE', 'Mars/Olympus_Mons'],
  ])('%s=%s is a config error naming the variable', (name, value) => {
    try {
      parseConfig(env({ [name]: value }))
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).variables).toEqual([name])
      expect((error as Error).message).toContain(`${name} is invalid`)
    }
  })
})
