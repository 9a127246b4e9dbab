import { Hono } from 'hono'
import { afterAll, beforeAll, beforeEach } from 'vitest'
import { type FakeEnv, listen, type RecordedRequest, recordRequests } from '../../src/local/fakes/fake-server.ts'

// A loopback stand-in for the two Dub endpoints the link shortener calls (GET /links,
// POST /links/bulk), with Dub's bearer-token check, so tests assert the requests Dub would receive.

export const DUB_TEST_KEY = 'dub_test_key'
export const DUB_TEST_TAG = 'txt-messages'

export interface DubFakeLink {
  id: string
  url: string
  shortLink: string
  tagNames: string[]
}

export interface DubFake {
  baseUrl: string
  requests: RecordedRequest[]
  links: DubFakeLink[]
  /** An existing link (as if created earlier under `tag`). */
  addLink(url: string, shortLink: string, tag?: string): void
  /** The short link the next bulk create gives `url` (otherwise `https://dub.sh/l<n>`). */
  willShorten(url: string, shortLink: string): void
  /** The next `count` requests answer `status` with an error body. */
  failNext(count: number, status?: number): void
  reset(): void
  close(): Promise<void>
}

export async function startDubFake(): Promise<DubFake> {
  const requests: RecordedRequest[] = []
  let links: DubFakeLink[] = []
  let planned = new Map<string, string>()
  let failures: number[] = []
  let counter = 0

  const app = new Hono<FakeEnv>()
  app.use(recordRequests(requests, () => new Date()))
  app.use(async (c, next) => {
    if (c.req.header('authorization') !== `Bearer ${DUB_TEST_KEY}`) {
      return c.json({ error: { code: 'unauthorized', message: 'Missing or invalid API key.' } }, 401)
    }
    const status = failures.shift()
    if (status) return c.json({ error: { code: 'internal_server_error', message: 'boom' } }, status as 500)
    await next()
  })
  app.get('/links', (c) => {
    const tags = c.req.queries('tagNames') ?? []
    return c.json(links.filter((link) => tags.length === 0 || link.tagNames.some((tag) => tags.includes(tag))))
  })
  app.post('/links/bulk', (c) => {
    const body = c.get('body')
    if (!Array.isArray(body) || body.length === 0 || body.length > 100) {
      return c.json({ error: { code: 'bad_request', message: 'expected 1-100 links' } }, 400)
    }
    const created = (body as Array<{ url: string; tagNames?: string[] }>).map((input) => {
      counter++
      const link = {
        id: `link_${counter}`,
        url: input.url,
        shortLink: planned.get(input.url) ?? `https://dub.sh/l${counter}`,
        tagNames: input.tagNames ?? [],
      }
      links.push(link)
      return link
    })
    return c.json(created)
  })

  const server = await listen(app.fetch, 0, () => {})
  return {
    baseUrl: server.url,
    requests,
    get links() {
      return links
    },
    addLink(url, shortLink, tag = DUB_TEST_TAG) {
      counter++
      links.push({ id: `link_${counter}`, url, shortLink, tagNames: [tag] })
    },
    willShorten(url, shortLink) {
      planned.set(url, shortLink)
    },
    failNext(count, status = 500) {
      for (let i = 0; i < count; i++) failures.push(status)
    },
    reset() {
      requests.length = 0
      links = []
      planned = new Map()
      failures = []
    },
    close: () => server.close(),
  }
}

/** A Dub fake for the whole test file, reset before each test; `env` points the config at it. */
export function useDubFake(): DubFake & { env: Record<string, string> } {
  let fake: DubFake | undefined
  beforeAll(async () => {
    fake = await startDubFake()
  })
  beforeEach(() => fake?.reset())
  afterAll(async () => {
    await fake?.close()
  })
  const get = () => {
    if (!fake) throw new Error('the Dub fake starts in beforeAll; use it inside a test or hook')
    return fake
  }
  return {
    get baseUrl() {
      return get().baseUrl
    },
    get requests() {
      return get().requests
    },
    get links() {
      return get().links
    },
    addLink: (url, shortLink, tag) => get().addLink(url, shortLink, tag),
    willShorten: (url, shortLink) => get().willShorten(url, shortLink),
    failNext: (count, status) => get().failNext(count, status),
    reset: () => get().reset(),
    close: () => get().close(),
    get env() {
      return { DUB_API_BASE_URL: get().baseUrl, DUB_API_KEY: DUB_TEST_KEY, DUB_TAG_NAME: DUB_TEST_TAG }
    },
  }
}
