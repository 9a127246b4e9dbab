import { sendDraft } from './drafts.ts'
import { createPost } from './posts.ts'
import { getConversation, getMessage } from './reads.ts'
import { type MissiveContext, reserveSlot } from './request.ts'
import { createSharedLabel, findSharedLabelByName, listSharedLabels } from './shared-labels.ts'
import type { MissiveClient, MissiveClientOptions, MissiveTokens, TokenPurpose } from './types.ts'

/** The only way the backend reaches Missive; tests and the local stack point `baseUrl` at the fake. */
export function createMissiveClient(options: MissiveClientOptions): MissiveClient {
  const context: MissiveContext = {
    transport: {
      baseUrl: options.baseUrl,
      timeoutMs: options.timeoutMs,
      // Bound lazily so a test that swaps globalThis.fetch after creating the client still applies.
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      pacer: options.pacer,
      paceMaxWaitMs: options.paceMaxWaitMs ?? options.timeoutMs,
    },
    tokens: options.tokens,
    organizationId: options.organizationId,
    fromPhoneNumber: options.fromPhoneNumber,
  }
  return {
    reserve: (purpose, maxWaitMs) =>
      reserveSlot(context.transport, tokenFor(context.tokens, purpose), purpose, maxWaitMs),
    sendDraft: (input, slot) => sendDraft(context, input, slot),
    createPost: (input) => createPost(context, input),
    getConversation: (id, slot) => getConversation(context, id, slot),
    getMessage: (id) => getMessage(context, id),
    createSharedLabel: (input) => createSharedLabel(context, input),
    listSharedLabels: (page) => listSharedLabels(context, page),
    findSharedLabelByName: (name) => findSharedLabelByName(context, name),
  }
}

export function tokenFor(tokens: MissiveTokens, purpose: TokenPurpose): string {
  switch (purpose) {
    case 'first-messages':
      return tokens.firstMessages
    case 'second-messages':
      return tokens.secondMessages
    case 'non-broadcast':
      return tokens.nonBroadcast
    case 'read-conversation':
      return tokens.readConversation
  }
}
