import { describe, expect, it } from 'vitest'
import { campaignRow, createCampaign, createLabel } from '../support/factories/campaigns.ts'
import { csvForm, futureSeconds, useCampaignApi } from '../campaigns/harness.ts'

// Issue 14: placeholders are validated when a campaign is saved.

const { db, api, fakes } = useCampaignApi()

describe('placeholders at save time (campaigns)', () => {
  it('create: an unknown placeholder is a 400 naming it and its position; nothing is stored', async () => {
    const segment = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 'Hi {{frist_name}}, news!',
      runAt: futureSeconds(),
      segments: { included: [{ id: segment.id }] },
    })
    expect(status).toBe(400)
    expect(body.message).toBe(
      'Validation error: [firstMessage] unknown placeholder {{frist_name}} at character 4; ' +
        'known: {{name}}, {{first_name}}, {{zipcode}}',
    )
    expect((await db.sql`SELECT count(*)::int AS n FROM public.campaigns`)[0]!.n).toBe(0)
  })

  it('create: an unclosed {{ in the follow-up is a 400 naming the field and position', async () => {
    const segment = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 'Hi {{first_name|neighbor}}',
      secondMessage: 'Thanks {{name',
      runAt: futureSeconds(),
      segments: { included: [{ id: segment.id }] },
    })
    expect(status).toBe(400)
    expect(body.message).toContain('[secondMessage] unclosed "{{" at character 8')
  })

  it('create: valid placeholders are stored as written (rendered per person at send time)', async () => {
    const segment = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 'Hi {{first_name|neighbor}}, news for {{zipcode}}',
      runAt: futureSeconds(),
      segments: { included: [{ id: segment.id }] },
    })
    expect(status).toBe(200)
    expect((await campaignRow(db.sql, body.id)).first_message).toBe('Hi {{first_name|neighbor}}, news for {{zipcode}}')
  })

  it('create with a CSV: a placeholder inside a link is a 400', async () => {
    const { status, body } = await api().postForm(csvForm(
      { firstMessage: 'See https://example.org/?z={{zipcode}}', runAt: String(futureSeconds()) },
      { name: 'r.csv', content: '+13135550101\n' },
    ))
    expect(status).toBe(400)
    expect(body.message).toContain('placeholder {{zipcode}} at character 28 is inside a link')
  })

  it('edit: a bad placeholder is a 400 and the campaign keeps its text', async () => {
    const id = await createCampaign(db.sql, { firstMessage: 'Original', runAt: new Date((futureSeconds()) * 1000) })
    const { status, body } = await api().patch(`/${id}/`, { firstMessage: 'Hi {{zip}}' })
    expect(status).toBe(400)
    expect(body.message).toContain('[firstMessage] - unknown placeholder {{zip}} at character 4')
    expect((await campaignRow(db.sql, id)).first_message).toBe('Original')
  })

  it('texts with braces that are not placeholders are saved as before', async () => {
    const id = await createCampaign(db.sql, { firstMessage: 'Original', runAt: new Date((futureSeconds()) * 1000) })
    const { status } = await api().patch(`/${id}/`, { firstMessage: 'Reply {YES} or }} or {NO}' })
    expect(status).toBe(200)
    expect((await campaignRow(db.sql, id)).first_message).toBe('Reply {YES} or }} or {NO}')
  })
})

describe('test send renders placeholders for the number it goes to', () => {
  it('uses that number’s authors row, and the fallbacks for a number we do not know', async () => {
    await db.sql`INSERT INTO public.authors (phone_number, name) VALUES ('+13135550199', 'Ana Pérez')`
    const id = await createCampaign(db.sql, { firstMessage: 'Hi {{first_name|neighbor}}, vote in {{zipcode|Detroit}}' })
    expect((await api().post(`/${id}/test/`, { phoneNumber: '+13135550199' })).status).toBe(200)
    expect((await api().post(`/${id}/test/`, { phoneNumber: '+13135550100' })).status).toBe(200)
    expect(fakes.missive.drafts.map((d) => d.body)).toEqual([
      'Hi Ana, vote in Detroit',
      'Hi neighbor, vote in Detroit',
    ])
  })
})
