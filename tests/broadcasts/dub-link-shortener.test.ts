import { describe, expect, it } from 'vitest'
import { dubLinkShortener } from '../../src/shared/links/dub.ts'
import type { LogFields, Logger } from '../../src/shared/log/logger.ts'
import { testConfig } from '../support/app.ts'
import { DUB_TEST_TAG, useDubFake } from '../support/dub-fake.ts'

// Upstream's lib/dub-link-shortener-tests.ts (upstream-functions.md §7.8), against a loopback Dub
// instead of a stubbed SDK: the assertions are on the requests Dub receives.

const dub = useDubFake()

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields?: LogFields }> = []
  const logger: Logger = {
    debug: (message, fields) => void lines.push({ level: 'debug', message, fields }),
    info: (message, fields) => void lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => void lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => void lines.push({ level: 'error', message, fields }),
    child: () => logger,
  }
  return { logger, lines }
}

function shortener(env: Record<string, string | undefined> = {}) {
  const log = recordingLogger()
  const config = testConfig({ ...dub.env, ...env })
  return { ...log, shorten: dubLinkShortener(config, log.logger).shorten }
}

const bulkBodies = () => dub.requests.filter((r) => r.method === 'POST' && r.path === '/links/bulk').map((r) => r.body)
const listCalls = () => dub.requests.filter((r) => r.method === 'GET' && r.path === '/links')

