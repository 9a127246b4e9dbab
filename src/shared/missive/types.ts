/** One Missive API token per purpose, as upstream: each token is its own rate-limit budget. */
export interface MissiveTokens {
  firstMessages: string
  secondMessages: string
  nonBroadcast: string
  readConversation: string
}

/** Which token a call uses; each token is its own rate budget. */
export type TokenPurpose = 'first-messages' | 'second-messages' | 'non-broadcast' | 'read-conversation'

/** A slot in a token's rate windows, taken before a request and given back after it. */
export interface HeldSlot {
  ok: true
  /** The request was made (answered or not): the slot's window stamp stays. */
  release(): Promise<void>
  /** No request was made after all: the slot is given back whole. */
  cancel(): Promise<void>
}
export type PaceSlot = HeldSlot | { ok: false; waitMs: number }

/**
 * Missive's per-token windows, counted where every caller sees them (the database: see
 * src/shared/sending/rate-budget.ts). The client asks it before every request.
 */
export interface MissivePacer {
  /** A slot in `token`'s windows if one frees within `maxWaitMs`, else how long it would take. */
  acquire(token: string, purpose: TokenPurpose, maxWaitMs: number): Promise<PaceSlot>
}

export interface MissiveClientOptions {
  /** e.g. `https://public.missiveapp.com/v1`, no trailing slash. */
  baseUrl: string
  tokens: MissiveTokens
  organizationId: string
  /** The Twilio number drafts are sent from (`from_field.phone_number`). */
  fromPhoneNumber: string
  /** Applies to the whole exchange, body included. */
  timeoutMs: number
  fetch?: typeof fetch
  /** When set, every request first takes a slot in its token's windows. */
  pacer?: MissivePacer
  /** How long a request without a reserved slot may wait for one; `timeoutMs` unless given. */
  paceMaxWaitMs?: number
}

/**
 * Why a call failed, so callers can tell "not sent" from "maybe sent" (see `provedNotActedOn`):
 * - `http`: Missive (or a proxy in front of it) answered with a non-2xx status;
 * - `connect`: no connection was made (refused, DNS, unreachable): nothing was written;
 * - `network`: the connection failed after it was made (reset, "other side closed"): the request
 *   may have been written and acted on;
 * - `timeout`: no complete answer in time; the request may have been acted on;
 * - `invalid-response`: a 2xx whose body lacks what we need; the request was acted on;
 * - `paced`: not attempted: the token's rate windows (counted in the database) had no slot in
 *   time; status 429, as if Missive had refused it.
 */
export type MissiveFailureKind = 'http' | 'connect' | 'network' | 'timeout' | 'invalid-response' | 'paced'

export interface MissiveFailure {
  ok: false
  /** The HTTP status, 0 when there was no response (network error, timeout). */
  status: number
  kind: MissiveFailureKind
  error: string
  /** From `Retry-After` (or `X-RateLimit-Reset`), when Missive said when to come back. */
  retryAfterSeconds?: number
}

export type MissiveResult<T extends object> = ({ ok: true; status: number } & T) | MissiveFailure

export type SendDraftResult = MissiveResult<{ draftId: string; conversationId: string }>
/** Missive may answer a post with 201 and no body, so the ids are best effort. */
export type CreatePostResult = MissiveResult<{ postId: string | null; conversationId: string | null }>
/** `found` is false when Missive answers `{"conversations": []}` (unknown or inaccessible id). */
export type GetConversationResult = MissiveResult<{ found: boolean; labelIds: string[] }>
/** `deliveredAt` is Missive's epoch seconds; both fields are null when Missive has none. */
export type GetMessageResult = MissiveResult<{ externalId: string | null; deliveredAt: number | null }>
export type CreateSharedLabelResult = MissiveResult<{ labelId: string }>
export type ListSharedLabelsResult = MissiveResult<{ labels: SharedLabel[] }>
export type FindSharedLabelResult = MissiveResult<{ labelId: string | null }>

export interface SharedLabel {
  id: string
  name: string
  nameWithParentNames: string | null
}

export type DraftPhase = 'first' | 'second'

export interface SendDraftInput {
  body: string
  /** E.164 recipient. */
  to: string
  phase: DraftPhase
  labelIds?: string[]
}

export interface CreatePostInput {
  conversationId: string
  text: string
  /** Adds the label and closes the conversation (the failure jobs' "archive" post). */
  labelId?: string
}

export interface CreateSharedLabelInput {
  name: string
  parentId?: string | null
}

export interface MissiveClient {
  /**
   * Takes a slot in the windows of the token used for `purpose`, for a caller that must decide
   * something between the wait and the call (the sender's claim). Pass it to the call, which gives
   * it back; `cancel()` it when no call follows.
   */
  reserve(purpose: TokenPurpose, maxWaitMs: number): Promise<PaceSlot>
  sendDraft(input: SendDraftInput, slot?: HeldSlot): Promise<SendDraftResult>
  createPost(input: CreatePostInput): Promise<CreatePostResult>
  getConversation(id: string, slot?: HeldSlot): Promise<GetConversationResult>
  getMessage(id: string): Promise<GetMessageResult>
  createSharedLabel(input: CreateSharedLabelInput): Promise<CreateSharedLabelResult>
  listSharedLabels(page: { limit: number; offset: number }): Promise<ListSharedLabelsResult>
  findSharedLabelByName(name: string): Promise<FindSharedLabelResult>
}
