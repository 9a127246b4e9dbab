import { sendDraft } from './drafts.ts'
import { createPost } from './posts.ts'
import { getConversation, getMessage } from './reads.ts'
import type { MissiveContext } from './request.ts'
import { createSharedLabel, findSharedLabelByName, listSharedLabels } from './shared-labels.ts'
import type { MissiveClient, MissiveClientOptions } from './types.ts'

/** The only way the backend reaches Missive; tests and the local stack point `baseUrl` at the fake. */
export function createMissiveClient(options: MissiveClientOptions): MissiveClient {
  const context: MissiveContext = {
    transport: {
      baseUrl: options.baseUrl,
      timeoutMs: options.timeoutMs,
      // Bound lazily so a test that swaps globalThis.fetch after creating the client still applies.
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    },
    tokens: options.tokens,
    organizationId: options.organizationId,
    fromPhoneNumber: options.fromPhoneNumber,
  }
  return {
    sendDraft: (input) => sendDraft(context, input),
    createPost: (input) => createPost(context, input),
    getConversation: (id) => getConversation(context, id),
    getMessage: (id) => getMessage(context, id),
    createSharedLabel: (input) => createSharedLabel(context, input),
    listSharedLabels: (page) => listSharedLabels(context, page),
    findSharedLabelByName: (name) => findSharedLabelByName(context, name),
  }
}
