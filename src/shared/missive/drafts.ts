import { z } from 'zod'
import { invalidResponse, type MissiveContext, missiveRequest } from './request.ts'
import type { HeldSlot, SendDraftInput, SendDraftResult } from './types.ts'

// With `send: true` Missive answers one draft object (not an array); both ids end up in NOT NULL
// columns of message_statuses.
const draftResponse = z.object({
  drafts: z.object({ id: z.string().min(1), conversation: z.string().min(1) }),
})

/**
 * Sends one SMS now. Any failure that `provedNotActedOn` does not clear (a 5xx, a dropped
 * connection, a timeout, an unreadable 2xx) means Missive may have sent it: the sender must not
 * retry those blindly (DESIGN.md "Sending guarantees").
 */
export async function sendDraft(
  context: MissiveContext,
  input: SendDraftInput,
  slot?: HeldSlot,
): Promise<SendDraftResult> {
  const labelIds = input.labelIds ?? []
  const drafts: Record<string, unknown> = {
    body: input.body,
    to_fields: [{ phone_number: input.to }],
    from_field: { phone_number: context.fromPhoneNumber, type: 'twilio' },
    send: true,
  }
  // Missive needs the organization whenever shared labels are added; upstream sends it only then.
  if (labelIds.length > 0) {
    drafts.add_shared_labels = labelIds
    drafts.organization = context.organizationId
  }
  // Each phase has its own token, so first and second messages draw on separate rate budgets.
  const purpose = input.phase === 'second' ? 'second-messages' : 'first-messages'
  const token = input.phase === 'second' ? context.tokens.secondMessages : context.tokens.firstMessages

  const response = await missiveRequest(context.transport, {
    method: 'POST',
    path: '/drafts',
    token,
    purpose,
    body: { drafts },
    slot,
  })
  if (!response.ok) return response
  const parsed = draftResponse.safeParse(response.body)
  if (!parsed.success) return invalidResponse(response, 'Missive POST /drafts', 'drafts.id and drafts.conversation')
  return {
    ok: true,
    status: response.status,
    draftId: parsed.data.drafts.id,
    conversationId: parsed.data.drafts.conversation,
  }
}