describe('Dub link shortener', () => {
  it('1. leaves a message without URLs alone and calls nobody', async () => {
    const { shorten } = shortener()
    expect(await shorten('This is a message with no URLs')).toEqual(['This is a message with no URLs', false])
    expect(dub.requests).toHaveLength(0)
  })

  it('2. creates a link under the tag and replaces the URL', async () => {
    dub.willShorten('https://example.com', 'https://dub.sh/abc123')
    const { shorten } = shortener()
    expect(await shorten('Check out https://example.com for more information'))
      .toEqual(['Check out https://dub.sh/abc123 for more information', true])
    expect(listCalls()).toHaveLength(1)
    expect(listCalls()[0].query.tagNames).toBe(DUB_TEST_TAG)
    expect(bulkBodies()).toEqual([[{ url: 'https://example.com', tagNames: [DUB_TEST_TAG] }]])
  })

  it('3. reuses an existing link and creates only the missing one', async () => {
    dub.addLink('https://example.com', 'https://dub.sh/abc123')
    dub.willShorten('https://example.org', 'https://dub.sh/def456')
    const { shorten } = shortener()
    expect(await shorten('Check out https://example.com and https://example.org'))
      .toEqual(['Check out https://dub.sh/abc123 and https://dub.sh/def456', true])
    expect(bulkBodies()).toEqual([[{ url: 'https://example.org', tagNames: [DUB_TEST_TAG] }]])
  })

  it('4. replaces every occurrence of a repeated URL with one link', async () => {
    dub.willShorten('https://example.com', 'https://dub.sh/abc123')
    const { shorten } = shortener()
    expect(await shorten('Check https://example.com here and https://example.com there'))
      .toEqual(['Check https://dub.sh/abc123 here and https://dub.sh/abc123 there', true])
    expect(bulkBodies()).toEqual([[{ url: 'https://example.com', tagNames: [DUB_TEST_TAG] }]])
  })

  it('5. skips an already shortened link', async () => {
    const github = 'https://github.com/PublicDataWorks/txt-outlier-backend/pull/85'
    dub.willShorten(github, 'https://dub.sh/short2')
    const { shorten } = shortener()
    expect(await shorten(`https://dub.sh/GhVrND3 ${github}`)).toEqual([
      'https://dub.sh/GhVrND3 https://dub.sh/short2',
      true,
    ])
    expect(bulkBodies()).toEqual([[{ url: github, tagNames: [DUB_TEST_TAG] }]])
  })

  it('6. strips trailing punctuation', async () => {
    dub.willShorten('https://example.com', 'https://dub.sh/abc123')
    dub.willShorten('https://example.org', 'https://dub.sh/def456')
    dub.willShorten('https://example.net', 'https://dub.sh/ghi789')
    const { shorten } = shortener()
    expect(
      await shorten('Check out https://example.com. Also visit https://example.org, and maybe https://example.net!'),
    )
      .toEqual([
        'Check out https://dub.sh/abc123. Also visit https://dub.sh/def456, and maybe https://dub.sh/ghi789!',
        true,
      ])
    expect(bulkBodies()).toEqual([[
      { url: 'https://example.com', tagNames: [DUB_TEST_TAG] },
      { url: 'https://example.org', tagNames: [DUB_TEST_TAG] },
      { url: 'https://example.net', tagNames: [DUB_TEST_TAG] },
    ]])
  })

  it('7-8. handles parentheses', async () => {
    dub.willShorten('https://example.com', 'https://dub.sh/abc123')
    dub.willShorten('https://example.org', 'https://dub.sh/def456')
    dub.willShorten('https://google.com', 'https://dub.sh/goo123')
    const { shorten } = shortener()
    expect(await shorten('See this page (https://example.com) and this too: https://example.org;'))
      .toEqual(['See this page (https://dub.sh/abc123) and this too: https://dub.sh/def456;', true])
    expect(await shorten('Check out this page (https://google.com) for more info'))
      .toEqual(['Check out this page (https://dub.sh/goo123) for more info', true])
  })

  it('9. leaves links on shortener domains alone without calling Dub', async () => {
    const message =
      'Links: https://bit.ly/a https://dub.sh/b https://tinyurl.com/c https://goo.gl/d https://t.co/e https://ow.ly/f https://go.outliermedia.org/g'
    const { shorten } = shortener()
    expect(await shorten(message)).toEqual([message, false])
    expect(dub.requests).toHaveLength(0)
  })

  it('10-13. ignores unparsable URLs and keeps the others', async () => {
    dub.willShorten('https://example.com', 'https://dub.sh/abc123')
    const { shorten } = shortener()
    expect(await shorten('Check out https://[invalid for more info')).toEqual([
      'Check out https://[invalid for more info',
      false,
    ])
    expect(await shorten('Check https://example.com and https://[invalid here'))
      .toEqual(['Check https://dub.sh/abc123 and https://[invalid here', true])
    expect(bulkBodies()).toEqual([[{ url: 'https://example.com', tagNames: [DUB_TEST_TAG] }]])
    expect(await shorten('Check https://bit.ly/abc and https://[invalid here')).toEqual([
      'Check https://bit.ly/abc and https://[invalid here',
      false,
    ])
    expect(await shorten('Check https://example.com and https://bit.ly/abc and https://[invalid here'))
      .toEqual(['Check https://dub.sh/abc123 and https://bit.ly/abc and https://[invalid here', true])
  })

  it('14. a Dub error leaves the message unchanged and is logged', async () => {
    dub.failNext(1, 500)
    const { shorten, lines } = shortener()
    expect(await shorten('Check https://example.com')).toEqual(['Check https://example.com', false])
    expect(lines.some((line) => line.level === 'error' && line.message === 'Error in shortenLinksInMessage')).toBe(true)
  })

  it('15. without DUB_TAG_NAME nothing is called and the gap is logged', async () => {
    const { shorten, lines } = shortener({ DUB_TAG_NAME: '' })
    expect(await shorten('Check https://example.com')).toEqual(['Check https://example.com', false])
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'DUB_TAG_NAME environment variable is not set' }),
    )
    expect(dub.requests).toHaveLength(0)
  })

  it('is skipped entirely without DUB_API_KEY (local stack)', async () => {
    const { shorten } = shortener({ DUB_API_KEY: '' })
    expect(await shorten('Check https://example.com')).toEqual(['Check https://example.com', false])
    expect(dub.requests).toHaveLength(0)
  })

  it('sends the API key as a bearer token', async () => {
    const { shorten } = shortener()
    await shorten('Check https://example.com')
    expect(dub.requests[0].headers.authorization).toBe('Bearer dub_test_key')
  })
})
