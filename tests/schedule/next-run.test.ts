import { formatInTimeZone } from 'date-fns-tz'
import { beforeEach, describe, expect, it } from 'vitest'
import { loadActiveSchedule } from '../../src/shared/schedule/active-schedule.ts'
import {
  effectiveNextRun,
  minutesUntil,
  nextWeeklyRun,
  SCHEDULE_TIME_ZONE,
  wallTimeToInstant,
  type Weekday,
  type WeeklySchedule,
} from '../../src/shared/schedule/weekly.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { createBroadcastSetting } from '../support/factories/broadcasts.ts'

// Upstream's DateUtils tests (upstream-functions.md §7.9) on a pinned clock, plus the two defects
// of §8.6 #44: "only today, already passed" is next week (not null), and DST weeks are exact.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

const empty: WeeklySchedule = { mon: null, tue: null, wed: null, thu: null, fri: null, sat: null, sun: null }
const only = (day: Weekday, time: string): WeeklySchedule => ({ ...empty, [day]: time })
const detroit = (date: Date, pattern = 'yyyy-MM-dd HH:mm eee') => formatInTimeZone(date, SCHEDULE_TIME_ZONE, pattern)
const weekdayOfInstant = (date: Date) => detroit(date, 'eee').toLowerCase() as Weekday

// Wednesday 2025-06-11 15:20 EDT.
const now = new Date('2025-06-11T19:20:00Z')

describe('next weekly run (America/Detroit)', () => {
  it('diffInMinutes: signed fractional minutes', () => {
    expect(Math.floor(minutesUntil(new Date(now.getTime() + 30 * 60_000), now))).toBe(30)
    expect(Math.floor(minutesUntil(new Date(now.getTime() - 30 * 60_000), now))).toBe(-30)
  })

  it('is null without an active setting, or with every day empty', async () => {
    expect(await loadActiveSchedule(db.sql)).toBeNull()
    expect(effectiveNextRun(null, await loadActiveSchedule(db.sql), now)).toBeNull()
    await createBroadcastSetting(db.sql, { mon: '09:00', active: false })
    expect(await loadActiveSchedule(db.sql)).toBeNull()
    await createBroadcastSetting(db.sql, {})
    expect(nextWeeklyRun((await loadActiveSchedule(db.sql))!, now)).toBeNull()
  })

  it('reads the newest active setting as HH:MM', async () => {
    await createBroadcastSetting(db.sql, { mon: '09:00:00', tue: '10:00:00' })
    await createBroadcastSetting(db.sql, { mon: '08:15:30', sun: '14:00:00' })
    expect(await loadActiveSchedule(db.sql)).toEqual({ ...empty, mon: '08:15', sun: '14:00' })
  })

  it('same day: a slot later today is today', () => {
    const later = new Date(now.getTime() + 2 * 3600_000)
    const result = nextWeeklyRun(only(weekdayOfInstant(later), detroit(later, 'HH:mm')), now)!
    expect(result.toISOString()).toBe(later.toISOString())
  })

  it('a slot in the current minute is still upcoming (it is being triggered)', () => {
    expect(nextWeeklyRun(only('wed', '15:20'), new Date(now.getTime() + 40_000))!.toISOString()).toBe(now.toISOString())
  })

  it('next day: today at 00:00 has passed, tomorrow 09:00 is next', () => {
    const result = nextWeeklyRun({ ...empty, wed: '00:00', thu: '09:00' }, now)!
    expect(detroit(result)).toBe('2025-06-12 09:00 Thu')
  })

  it('wraps to next week: only yesterday is scheduled, 6 days ahead', () => {
    expect(detroit(nextWeeklyRun(only('tue', '09:00'), now)!)).toBe('2025-06-17 09:00 Tue')
  })

  it('only today, already passed: next week (upstream returned null)', () => {
    expect(detroit(nextWeeklyRun(only('wed', '09:00'), now)!)).toBe('2025-06-18 09:00 Wed')
  })

  it('DST: a 09:00 Detroit slot is 13:00 UTC on the March change Sunday and 14:00 UTC on the November one', () => {
    // Saturday evenings before each change.
    expect(nextWeeklyRun(only('sun', '09:00'), new Date('2025-03-08T23:00:00Z'))!.toISOString()).toBe(
      '2025-03-09T13:00:00.000Z',
    )
    expect(nextWeeklyRun(only('sun', '09:00'), new Date('2025-11-01T23:00:00Z'))!.toISOString()).toBe(
      '2025-11-02T14:00:00.000Z',
    )
  })

  it('DST: a week across the change keeps the wall time (upstream added days in UTC and was an hour off)', () => {
    // Saturday 2025-03-08 12:00 EST: the next Saturday 09:00 is EDT, 13:00 UTC.
    expect(nextWeeklyRun(only('sat', '09:00'), new Date('2025-03-08T17:00:00Z'))!.toISOString()).toBe(
      '2025-03-15T13:00:00.000Z',
    )
    // Saturday 2025-11-01 12:00 EDT: the next Saturday 09:00 is EST, 14:00 UTC.
    expect(nextWeeklyRun(only('sat', '09:00'), new Date('2025-11-01T16:00:00Z'))!.toISOString()).toBe(
      '2025-11-08T14:00:00.000Z',
    )
  })

  it('names the same instant as PostgreSQL for skipped and repeated wall times', async () => {
    for (
      const [date, time] of [['2025-03-09', '02:30'], ['2025-11-02', '01:30'], ['2025-07-04', '09:00'], [
        '2025-12-25',
        '23:45',
      ]]
    ) {
      const [{ at }] = await db.sql`SELECT ((${date}::date + ${time}::time) AT TIME ZONE 'America/Detroit') AS at`
      expect(wallTimeToInstant(date, time).toISOString(), `${date} ${time}`).toBe(new Date(at).toISOString())
    }
  })

  it('effective next run: a pinned run_at wins unless it is stale (older than the grace period)', () => {
    const schedule = only('thu', '09:00')
    const pinned = new Date(now.getTime() + 3600_000)
    expect(effectiveNextRun(pinned, schedule, now)).toEqual(pinned)
    const dueRecently = new Date(now.getTime() - 10 * 60_000)
    expect(effectiveNextRun(dueRecently, schedule, now)).toEqual(dueRecently)
    const stale = new Date(now.getTime() - 3 * 3600_000)
    expect(detroit(effectiveNextRun(stale, schedule, now)!)).toBe('2025-06-12 09:00 Thu')
    expect(effectiveNextRun(stale, null, now)).toBeNull()
  })
})
