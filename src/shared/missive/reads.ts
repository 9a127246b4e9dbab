import { z } from 'zod'
import { invalidResponse, type MissiveContext, missiveRequest } from './request.ts'
import type { GetConversationResult, GetMessageResult, HeldSlot } from './types.ts'

// An array even for one id; Missive answers `[]` for a conversation the token cannot see.
const conversationResponse = z.object({
  conversations: z.array(
    z.object({ shared_labels: z.array(z.object({ id: z.string() })).nullish() }),
  ),
})

// An object for one id. Whether SMS messages carry these two fields here is unconfirmed, so both
// are optional rather than a reason to fail.
const messageResponse = z.object({
  messages: z.object({
    external_id: z.string().nullish(),
    delivered_at: z.number().nullish(),
  }),
})

/** The shared label ids of a conversation (campaign exclusion checks). */
export async function getConversation(
  context: MissiveContext,
  id: string,
  slot?: HeldSlot,
): Promise<GetConversationResult> {
  const path = `/conversations/${encodeURIComponent(id)}`
  const response = await missiveRequest(context.transport, {
    method: 'GET',
    path,
    token: context.tokens.readConversation,
    purpose: 'read-conversation',
    slot,
  })
  if (!response.ok) return response
  const parsed = conversationResponse.safeParse(response.body)
  if (!parsed.success) return invalidResponse(response, `Missive GET ${path}`, 'a conversations array')
  const first = parsed.data.conversations[0]
  return {
    ok: true,
    status: response.status,
    found: first !== undefined,
    labelIds: (first?.shared_labels ?? []).map((label) => label.id),
  }
}

/** The Twilio SID and delivery time Missive recorded for a message. */
export async function getMessage(context: MissiveContext, id: string): Promise<GetMessageResult> {
  const path = `/messages/${encodeURIComponent(id)}`
  const response = await missiveRequest(context.transport, {
    method: 'GET',
    path,
    token: context.tokens.nonBroadcast,
    purpose: 'non-broadcast',
  })
  if (!response.ok) return response
  const parsed = messageResponse.safeParse(response.body)
  if (!parsed.success) return invalidResponse(response, `Missive GET ${path}`, 'a messages object')
  return {
    ok: true,
    status: response.status,
    externalId: parsed.data.messages.external_id || null,
    deliveredAt: parsed.data.messages.delivered_at ?? null,
  }
}
