import { beforeEach, describe, expect, it } from 'vitest'
import { broadcastSidebarFunction } from '../../src/shared/broadcasts/sidebar-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { asStaff, createTestDeps } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { broadcastRows, createBroadcast } from '../support/factories/broadcasts.ts'

// Issue 14: placeholders in the upcoming broadcast are validated when the sidebar saves it.

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

const NOW = new Date('2025-06-11T19:00:00Z')
const DAY = 24 * 3600_000

function sidebar() {
  const app = asStaff(createFunctionApp(broadcastSidebarFunction, createTestDeps(db.sql, { now: () => NOW })))
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
