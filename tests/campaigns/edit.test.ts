import { describe, expect, it } from 'vitest'
import { exampleEnv } from '../support/app.ts'
import { campaignRow, createCampaign, createLabel, fileRecipients, seconds } from '../support/factories/campaigns.ts'
import { csvForm, futureSeconds, useCampaignApi } from './harness.ts'

// PATCH and DELETE /campaigns/:id/: upstream's cases #17–#29 and #53–#58 (upstream-functions.md
// §7.7), plus the client contract of DESIGN.md (PATCH ignores unknown/read-only fields, accepts
// `title: null`) and "only while the campaign has not run".

const { db, fakes, api, storedFiles } = useCampaignApi()
const DAY = 86400

async function campaignAt(runAtSeconds: number, input: Parameters<typeof createCampaign>[1] = {}) {
  return await createCampaign(db.sql, {
    firstMessage: 'Original message',
    runAt: new Date(runAtSeconds * 1000),
    ...input,
  })
}

describe('PATCH /campaigns/:id/ (upstream #17–#29)', () => {
  it('#17 updates an upcoming campaign', async () => {
    const future = futureSeconds()
    const id = await campaignAt(future)
    const { status, body } = await api().patch(`/${id}/`, { firstMessage: 'Updated message', runAt: future + DAY })
    expect(status).toBe(200)
    expect(body).toMatchObject({ firstMessage: 'Updated message', runAt: future + DAY })
    const row = await campaignRow(db.sql, id)
    expect(row.first_message).toBe('Updated message')
    expect(seconds(row.run_at)).toBe(future + DAY)
  })

  it('#18 #25 changes only the fields given', async () => {
    const future = futureSeconds()
    const id = await campaignAt(future, { title: 'Original title', secondMessage: 'Original second message' })
    let { body } = await api().patch(`/${id}/`, { firstMessage: 'Updated message' })
    expect(body).toMatchObject({
      firstMessage: 'Updated message',
      title: 'Original title',
      secondMessage: 'Original second message',
      runAt: future,
    })
    ;({ body } = await api().patch(`/${id}/`, { title: 'Updated title' }))
    expect(body).toMatchObject({
      title: 'Updated title',
      firstMessage: 'Updated message',
      secondMessage: 'Original second message',
      runAt: future,
    })
    expect(await campaignRow(db.sql, id)).toMatchObject({ title: 'Updated title', first_message: 'Updated message' })
  })

  it('#19 #20 refuse a past or unknown campaign', async () => {
    const past = await campaignAt(futureSeconds(-DAY))
    for (const id of [past, 999999]) {
      const { status, body } = await api().patch(`/${id}/`, { firstMessage: 'Updated message' })
      expect({ status, body }).toEqual({ status: 400, body: { message: 'Campaign not found or cannot be edited' } })
    }
    expect((await campaignRow(db.sql, past)).first_message).toBe('Original message')
  })

  it('#21 requires at least one field', async () => {
    const id = await campaignAt(futureSeconds())
    const { status, body } = await api().patch(`/${id}/`, {})
    expect(status).toBe(400)
    expect(body.message).toBe('Validation error in campaigns:  [] - At least one field must be provided for update')
  })

  it('#22 rejects an id that is not a number', async () => {
    const { status, body } = await api().patch('/invalid-id/', { firstMessage: 'x' })
    expect({ status, body }).toEqual({ status: 400, body: { message: 'Invalid campaign ID' } })
  })

  it('#23 updates every field', async () => {
    const future = futureSeconds()
    const id = await campaignAt(future, { title: 'Original title', secondMessage: 'Original second' })
    const { body } = await api().patch(`/${id}/`, {
      title: 'Updated title',
      firstMessage: 'Updated first message',
      secondMessage: 'Updated second message',
      runAt: future + DAY,
    })
    expect(body).toMatchObject({
      title: 'Updated title',
      firstMessage: 'Updated first message',
      secondMessage: 'Updated second message',
      runAt: future + DAY,
    })
    expect(await campaignRow(db.sql, id)).toMatchObject({
      title: 'Updated title',
      first_message: 'Updated first message',
      second_message: 'Updated second message',
    })
  })

  it('#24 clears the follow-up with secondMessage: null', async () => {
    const future = futureSeconds()
    const id = await campaignAt(future, {
      title: 'Original title',
      firstMessage: 'Original first message',
      secondMessage: 'Second',
    })
    const { body } = await api().patch(`/${id}/`, { secondMessage: null })
    expect(body).toMatchObject({
      title: 'Original title',
      firstMessage: 'Original first message',
      secondMessage: null,
      runAt: future,
    })
    expect((await campaignRow(db.sql, id)).second_message).toBeNull()
  })

  it('#26 moves runAt to an earlier future time', async () => {
    const id = await campaignAt(futureSeconds(7 * DAY))
    const earlier = futureSeconds(6 * DAY)
    const { body } = await api().patch(`/${id}/`, { runAt: earlier })
    expect(body.runAt).toBe(earlier)
    expect(seconds((await campaignRow(db.sql, id)).run_at)).toBe(earlier)
  })

  it('rejects a runAt in the past, and the other create rules', async () => {
    const id = await campaignAt(futureSeconds())
    for (
      const [body, message] of [
        [{ runAt: futureSeconds(-60) }, 'Validation error in campaigns:  [runAt] - Run time must be in the future'],
        [{ delay: 0 }, 'Validation error in campaigns:  [delay] - Delay must be a positive integer'],
        [{ firstMessage: '' }, 'Validation error in campaigns:  [firstMessage] - First message is required'],
      ] as const
    ) {
      const response = await api().patch(`/${id}/`, body)
      expect(response).toMatchObject({ status: 400, body: { message } })
    }
  })

  it('#27 rejects `excluded: null` and leaves the campaign alone', async () => {
    const label = await createLabel(db.sql)
    const id = await campaignAt(futureSeconds())
    const { status, body } = await api().patch(`/${id}/`, {
      segments: { included: [{ id: label.id }], excluded: null },
    })
    expect(status).toBe(400)
    expect(body.message).toContain('excluded')
    expect((await campaignRow(db.sql, id)).first_message).toBe('Original message')
  })

  it('#28 ignores campaignLabelName: the labels stay', async () => {
    const original = await createLabel(db.sql, { name: `Original Label ${Date.now()}` })
    const other = await createLabel(db.sql)
    const id = await campaignAt(futureSeconds(), { labelIds: [original.id] })
    let response = await api().patch(`/${id}/`, { title: 'Updated Campaign', campaignLabelName: other.name })
    expect(response).toMatchObject({ status: 200, body: { title: 'Updated Campaign', labelIds: [original.id] } })
    response = await api().patch(`/${id}/`, { firstMessage: 'Updated again', campaignLabelName: null })
    expect(response).toMatchObject({ status: 200, body: { firstMessage: 'Updated again', labelIds: [original.id] } })
    expect((await campaignRow(db.sql, id)).label_ids).toEqual([original.id])
  })

  it('#29 turns a file campaign into a segment campaign: recipients, file URL, stored file and CSV label go', async () => {
    const label = await createLabel(db.sql)
    const future = futureSeconds()
    const created = await api().postForm(
      csvForm({ title: 'File Campaign', firstMessage: 'File message', runAt: String(future) }, {
        name: 'file-campaign.csv',
        content: '+18881234567\n+18889876543',
      }),
    )
    const id = created.body.id
    expect(await campaignRow(db.sql, id)).toMatchObject({
      segments: null,
      label_ids: [exampleEnv.SHARED_CSV_CAMPAIGN_LABEL_ID],
    })
    expect((await campaignRow(db.sql, id)).recipient_file_url).not.toBeNull()
    expect(await fileRecipients(db.sql, id)).toHaveLength(2)
    expect(storedFiles()).toEqual([`campaign-${id}.csv`])

    const { status } = await api().patch(`/${id}/`, {
      title: 'Now Segment-Based',
      segments: { included: [{ id: label.id }] },
    })
    expect(status).toBe(200)
    const row = await campaignRow(db.sql, id)
    expect(row).toMatchObject({ title: 'Now Segment-Based', recipient_file_url: null, label_ids: [] })
    expect(row.segments.included[0].id).toBe(label.id)
    expect(await fileRecipients(db.sql, id)).toHaveLength(0)
    expect(storedFiles()).toEqual([]) // upstream left the file behind (§8.5 #41)
  })

  it('accepts what the sidebar sends back: the whole campaign, read-only fields and title: null (upstream: 400)', async () => {
    const label = await createLabel(db.sql)
    const future = futureSeconds()
    const id = await campaignAt(future, {
      title: null,
      segments: { included: [{ id: label.id, since: 0 }], excluded: [] },
      labelIds: ['lbl'],
    })
    const [campaign] = (await api().get('/?pageSize=1&page=1')).body.upcoming
    const { id: _id, ...edited } = {
      ...campaign,
      firstMessage: 'Edited in the sidebar',
      campaignLabelNames: ['Some label'],
    }
    const { status, body } = await api().patch(`/${id}/`, edited)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      id,
      title: null,
      firstMessage: 'Edited in the sidebar',
      labelIds: ['lbl'],
      runAt: future,
    })
  })

  it('refuses to edit a campaign that has run, or was cancelled, even if its run time is ahead', async () => {
    const future = futureSeconds()
    for (const input of [{ processed: true, status: 'sending' }, { status: 'cancelled' }]) {
      const id = await campaignAt(future, input)
      const { status, body } = await api().patch(`/${id}/`, { firstMessage: 'late edit' })
      expect({ status, body }).toEqual({ status: 400, body: { message: 'Campaign not found or cannot be edited' } })
    }
  })

  it('answers 400 for malformed JSON', async () => {
    const id = await campaignAt(futureSeconds())
    const { status, body } = await api().send('PATCH', `/${id}/`, { json: '{"title":' })
    expect({ status, body }).toEqual({ status: 400, body: { message: 'Malformed JSON body' } })
  })
})

