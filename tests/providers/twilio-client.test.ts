import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTwilioFake, type TwilioFake } from '../../src/local/fakes/twilio.ts'
import { createTwilioClient, TwilioRequestError } from '../../src/shared/twilio/index.ts'
import { ACCOUNT_SID, AUTH_TOKEN, FROM_PHONE } from './constants.ts'

let fake: TwilioFake
beforeAll(async () => {
  fake = await startTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN })
})
afterAll(() => fake.close())
beforeEach(() => fake.reset())

const client = (overrides: { authToken?: string; timeoutMs?: number } = {}) =>
  createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, baseUrl: fake.baseUrl, ...overrides })

const at = (iso: string) => new Date(`2025-01-15T${iso}Z`)

describe('listMessagesPage', () => {
  it('pages newest first through the date window with PageToken, as the reconcile job does', async () => {
    for (let minute = 0; minute < 7; minute++) {
      fake.addMessage({
        from: FROM_PHONE,
        to: `+1313555010${minute}`,
        status: 'delivered',
        dateSent: at(`18:0${minute}:00`),
      })
    }
    fake.addMessage({ from: '+18005550000', to: '+13135550199', status: 'delivered', dateSent: at('18:03:00') })
    fake.addMessage({ from: FROM_PHONE, to: '+13135550199', status: 'delivered', dateSent: at('17:59:59') })
    fake.addMessage({ from: FROM_PHONE, to: '+13135550199', status: 'queued', dateSent: null })

    const twilio = client()
    const window = { from: FROM_PHONE, dateSentAfter: at('18:01:00'), dateSentBefore: at('18:05:00'), pageSize: 2 }
    const first = await twilio.listMessagesPage(window)
    // Upstream re-requests later pages with the token only, without `DateSent<`.
    const second = await twilio.listMessagesPage({
      from: FROM_PHONE,
      dateSentAfter: at('18:01:00'),
      pageSize: 2,
      pageToken: first.nextPageToken,
    })
    const third = await twilio.listMessagesPage({
      from: FROM_PHONE,
      dateSentAfter: at('18:01:00'),
      pageSize: 2,
      pageToken: second.nextPageToken,
    })

    const minutes = (page: typeof first) =>
      page.messages.map((message) => message.dateSent?.toISOString().slice(11, 16))
    // Both bounds are inclusive to the second.
    expect(minutes(first)).toEqual(['18:05', '18:04'])
    expect(minutes(second)).toEqual(['18:03', '18:02'])
    expect(minutes(third)).toEqual(['18:01'])
    expect(first.nextPageToken).toMatch(/^PA/)
    expect(third.nextPageToken).toBeNull()
    expect(first.messages[0]).toEqual({
      sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      to: '+13135550105',
      from: FROM_PHONE,
      status: 'delivered',
      dateSent: at('18:05:00'),
      dateCreated: at('18:05:00'),
      body: '',
    })

    const [request] = fake.requests
    expect(request!.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`)
    expect(request!.query).toEqual({
      From: FROM_PHONE,
      'DateSent>': '2025-01-15T18:01:00Z',
      'DateSent<': '2025-01-15T18:05:00Z',
      PageSize: '2',
    })
    expect(fake.requests[1]!.query.PageToken).toBe(first.nextPageToken)
  })

  it('lists one number without a date filter, so messages Twilio has not sent yet are there too', async () => {
    const stuck = fake.addMessage({ from: FROM_PHONE, to: '+13135550199', status: 'queued', body: 'Hi' })
    expect(stuck.dateSent).toBeNull()
    fake.addMessage({ from: FROM_PHONE, to: '+13135550199', status: 'delivered', dateSent: at('18:03:00') })
    fake.addMessage({ from: FROM_PHONE, to: '+13135550100', status: 'delivered', dateSent: at('18:04:00') })

    const { messages, complete } = await client().listMessagesTo({
      to: '+13135550199',
      from: FROM_PHONE,
      createdSince: at('18:00:00'),
    })

    expect(complete).toBe(true)
    expect(messages.map((m) => [m.status, m.dateSent?.toISOString() ?? null, m.body])).toEqual([
      ['queued', null, 'Hi'],
      ['delivered', '2025-01-15T18:03:00.000Z', ''],
    ])
    expect(fake.requests.at(-1)!.query).toEqual({ To: '+13135550199', From: FROM_PHONE, PageSize: '50' })
    // A DateSent filter (the reconcile pass's listing) cannot show it.
    const page = await client().listMessagesPage({ from: FROM_PHONE, dateSentAfter: at('18:00:00'), pageSize: 50 })
    expect(page.messages.map((m) => m.sid)).not.toContain(stuck.sid)
  })

  it('passes through statuses our enum does not know', async () => {
    fake.addMessage({ from: FROM_PHONE, to: '+13135550101', status: 'canceled', dateSent: at('18:00:00') })
    const page = await client().listMessagesPage({ from: FROM_PHONE, dateSentAfter: at('17:00:00'), pageSize: 50 })
    expect(page.messages.map((message) => message.status)).toEqual(['canceled'])
  })

  it('answers the fake list in the shape of providers.md §7', async () => {
    fake.addMessage({ from: FROM_PHONE, to: '+13135550101', dateSent: at('18:00:02'), sid: `SM${'1'.repeat(32)}` })
    fake.addMessage({ from: FROM_PHONE, to: '+13135550102', dateSent: at('18:00:01') })
    const response = await fetch(
      `${fake.baseUrl}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?From=%2B18005550199&PageSize=1`,
      {
        headers: { Authorization: `Basic ${btoa(`${ACCOUNT_SID}:${AUTH_TOKEN}`)}` },
      },
    )
    const body = (await response.json()) as Record<string, unknown> & { messages: Array<Record<string, unknown>> }
    expect(Object.keys(body).sort()).toEqual(
      ['end', 'first_page_uri', 'messages', 'next_page_uri', 'page', 'page_size', 'previous_page_uri', 'start', 'uri']
        .sort(),
    )
    expect(body.messages[0]).toMatchObject({
      sid: `SM${'1'.repeat(32)}`,
      account_sid: ACCOUNT_SID,
      date_sent: 'Wed, 15 Jan 2025 18:00:02 +0000',
      direction: 'outbound-api',
      error_code: null,
      num_segments: '1',
    })
    expect(body.next_page_uri).toMatch(
      new RegExp(
        `^/2010-04-01/Accounts/${ACCOUNT_SID}/Messages\\.json\\?From=%2B18005550199&PageSize=1&Page=1&PageToken=PA`,
      ),
    )
    expect(body.previous_page_uri).toBeNull()
  })

  it('throws a TwilioRequestError with 401/20003 for a wrong auth token', async () => {
    const failure = await client({ authToken: 'wrong' })
      .listMessagesPage({ from: FROM_PHONE, dateSentAfter: at('18:00:00'), pageSize: 10 })
      .catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(TwilioRequestError)
    expect(failure).toMatchObject({ status: 401, code: 20003 })
  })

  it('throws a TwilioRequestError for a proxy HTML 503, a 429 and a timeout', async () => {
    const list = (twilio = client()) =>
      twilio.listMessagesPage({ from: FROM_PHONE, dateSentAfter: at('18:00:00'), pageSize: 10 })
    fake.failNext(1, 'unavailable')
    await expect(list()).rejects.toMatchObject({ name: 'TwilioRequestError', status: 503, code: null })
    fake.failNext(1, 'rate-limit')
    await expect(list()).rejects.toMatchObject({ status: 429, code: 20429 })
    fake.failNext(1, 'hang')
    await expect(list(client({ timeoutMs: 200 }))).rejects.toMatchObject({ status: 0 })
  })
})

describe('validateStatusCallback', () => {
  it('accepts the official twilio-node vector and rejects a tampered one', () => {
    const twilio = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: '12345', baseUrl: fake.baseUrl })
    const url = 'https://mycompany.com/myapp.php?foo=1&bar=2'
    const params = {
      CallSid: 'CA1234567890ABCDE',
      Caller: '+14158675309',
      Digits: '1234',
      From: '+14158675309',
      To: '+18005551212',
    }
    expect(twilio.validateStatusCallback({ signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params })).toBe(true)
    expect(
      twilio.validateStatusCallback({
        signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=',
        url,
        params: { ...params, Digits: '1235' },
      }),
    ).toBe(false)
  })
})
