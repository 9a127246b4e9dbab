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
  dateSent: Date | null
}

export interface ListMessagesPageInput {
  from: string
  dateSentAfter: Date
  dateSentBefore?: Date
  /** From a previous page's `nextPageToken`; the cursor carries the position, not the filters. */
  pageToken?: string | null
  pageSize: number
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
      return {
        messages: page.instances.map((message) => ({
          sid: message.sid,
          to: message.to,
          from: message.from,
          status: message.status,
          dateSent: toDate(message.dateSent),
        })),
        nextPageToken: pageTokenOf(page.nextPageUrl),
      }
    },

    validateStatusCallback(input) {
      return twilio.validateRequest(options.authToken, input.signature, input.url, input.params)
    },
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