describe('DELETE /campaigns/:id/ (upstream #53–#58)', () => {
  it('#53 deletes an upcoming campaign', async () => {
    const id = await campaignAt(futureSeconds())
    const { status, body } = await api().delete(`/${id}/`)
    expect({ status, body }).toEqual({ status: 200, body: { message: 'Campaign deleted successfully', id } })
    expect(await campaignRow(db.sql, id)).toBeUndefined()
  })

  it('#54 deletes a file campaign, its recipients and its stored file', async () => {
    const created = await api().postForm(
      csvForm({ title: 'Delete me', firstMessage: 'm', runAt: String(futureSeconds()) }, {
        name: 'delete-test.csv',
        content: '+18881234567\n+18889876543',
      }),
    )
    const id = created.body.id
    expect(await fileRecipients(db.sql, id)).toHaveLength(2)
    const { status, body } = await api().delete(`/${id}/`)
    expect({ status, body }).toEqual({ status: 200, body: { message: 'Campaign deleted successfully', id } })
    expect(await campaignRow(db.sql, id)).toBeUndefined()
    expect(await fileRecipients(db.sql, id)).toHaveLength(0)
    expect(storedFiles()).toEqual([])
  })

  it('#55 #57 #58 refuse an unknown, past or processed campaign and keep it', async () => {
    const past = await campaignAt(futureSeconds(-DAY))
    const processed = await campaignAt(futureSeconds(), { processed: true, status: 'sending' })
    for (const id of [999999, past, processed]) {
      const { status, body } = await api().delete(`/${id}/`)
      expect({ status, body }).toEqual({
        status: 400,
        body: { message: 'Campaign not found or is not an upcoming campaign' },
      })
    }
    expect(await campaignRow(db.sql, past)).toBeDefined()
    expect(await campaignRow(db.sql, processed)).toBeDefined()
  })

  it('#56 rejects an id that is not a number', async () => {
    const { status, body } = await api().delete('/invalid-id/')
    expect({ status, body }).toEqual({ status: 400, body: { message: 'Invalid campaign ID' } })
  })

  it('deletes a campaign that was cancelled before it ran', async () => {
    const id = await campaignAt(futureSeconds(), { status: 'cancelled' })
    expect((await api().delete(`/${id}/`)).status).toBe(200)
  })

  it('answers on both names, with CORS preflight', async () => {
    const id = await campaignAt(futureSeconds())
    const app = api().app
    const preflight = await app.request(`/campaigns/${id}/`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'DELETE' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-methods')).toContain('DELETE')
    const response = await app.request(`/campaign/${id}/`, { method: 'DELETE' })
    expect(response.status).toBe(200)
    expect(fakes.missive.requests).toHaveLength(0)
  })
})
