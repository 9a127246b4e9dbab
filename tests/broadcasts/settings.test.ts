import { beforeEach, describe, expect, it } from 'vitest'
import { broadcastSettingFunction } from '../../src/shared/broadcasts/settings-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { asStaff, createTestDeps } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { createBroadcast, createBroadcastSetting } from '../support/factories/broadcasts.ts'

// Upstream's broadcast-settings-tests.ts (upstream-functions.md §7.6), on the name the sidebar
// calls (`broadcast-settings`) and the singular alias.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

function settings(name = 'broadcast-settings') {
  const app = asStaff(createFunctionApp(broadcastSettingFunction, createTestDeps(db.sql)))
  return {
    get: async () => {
      const response = await app.request(`/${name}/`)
      return { status: response.status, body: await response.json() }
    },
    post: async (body: unknown) => {
      const response = await app.request(`/${name}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return { status: response.status, body: await response.json() }
    },
  }
}

const full = {
  mon: '09:00:00',
  tue: '10:00:00',
  wed: '11:00:00',
  thu: '12:00:00',
  fri: '13:00:00',
  sat: '14:00:00',
  sun: '15:00:00',
}
const fullResponse = {
  mon: '09:00',
  tue: '10:00',
  wed: '11:00',
  thu: '12:00',
  fri: '13:00',
  sat: '14:00',
  sun: '15:00',
}
const none = { mon: null, tue: null, wed: null, thu: null, fri: null, sat: null, sun: null }

const latestRow = async () => {
  const [row] = await db.sql`
    SELECT mon::text, tue::text, wed::text, thu::text, fri::text, sat::text, sun::text, active
    FROM public.broadcast_settings ORDER BY id DESC LIMIT 1`
  return row
}
const rowCount = async () => (await db.sql`SELECT count(*)::int AS n FROM public.broadcast_settings`)[0].n

describe('GET /broadcast-settings/', () => {
  it('returns only the times of the newest active setting', async () => {
    await createBroadcastSetting(db.sql, full)
    await createBroadcastSetting(db.sql, {
      mon: '08:00:00',
      tue: null,
      wed: '10:00:00',
      thu: '11:00:00',
      sun: '14:00:00',
    })
    expect(await settings().get()).toEqual({
      status: 200,
      body: { schedule: { mon: '08:00', tue: null, wed: '10:00', thu: '11:00', fri: null, sat: null, sun: '14:00' } },
    })
  })

  it('answers {} without settings, or without an active one', async () => {
    expect((await settings().get()).body).toEqual({})
    await createBroadcastSetting(db.sql, { ...full, active: false })
    await createBroadcast(db.sql, { editable: true, noUsers: 5000 })
    expect((await settings().get()).body).toEqual({})
  })

  it('adds batchSize from the editable broadcast', async () => {
    await createBroadcast(db.sql, { editable: true, noUsers: 5000 })
    await createBroadcastSetting(db.sql, full)
    expect((await settings().get()).body).toEqual({ schedule: fullResponse, batchSize: 5000 })
    expect((await settings('broadcast-setting').get()).body).toEqual({ schedule: fullResponse, batchSize: 5000 })
  })
})

describe('POST /broadcast-settings/', () => {
  it('creates a setting; missing days are null on a first setting', async () => {
    const { status, body } = await settings().post({ schedule: { mon: '09:00', wed: '11:00', fri: null } })
    expect(status).toBe(200)
    expect(body).toEqual({ schedule: { ...none, mon: '09:00', wed: '11:00' } })
    expect(await latestRow()).toEqual({ ...none, mon: '09:00:00', wed: '11:00:00', active: true })
  })

  it('rejects invalid schedules with the upstream message prefix and writes nothing', async () => {
    for (
      const body of [
        { schedule: { mon: '0911:00' } },
        { schedule: {} },
        {},
        { schedule: { monday: '09:00', wed: '11:00' } },
        { schedule: { mon: null, tue: null, wed: null } },
      ]
    ) {
      const response = await settings().post(body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.body.message).toMatch(/^Validation error in broadcast-schedules: /)
    }
    expect((await settings().post({ schedule: {} })).body.message).toContain(
      'At least one day must have a valid time value',
    )
    expect((await settings().post({ schedule: { mon: '0911:00' } })).body.message).toContain(' [schedule,mon] - ')
    expect(await rowCount()).toBe(0)
  })

  it('inherits missing days from the active setting, deactivates it, and an explicit null clears a day', async () => {
    await createBroadcastSetting(db.sql, full)
    const { body } = await settings().post({ schedule: { mon: '08:00', wed: null } })
    expect(body).toEqual({ schedule: { ...fullResponse, mon: '08:00', wed: null } })
    expect(await latestRow()).toEqual({ ...full, mon: '08:00:00', wed: null, active: true })
    const active = await db.sql`SELECT id FROM public.broadcast_settings WHERE active`
    expect(active).toHaveLength(1)
    expect(await rowCount()).toBe(2)
  })

  it('inherits from the newest of several active settings (upstream: an arbitrary one)', async () => {
    await createBroadcastSetting(db.sql, { mon: '07:00:00', tue: '07:00:00' })
    await createBroadcastSetting(db.sql, { mon: '09:00:00', tue: '10:00:00' })
    expect((await settings().post({ schedule: { mon: '08:00' } })).body.schedule).toEqual({
      ...none,
      mon: '08:00',
      tue: '10:00',
    })
    expect(await db.sql`SELECT id FROM public.broadcast_settings WHERE active`).toHaveLength(1)
  })

  it('ignores extra top-level fields', async () => {
    const { status, body } = await settings().post({
      schedule: { mon: '09:00', wed: '11:00' },
      extraField: 'some value',
      anotherExtra: 123,
    })
    expect(status).toBe(200)
    expect(body.schedule).toEqual({ ...none, mon: '09:00', wed: '11:00' })
  })

  it('accepts 15-minute steps only', async () => {
    for (const time of ['00:00', '00:15', '00:30', '00:45', '09:00', '23:45']) {
      expect((await settings().post({ schedule: { mon: time } })).body.schedule.mon).toBe(time)
    }
    expect((await settings().post({ schedule: { mon: '9:00' } })).body.schedule.mon).toBe('09:00')
    for (const time of ['00:01', '00:10', '00:20', '09:05', '23:59', '24:00']) {
      expect((await settings().post({ schedule: { mon: time } })).status, time).toBe(400)
    }
  })

  it('writes batchSize to the editable broadcast', async () => {
    const broadcast = await createBroadcast(db.sql, { editable: true, noUsers: 5000 })
    for (const batchSize of [1, 100, 1000, 10000]) {
      expect((await settings().post({ schedule: { mon: '09:00' }, batchSize })).body.batchSize).toBe(batchSize)
      const [row] = await db.sql`SELECT no_users FROM public.broadcasts WHERE id = ${broadcast.id}`
      expect(row.no_users).toBe(batchSize)
    }
  })

  it('keeps the batch size when none is given', async () => {
    await createBroadcast(db.sql, { editable: true, noUsers: 5000 })
    await createBroadcastSetting(db.sql, { mon: '09:00:00' })
    expect((await settings().post({ schedule: { mon: '10:00' } })).body).toEqual({
      schedule: { ...none, mon: '10:00' },
      batchSize: 5000,
    })
  })

  it('rejects invalid batch sizes, fractional ones included (upstream: 500)', async () => {
    await createBroadcast(db.sql, { editable: true, noUsers: 5000 })
    for (const batchSize of [0, -1, 10001, 100000, 1.5, '100']) {
      const response = await settings().post({ schedule: { mon: '09:00' }, batchSize })
      expect(response.status, String(batchSize)).toBe(400)
      expect(response.body.message).toContain('[batchSize]')
    }
    expect(await rowCount()).toBe(0)
  })
})
