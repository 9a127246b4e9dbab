import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/shared/log/logger.ts'
import { lookupReference, refreshLookupSummary } from '../../src/shared/lookup/refresh-summary.ts'
import { exampleEnv } from '../support/app.ts'
import {
  CONTACT_PHONE,
  CONVERSATION_ID,
  incomingSms,
  newComment,
  outgoingSms,
  OUTLIER_PHONE,
  SMS_CONVERSATION_ID,
  teamChange,
} from './fixtures/missive-events.ts'
import { useWebhookHarness } from './harness.ts'
import { useLookupRecorder } from './lookup-recorder.ts'

// The lookup service's summary cache refresh (clients.md §2.3, §6 #16): fired on new SMS (in and
// out) and on comments in SMS conversations; never fatal, never slow.

const LOOKUP_SECRET = 'lookup-secret-for-tests'
const lookup = useLookupRecorder()
const { db, userAction } = useWebhookHarness({
  env: () => ({ LOOKUP_URL: `${lookup.url}/api`, LOOKUP_SECRET, OUTLIER_PHONE_NUMBER: OUTLIER_PHONE }),
})

const expectedCall = (conversationId: string) => ({
  path: `/api/refresh-summary/${conversationId}`,
  query: `?reference=${encodeURIComponent(CONTACT_PHONE)}`,
  authorization: `Bearer ${LOOKUP_SECRET}`,
})

describe('lookup cache refresh', () => {
  it("an incoming SMS refreshes the summary of its conversation, for the contact's number", async () => {
    await userAction(incomingSms())

    expect(lookup.requests).toEqual([expectedCall(SMS_CONVERSATION_ID)])
  })

  it('an outgoing SMS refreshes it too', async () => {
    await userAction(outgoingSms())

    expect(lookup.requests).toEqual([expectedCall(SMS_CONVERSATION_ID)])
  })

  it('a comment refreshes it only in an SMS conversation (latest_message has references)', async () => {
    await userAction(newComment())
    expect(lookup.requests).toEqual([])

    const inSms = newComment() as ReturnType<typeof newComment> & { latest_message?: unknown }
    inSms.comment.id = 'deadfeed-dead-feed-dead-deadfeed0005'
    inSms.latest_message = { id: 'x', references: [`${OUTLIER_PHONE}${CONTACT_PHONE}`], to_fields: [] }
    await userAction(inSms)
    expect(lookup.requests).toEqual([expectedCall(CONVERSATION_ID)])
  })

  it('conversation events do not refresh it', async () => {
    await userAction(teamChange())

    expect(lookup.requests).toEqual([])
  })

  it('a failing lookup service does not fail the webhook', async () => {
    lookup.mode = 'error'

    expect(await userAction(incomingSms())).toEqual({ status: 200, body: {} })
    expect(lookup.requests).toHaveLength(1)
    expect(await db.sql`SELECT 1 FROM public.twilio_messages`).toHaveLength(1)
  })

  it('a lookup service that never answers delays the webhook by its timeout at most', async () => {
    lookup.mode = 'hang'
    const started = Date.now()

    expect(await userAction(incomingSms())).toEqual({ status: 200, body: {} })

    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(1_900)
    expect(elapsed).toBeLessThan(4_000)
  })

  it('the reference drops the first occurrence of our own number', () => {
    expect(lookupReference([`${OUTLIER_PHONE}${CONTACT_PHONE}`], OUTLIER_PHONE)).toBe(CONTACT_PHONE)
    expect(lookupReference([`${CONTACT_PHONE}${OUTLIER_PHONE}`], OUTLIER_PHONE)).toBe(CONTACT_PHONE)
    expect(lookupReference([CONTACT_PHONE], undefined)).toBe(CONTACT_PHONE)
    expect(lookupReference([], OUTLIER_PHONE)).toBeNull()
  })
})

describe('lookup cache refresh without LOOKUP_URL', () => {
  it('is skipped: no request is made', async () => {
    const calls: string[] = []
    const fetchSpy = (async (url: string) => {
      calls.push(url)
      return new Response('{}')
    }) as unknown as typeof fetch
    const config = { LOOKUP_URL: undefined, LOOKUP_SECRET: undefined, OUTLIER_PHONE_NUMBER: OUTLIER_PHONE }

    const outcome = await refreshLookupSummary(config, createLogger(), SMS_CONVERSATION_ID, [
      `${OUTLIER_PHONE}${CONTACT_PHONE}`,
    ], { fetch: fetchSpy })

    expect(outcome).toBe('skipped')
    expect(calls).toEqual([])
    // The sandbox configuration (.env.example) leaves it unset.
    expect(exampleEnv.LOOKUP_URL ?? '').toBe('')
  })
})
