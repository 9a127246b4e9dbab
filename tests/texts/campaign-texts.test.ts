import { describe, expect, it } from 'vitest'
import { campaignRow, createAuthor, createCampaign, createLabel, labelPhone } from '../support/factories/campaigns.ts'
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

describe('segment and cost preview', () => {
  async function audience() {
    const segment = await createLabel(db.sql)
    const people: Array<[string, string | null, string | null]> = [
      ['+13135550101', 'Ana Pérez', '48201'],
      ['+13135550102', null, null],
      ['+13135550103', 'Zoë Smith', '48202'],
      ['+13135550104', 'Bob', '48203'],
    ]
    for (const [phone, name, zipcode] of people) {
      await createAuthor(db.sql, phone)
      await db.sql`UPDATE public.authors SET name = ${name}, zipcode = ${zipcode} WHERE phone_number = ${phone}`
      await labelPhone(db.sql, segment.id, phone)
    }
    // Opted out: neither counted nor previewed.
    await createAuthor(db.sql, '+13135550100', { unsubscribed: true })
    await labelPhone(db.sql, segment.id, '+13135550100')
    return { included: [{ id: segment.id }] }
  }

  it('recipient-count without texts answers exactly as before', async () => {
    const segments = await audience()
    const { status, body } = await api().post('/recipient-count/', { segments })
    expect(status).toBe(200)
    expect(body).toEqual({ recipient_count: 4 })
  })

  it('recipient-count with texts adds encoding, segments, UCS-2 culprits and segments × recipients', async () => {
    const segments = await audience()
    const { status, body } = await api().post('/recipient-count/', {
      segments,
      firstMessage: 'Hi {{first_name|neighbor}}, polls open at 7',
      secondMessage: 'It’s important: ' + 'x'.repeat(60),
    })
    expect(status).toBe(200)
    expect(body.recipient_count).toBe(4)
    // "Zoë" is not GSM-7: her text is UCS-2; "é" is GSM-7.
    expect(body.texts.firstMessage).toEqual({
      encoding: 'UCS-2',
      segments: 1,
      characters: 28, // "Hi neighbor, polls open at 7": the longest rendering
      ucs2Characters: ['ë'],
      placeholders: true,
      smartEncoding: false,
      smartEncodedCharacters: [],
      recipients: 4,
      totalSegments: 4,
    })
    // 76 UTF-16 units: two UCS-2 segments each, because of one curly apostrophe.
    expect(body.texts.secondMessage).toMatchObject({
      encoding: 'UCS-2',
      segments: 2,
      characters: 76,
      ucs2Characters: ['’'],
      placeholders: false,
      totalSegments: 8,
    })
  })

  it('with SMS_SMART_ENCODING=true the same text is GSM-7 and the preview says what was replaced', async () => {
    const segments = await audience()
    const { body } = await api({ env: { SMS_SMART_ENCODING: 'true' } }).post('/recipient-count/', {
      segments,
      firstMessage: 'It’s important: ' + 'x'.repeat(60),
    })
    expect(body.texts.firstMessage).toMatchObject({
      encoding: 'GSM-7',
      segments: 1,
      smartEncoding: true,
      smartEncodedCharacters: ['’'],
      totalSegments: 4,
    })
    expect(body.texts.secondMessage).toBeNull()
  })

  it('recipient-count refuses a bad placeholder with 400 naming it', async () => {
    const segments = await audience()
    const { status, body } = await api().post('/recipient-count/', { segments, firstMessage: 'Hi {{nam}}' })
    expect(status).toBe(400)
    expect(body.message).toContain('unknown placeholder {{nam}} at character 4')
  })

  it('POST /preview renders the first 3 recipients (fallbacks where a value is missing) by default', async () => {
    const segments = await audience()
    const { status, body } = await api().post('/preview/', {
      segments,
      firstMessage: 'Hi {{first_name|neighbor}}, news for {{zipcode}}!',
      secondMessage: 'Bye {{first_name}}',
    })
    expect(status).toBe(200)
    expect(body.recipient_count).toBe(4)
    expect(body.recipients).toEqual([
      {
        phoneNumber: '+13135550101',
        name: 'Ana Pérez',
        zipcode: '48201',
        firstMessage: 'Hi Ana, news for 48201!',
        secondMessage: 'Bye Ana',
      },
      {
        phoneNumber: '+13135550102',
        name: null,
        zipcode: null,
        firstMessage: 'Hi neighbor, news for!',
        secondMessage: 'Bye',
      },
      {
        phoneNumber: '+13135550103',
        name: 'Zoë Smith',
        zipcode: '48202',
        firstMessage: 'Hi Zoë, news for 48202!',
        secondMessage: 'Bye Zoë',
      },
    ])
    expect(body.texts.firstMessage).toMatchObject({ encoding: 'UCS-2', ucs2Characters: ['ë'], totalSegments: 4 })
  })

  it('POST /preview of a saved campaign uses its audience and texts; limit is bounded', async () => {
    const segments = await audience()
    const id = await createCampaign(db.sql, { firstMessage: 'Hello {{name|friend}}', segments })
    const { status, body } = await api().post('/preview/', { campaignId: id, limit: 1 })
    expect(status).toBe(200)
    expect(body.recipients).toEqual([
      {
        phoneNumber: '+13135550101',
        name: 'Ana Pérez',
        zipcode: '48201',
        firstMessage: 'Hello Ana Pérez',
        secondMessage: null,
      },
    ])
    expect((await api().post('/preview/', { campaignId: id, limit: 21 })).status).toBe(400)
    expect((await api().post('/preview/', { campaignId: 999999 })).status).toBe(404)
  })

  it('POST /preview: bad bodies are 400s naming the field, never a 500', async () => {
    const segments = await audience()
    for (
      const body of [
        {},
        { segments },
        { segments, firstMessage: 'x', campaignId: 1 },
        { segments, firstMessage: 'x', limit: 0 },
        { segments, firstMessage: 'x', extra: true },
        { segments, firstMessage: 'Hi {{first_name' },
        { segments: 'all', firstMessage: 'x' },
        '{not json',
      ]
    ) {
      const response = await api().post('/preview/', body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.body.message).toMatch(/^Validation error|Malformed JSON/)
    }
  })
})
