import { describe, expect, it } from 'vitest'
import { campaignCount, createCampaign, createLabel } from '../support/factories/campaigns.ts'
import { csvForm, useCampaignApi } from './harness.ts'

// Issue 14 part 3: a campaign run time inside quiet hours (21:00-08:00 America/Detroit) answers 400
// with the next allowed time, in the campaign API's error shape ({message} plus additions).

const { db, api } = useCampaignApi()

// Tuesday 2026-12-01 12:00 EST.
const NOW = new Date('2026-12-01T12:00:00-05:00')
const QUIET = { QUIET_HOURS: '21:00-08:00', BROADCAST_TIME_ZONE: 'America/Detroit' }
const quietApi = () => api({ now: () => NOW, env: QUIET })
const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000)

const NIGHT = unix('2026-12-01T22:30:00-05:00')
const NEXT_MORNING = {
  nextAllowedAt: '2026-12-02T13:00:00.000Z',
  nextAllowedRunAt: unix('2026-12-02T08:00:00-05:00'),
  nextAllowedAtLocal: 'Wed, Dec 2, 2026, 08:00 EST (America/Detroit)',
  quietHours: '21:00–08:00 America/Detroit',
}

describe('campaign run times and quiet hours', () => {
  it('create (JSON) at 22:30 is refused with the next allowed time; nothing is created', async () => {
    const segment = await createLabel(db.sql)
    const { status, body } = await quietApi().post('/', {
      firstMessage: 'Hi {{first_name|neighbor}}',
      runAt: NIGHT,
      segments: { included: [{ id: segment.id }] },
    })
    expect(status).toBe(400)
    expect(body).toMatchObject(NEXT_MORNING)
    expect(body.message).toMatch(/inside quiet hours \(21:00–08:00 America\/Detroit\).*2026-12-02T13:00:00\.000Z/)
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('create at 20:45 or 08:00 is accepted', async () => {
    const segment = await createLabel(db.sql)
    for (const runAt of [unix('2026-12-01T20:45:00-05:00'), unix('2026-12-02T08:00:00-05:00')]) {
      const { status } = await quietApi().post('/', {
        firstMessage: 'Hello',
        runAt,
        segments: { included: [{ id: segment.id }] },
      })
      expect(status).toBe(200)
    }
  })

  it('create with a CSV file at 05:00 is refused too', async () => {
    const { status, body } = await quietApi().postForm(csvForm(
      { firstMessage: 'Hello', runAt: String(unix('2026-12-02T05:00:00-05:00')) },
      { name: 'n.csv', content: '+13135550100\n+13135550101' },
    ))
    expect(status).toBe(400)
    expect(body).toMatchObject(NEXT_MORNING)
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('edit to 22:30 is refused and leaves the campaign unchanged', async () => {
    const runAt = new Date('2026-12-02T10:00:00-05:00')
    const id = await createCampaign(db.sql, { runAt })
    const { status, body } = await quietApi().patch(`/${id}/`, { runAt: NIGHT })
    expect(status).toBe(400)
    expect(body).toMatchObject(NEXT_MORNING)
    const [row] = await db.sql`SELECT run_at FROM public.campaigns WHERE id = ${id}`
    expect(row!.run_at).toEqual(runAt)
    // An edit that does not touch the run time is not refused.
    expect((await quietApi().patch(`/${id}/`, { firstMessage: 'New text' })).status).toBe(200)
  })

  it('QUIET_HOURS=off accepts any time', async () => {
    const segment = await createLabel(db.sql)
    const { status } = await api({ now: () => NOW, env: { QUIET_HOURS: 'off' } }).post('/', {
      firstMessage: 'Hello',
      runAt: NIGHT,
      segments: { included: [{ id: segment.id }] },
    })
    expect(status).toBe(200)
  })
})
