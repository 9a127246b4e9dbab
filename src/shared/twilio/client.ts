import twilio from 'twilio'

export interface TwilioClientOptions {
  accountSid: string
  authToken: string
  /** e.g. `https://api.twilio.com`; tests and the local stack use the loopback fake. */
  baseUrl: string
  /** Per request; twilio-node's own default is 30 s. */
  timeoutMs?: number
}

export interface TwilioMessage {
  sid: string
  to: string
  from: string
  /** Any of Twilio's statuses, including ones our enum may not know yet (`queued`, `canceled`, …). */
  status: string
  /** Null while Twilio has not sent it yet (`queued`, `accepted`, `scheduled`). */
  dateSent: Date | null
  dateCreated: Date | null
  body: string
}

export interface ListMessagesPageInput {
  from: string
  dateSentAfter: Date
  dateSentBefore?: Date
  /** From a previous page's `nextPageToken`; the cursor carries the position, not the filters. */
  pageToken?: string | null
  pageSize: number
}

export interface ListMessagesToInput {
  to: string
  from: string
  /** Messages created before this are not wanted: paging stops once past it (newest first). */
  createdSince: Date
  pageSize?: number
  /** Pages read at most (each one request). */
  maxPages?: number
}

export interface MessagesPage {
  messages: TwilioMessage[]
  /** Null on the last page. */
  nextPageToken: string | null
}

export interface StatusCallbackInput {
  /** The `X-Twilio-Signature` header. */
  signature: string
  /** The full URL Twilio was configured to call, query string included. */
  url: string
  /** The form-decoded POST parameters. */
  params: Record<string, string | string[]>
}

export interface TwilioClient {
  /** Throws `TwilioRequestError`; the caller keeps its page token and retries later. */
  listMessagesPage(input: ListMessagesPageInput): Promise<MessagesPage>
  /**
   * One recipient's messages from `from`, WITHOUT a date filter: a `DateSent` filter omits what
   * Twilio has not sent yet (no DateSent), so only this listing can show that an SMS does not exist.
   * `complete` is false when `maxPages` ran out before reaching `createdSince`. Throws `TwilioRequestError`.
   */
  listMessagesTo(input: ListMessagesToInput): Promise<{ messages: TwilioMessage[]; complete: boolean }>
  validateStatusCallback(input: StatusCallbackInput): boolean
}

/** A failed Twilio call: `status` 0 when nothing answered, `code` is Twilio's error code if any. */
export class TwilioRequestError extends Error {
  readonly status: number
  readonly code: number | null

  constructor(message: string, status: number, code: number | null, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TwilioRequestError'
    this.status = status
    this.code = code
  }
}

export function createTwilioClient(options: TwilioClientOptions): TwilioClient {
  const client = twilio(options.accountSid, options.authToken, { timeout: options.timeoutMs })
  // twilio-node builds every URL from the domain's baseUrl, next-page URLs included.
  client.api.baseUrl = options.baseUrl.replace(/\/+$/, '')

  return {
    async listMessagesPage(input) {
      let page
      try {
        page = await client.messages.page({
          from: input.from,
          dateSentAfter: input.dateSentAfter,
          dateSentBefore: input.dateSentBefore,
          pageToken: input.pageToken ?? undefined,
          pageSize: input.pageSize,
        })
      } catch (error) {
        throw toRequestError(error)
      }
      return { messages: page.instances.map(toMessage), nextPageToken: pageTokenOf(page.nextPageUrl) }
    },

    async listMessagesTo(input) {
      const messages: TwilioMessage[] = []
      let pageToken: string | null = null
      for (let pages = 0; pages < (input.maxPages ?? 3); pages++) {
        let page
        try {
          page = await client.messages.page({
            to: input.to,
            from: input.from,
            pageSize: input.pageSize ?? 50,
            pageToken: pageToken ?? undefined,
          })
        } catch (error) {
          throw toRequestError(error)
        }
        const rows = page.instances.map(toMessage)
        messages.push(...rows.filter((m) => (m.dateCreated ?? m.dateSent ?? input.createdSince) >= input.createdSince))
        pageToken = pageTokenOf(page.nextPageUrl)
        // Newest first: once a page reaches back before createdSince, nothing older is wanted.
        const reachedBack = rows.some((m) => (m.dateSent ?? m.dateCreated ?? input.createdSince) < input.createdSince)
        if (pageToken === null || reachedBack) return { messages, complete: true }
      }
      return { messages, complete: false }
    },

    validateStatusCallback(input) {
      return twilio.validateRequest(options.authToken, input.signature, input.url, input.params)
    },
  }
}

// deno-lint-ignore no-explicit-any
function toMessage(message: any): TwilioMessage {
  return {
    sid: message.sid,
    to: message.to,
    from: message.from,
    status: message.status,
    dateSent: toDate(message.dateSent),
    dateCreated: toDate(message.dateCreated),
    body: typeof message.body === 'string' ? message.body : '',
  }
}

/** Only the `PageToken` survives between runs; the rest of Twilio's next-page URL is rebuilt. */
function pageTokenOf(nextPageUrl: string | undefined): string | null {
  if (!nextPageUrl) return null
  return new URL(nextPageUrl).searchParams.get('PageToken')
}

// twilio-node hands back the raw string when a date does not parse, despite its `Date` type.
function toDate(value: unknown): Date | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value
  if (typeof value === 'string' && value) {
    const parsed = new Date(value)
    return Number.isNaN(parsed.getTime()) ? null : parsed
  }
  return null
}

function toRequestError(error: unknown): TwilioRequestError {
  if (error instanceof twilio.RestException) {
    return new TwilioRequestError(
      `Twilio answered ${error.status}: ${error.message || 'no error message'}`,
      error.status,
      error.code ?? null,
      { cause: error },
    )
  }
  const message = error instanceof Error ? error.message : String(error)
  return new TwilioRequestError(`Twilio request failed: ${message}`, 0, null, { cause: error })
}
