import type { Sql } from '../../src/shared/db/client.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { sendMessagesFunction } from '../../src/shared/sending/send-messages-function.ts'
import { createTestDeps, exampleEnv, SECRET_KEY } from '../support/app.ts'
import type { Fakes } from '../support/fakes.ts'

export const FIRST_TOKEN = exampleEnv.MISSIVE_SECRET_BROADCAST_FIRST_MESSAGES!
export const SECOND_TOKEN = exampleEnv.MISSIVE_SECRET_BROADCAST_SECOND_MESSAGES!
export const READ_TOKEN = exampleEnv.MISSIVE_SECRET_CAMPAIGN_READ_CONVERSATION!

/** Calls POST /send-messages/ through the function's app, as pg_net would. */
export async function callSendMessages(
  sql: Sql,
  fakes: Fakes,
  body: unknown = {},
  env: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const deps = createTestDeps(sql, { env: { ...fakes.env, SEND_DRAIN_SECONDS: '5', ...env } })
  const app = createFunctionApp(sendMessagesFunction, deps)
  const response = await app.request('/send-messages/', {
    method: 'POST',
    headers: { apikey: SECRET_KEY, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() }
}

export const drafts = (fakes: Fakes) =>
  fakes.missive.requests.filter((r) => r.method === 'POST' && r.path === '/v1/drafts')
export const conversationReads = (fakes: Fakes) =>
  fakes.missive.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/conversations/'))
