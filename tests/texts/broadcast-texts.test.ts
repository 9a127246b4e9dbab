import { beforeEach, describe, expect, it } from 'vitest'
import { broadcastSidebarFunction } from '../../src/shared/broadcasts/sidebar-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { asStaff, createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { broadcastRows, createBroadcast, createSegment } from '../support/factories/broadcasts.ts'

// Issue 14: placeholders in the upcoming broadcast are validated when the sidebar saves it.

const db = useTestDatabase()
beforeEach(async () => {
  await resetDatabase(db.sql)
  // The queue's insert trigger calls invoke_edge_function, which reads these (the preview's dry run).
  await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
})

const NOW = new Date('2025-06-11T19:00:00Z')
const DAY = 24 * 3600_000

function sidebar(env: Record<string, string> = {}) {
  const app = asStaff(createFunctionApp(broadcastSidebarFunction, createTestDeps(db.sql, { now: () => NOW, env })))
  return {
    request: async (method: string, path: string, body?: unknown) => {
      const response = await app.request(`/broadcast-sidebar${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return { status: response.status, body: await response.json() }
    },
  }
}

const editable = () =>
  createBroadcast(db.sql, {
    editable: true,
    runAt: new Date(NOW.getTime() + DAY),
    firstMessage: 'Original first',
    secondMessage: 'Original second',
    noUsers: 100,
  })

describe('PATCH /broadcast-sidebar/ with placeholders', () => {
  it('an unknown placeholder is a 400 naming it and its position; nothing changes', async () => {
    const broadcast = await editable()
    const { status, body } = await sidebar().request('PATCH', '/', {
      id: broadcast.id,
      firstMessage: 'Hello {{firstname}}!',
    })
    expect(status).toBe(400)
    expect(body).toEqual({
      message: 'Bad Request',
      detail: '[firstMessage] unknown placeholder {{firstname}} at character 7; ' +
        'known: {{name}}, {{first_name}}, {{zipcode}}',
    })
    expect((await broadcastRows(db.sql))[0]).toMatchObject({ first_message: 'Original first' })
  })

  it('an unclosed {{ in the follow-up is a 400', async () => {
    const broadcast = await editable()
    const { status, body } = await sidebar().request('PATCH', '/', { id: broadcast.id, secondMessage: 'Bye {{name' })
    expect(status).toBe(400)
    expect(body.detail).toBe('[secondMessage] unclosed "{{" at character 5: close it with "}}"')
  })

  it('valid placeholders are saved as written', async () => {
    const broadcast = await editable()
    const { status, body } = await sidebar().request('PATCH', '/', {
      id: broadcast.id,
      firstMessage: 'Hi {{first_name|neighbor}}',
    })
    expect(status).toBe(200)
    expect(body.firstMessage).toBe('Hi {{first_name|neighbor}}')
  })
})

describe('POST /broadcast-sidebar/preview/', () => {
  async function upcomingWithAudience() {
    const broadcast = await createBroadcast(db.sql, {
      editable: true,
      runAt: new Date(NOW.getTime() + DAY),
      firstMessage: 'Hi {{first_name|neighbor}}, news for {{zipcode|Detroit}}',
      secondMessage: 'Reply YES, {{first_name}}',
      noUsers: 100,
    })
    const people: Array<[string, string | null, string | null, boolean]> = [
      ['+13135550201', 'Ana Pérez', '48201', false],
      ['+13135550202', null, null, false],
      ['+13135550203', 'Zoë', '48203', false],
      ['+13135550204', 'Gone', null, true], // unsubscribed: not in the audience
    ]
    for (const [phone, name, zipcode, unsubscribed] of people) {
      await db.sql`INSERT INTO public.authors (phone_number, name, zipcode, unsubscribed)
                   VALUES (${phone}, ${name}, ${zipcode}, ${unsubscribed})`
    }
    await createSegment(db.sql, {
      broadcastId: broadcast.id,
      query: 'SELECT a.phone_number FROM public.authors a ORDER BY a.phone_number',
    })
    return broadcast
  }

  it('renders the first recipients of the real audience with fallbacks, and estimates the cost; nothing is queued', async () => {
    const broadcast = await upcomingWithAudience()
    const { status, body } = await sidebar().request('POST', '/preview/', { limit: 2 })
    expect(status).toBe(200)
    expect(body.id).toBe(broadcast.id)
    expect(body.recipient_count).toBe(3)
    expect(body.recipients).toEqual([
      {
        phoneNumber: '+13135550201',
        name: 'Ana Pérez',
        zipcode: '48201',
        firstMessage: 'Hi Ana, news for 48201',
        secondMessage: 'Reply YES, Ana',
      },
      {
        phoneNumber: '+13135550202',
        name: null,
        zipcode: null,
        firstMessage: 'Hi neighbor, news for Detroit',
        secondMessage: 'Reply YES',
      },
    ])
    expect(body.texts.firstMessage).toMatchObject({
      encoding: 'UCS-2',
      ucs2Characters: ['ë'],
      segments: 1,
      placeholders: true,
      recipients: 3,
      totalSegments: 3,
    })
    expect(body.texts.secondMessage).toMatchObject({ encoding: 'UCS-2', totalSegments: 3 })
    // A dry run: no queue row, no pending kick of the sender, the broadcast still editable.
    const [left] = await db.sql`
      SELECT (SELECT count(*) FROM pgmq.q_broadcast_first_messages)::int AS queued,
             (SELECT count(*) FROM net.http_request_queue)::int AS kicks,
             (SELECT editable FROM public.broadcasts WHERE id = ${broadcast.id}) AS editable`
    expect(left).toEqual({ queued: 0, kicks: 0, editable: true })
  })

  it('previews the texts being edited (not yet saved), with smart encoding when configured', async () => {
    await upcomingWithAudience()
    const { status, body } = await sidebar({ SMS_SMART_ENCODING: 'true' }).request('POST', '/preview/', {
      firstMessage: '“Hi” {{name|friend}}…',
    })
    expect(status).toBe(200)
    expect(body.recipients.map((r: { firstMessage: string }) => r.firstMessage)).toEqual([
      '"Hi" Ana Pérez...',
      '"Hi" friend...',
      '"Hi" Zoë...',
    ])
    expect(body.texts.firstMessage).toMatchObject({ smartEncoding: true, smartEncodedCharacters: ['“', '”', '…'] })
  })

  it('bad input is a 400 naming the field; no upcoming broadcast is a 404', async () => {
    await upcomingWithAudience()
    for (
      const bad of [{ limit: 0 }, { limit: 21 }, { firstMessage: 'Hi {{nme}}' }, { extra: 1 }, { firstMessage: ' ' }]
    ) {
      const { status, body } = await sidebar().request('POST', '/preview/', bad)
      expect(status, JSON.stringify(bad)).toBe(400)
      expect(body.message).toBe('Bad Request')
    }
    await db.sql`UPDATE public.broadcasts SET editable = false`
    expect((await sidebar().request('POST', '/preview/', {})).status).toBe(404)
  })
})
