import { beforeEach, describe, expect, it } from 'vitest'
import { sendNowFunction } from '../../src/shared/broadcasts/send-now-function.ts'
import { broadcastSettingFunction } from '../../src/shared/broadcasts/settings-function.ts'
import { broadcastSidebarFunction } from '../../src/shared/broadcasts/sidebar-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { sendMessagesFunction } from '../../src/shared/sending/send-messages-function.ts'
import { asStaff, createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'
import {
  broadcastRows,
  createAuthors,
  createBroadcast,
  createBroadcastSetting,
  createSegment,
  queuedFirstMessages,
} from '../support/factories/broadcasts.ts'

// Issue 14 part 3 for broadcasts: a pinned run time or a weekly time inside quiet hours is
// refused with the next allowed time; send-now is not refused, and what it queues is held.

const db = useTestDatabase()
const fakes = useFakes()
beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
})

const QUIET = { QUIET_HOURS: '21:00-08:00', BROADCAST_TIME_ZONE: 'America/Detroit' }
// Tuesday 2026-12-01 12:00 EST.
const NOON = new Date('2026-12-01T12:00:00-05:00')
const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000)

function app(fn: Parameters<typeof createFunctionApp>[0], now: Date, env: Record<string, string> = QUIET) {
  return asStaff(createFunctionApp(fn, createTestDeps(db.sql, { now: () => now, env: { ...fakes.env, ...env } })))
}

async function call(
  fn: Parameters<typeof createFunctionApp>[0],
  now: Date,
  path: string,
  init: { method?: string; json?: unknown; apikey?: boolean } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (init.apikey) headers.apikey = SECRET_KEY
  const response = await app(fn, now).request(path, {
    method: init.method ?? 'GET',
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  })
  return { status: response.status, body: await response.json() as any }
}

describe('PATCH /broadcast-sidebar/ runAt', () => {
  it('inside quiet hours: 400 in the sidebar error shape, with the next allowed time; unchanged', async () => {
    const runAt = new Date('2026-12-02T10:00:00-05:00')
    const broadcast = await createBroadcast(db.sql, { editable: true, runAt })
    const { status, body } = await call(broadcastSidebarFunction, NOON, '/broadcast-sidebar/', {
      method: 'PATCH',
      json: { id: broadcast.id, runAt: unix('2026-12-01T23:00:00-05:00') },
    })
    expect(status).toBe(400)
    expect(body).toMatchObject({
      message: 'Bad Request',
      nextAllowedAt: '2026-12-02T13:00:00.000Z',
      nextAllowedRunAt: unix('2026-12-02T08:00:00-05:00'),
      nextAllowedAtLocal: 'Wed, Dec 2, 2026, 08:00 EST (America/Detroit)',
    })
    expect(body.detail).toMatch(/\[runAt\].*inside quiet hours/)
    expect((await broadcastRows(db.sql))[0]).toMatchObject({ run_at: runAt })

    const ok = await call(broadcastSidebarFunction, NOON, '/broadcast-sidebar/', {
      method: 'PATCH',
      json: { id: broadcast.id, runAt: unix('2026-12-01T20:30:00-05:00') },
    })
    expect(ok.status).toBe(200)
  })
})

describe('POST /broadcast-settings/ weekly times', () => {
  it('a weekly time inside quiet hours is refused, naming the day and the time to use instead', async () => {
    const { status, body } = await call(broadcastSettingFunction, NOON, '/broadcast-settings/', {
      method: 'POST',
      json: { schedule: { mon: '09:00', tue: '21:30', fri: '7:45' } },
    })
    expect(status).toBe(400)
    expect(body.message).toBe(
      'Validation error in broadcast-schedules: ' +
        ' [schedule,tue] - 21:30 is inside quiet hours (21:00–08:00 America/Detroit); the next allowed time is 08:00,' +
        ' [schedule,fri] - 7:45 is inside quiet hours (21:00–08:00 America/Detroit); the next allowed time is 08:00',
    )
    expect(body.refused.map((r: any) => [r.day, r.nextAllowedTime])).toEqual([['tue', '08:00'], ['fri', '08:00']])
    expect((await db.sql`SELECT count(*)::int AS n FROM public.broadcast_settings`)[0]!.n).toBe(0)

    const ok = await call(broadcastSettingFunction, NOON, '/broadcast-settings/', {
      method: 'POST',
      json: { schedule: { mon: '09:00', tue: '20:45' } },
    })
    expect(ok.status).toBe(200)
  })
})

describe('send-now during quiet hours', () => {
  it('is not refused: it queues the broadcast, the sender holds it, and it goes out at 08:00', async () => {
    await createAuthors(db.sql, 2)
    const broadcast = await createBroadcast(db.sql, {
      editable: true,
      firstMessage: 'Evening news',
      secondMessage: 'Any thoughts?',
      noUsers: 5000,
      runAt: null,
    })
    await createSegment(db.sql, { name: 'Test', broadcastId: broadcast.id })
    await createBroadcastSetting(db.sql, { mon: '09:00' })
    const night = new Date('2026-12-01T22:00:00-05:00')

    const sent = await call(sendNowFunction, night, '/send-now/')
    expect(sent.status).toBe(200)
    expect(sent.body).toMatchObject({ broadcastId: broadcast.id, queued: 2 })
    expect(await queuedFirstMessages(db.sql)).toHaveLength(2)

    const drain = (now: Date) =>
      call(sendMessagesFunction, now, '/send-messages/', { method: 'POST', json: { isSecond: false }, apikey: true })
    expect((await drain(night)).body).toMatchObject({ sent: 0, stoppedBy: 'quiet-hours' })
    expect(fakes.missive.drafts).toHaveLength(0)

    const sidebar = await call(broadcastSidebarFunction, night, '/broadcast-sidebar/')
    expect(sidebar.body.quietHours).toMatchObject({ active: true, resumesAt: '2026-12-02T13:00:00.000Z' })
    expect(sidebar.body.past.find((p: any) => p.id === broadcast.id)).toMatchObject({ heldForQuietHours: 2 })

    expect((await drain(new Date('2026-12-02T08:00:00-05:00'))).body).toMatchObject({ sent: 2 })
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual(['Evening news', 'Evening news'])
  })
})
