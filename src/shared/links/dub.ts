import type { Config } from '../config/env.ts'
import type { Logger } from '../log/logger.ts'
import { detectLinksToShorten, replaceLinks } from './detect-links.ts'

// Dub link shortener over plain fetch (upstream used the `dub` SDK; the REST calls are the same):
//   GET  {DUB_API_BASE_URL}/links?tagNames=<tag>   links already created under our tag
//   POST {DUB_API_BASE_URL}/links/bulk             [{url, tagNames:[tag]}] → created links
// Shortening is a nicety: any failure leaves the message as it was (and is logged), never fails
// the caller. Without DUB_API_KEY it is skipped entirely (local stack, tests).

export interface LinkShortener {
  /** `[text, changed]`: the message with its https links replaced by short links. */
  shorten(message: string, context?: Record<string, unknown>): Promise<[string, boolean]>
}

interface DubLink {
  url?: string
  shortLink?: string
}

export type DubConfig = Pick<Config, 'DUB_API_KEY' | 'DUB_TAG_NAME' | 'DUB_API_BASE_URL'>

export function dubLinkShortener(config: DubConfig, log: Logger, options: { timeoutMs?: number } = {}): LinkShortener {
  const baseUrl = config.DUB_API_BASE_URL.replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? 10_000

  const call = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    const response = await fetch(`${baseUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${config.DUB_API_KEY}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      // A hung Dub must not hold a sidebar request or the hand-over follow-up open.
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await response.text()
    if (!response.ok) {
      throw new Error(`Dub ${init.method ?? 'GET'} ${path} answered ${response.status}: ${text.slice(0, 200)}`)
    }
    try {
      return JSON.parse(text)
    } catch {
      throw new Error(`Dub ${init.method ?? 'GET'} ${path} answered non-JSON: ${text.slice(0, 200)}`)
    }
  }

  const asLinks = (value: unknown): DubLink[] => (Array.isArray(value) ? (value as DubLink[]) : [])

  return {
    async shorten(message, context = {}) {
      const urls = detectLinksToShorten(message)
      if (urls.length === 0) return [message, false]
      if (!config.DUB_API_KEY) {
        log.debug('link shortening skipped: DUB_API_KEY is not set', context)
        return [message, false]
      }
      const tag = config.DUB_TAG_NAME
      if (!tag) {
        log.error('DUB_TAG_NAME environment variable is not set', context)
        return [message, false]
      }
      try {
        // Upstream reads only the first page of the tag's links too; a URL beyond it just gets a
        // second short link, which is harmless.
        const existing = asLinks(await call(`/links?${new URLSearchParams({ tagNames: tag, pageSize: '100' })}`))
        const known = new Map<string, string>()
        for (const link of existing) {
          if (link.url && link.shortLink && urls.includes(link.url)) known.set(link.url, link.shortLink)
        }
        const missing = urls.filter((url) => !known.has(url))
        if (missing.length > 0) {
          const created = asLinks(
            await call('/links/bulk', {
              method: 'POST',
              body: JSON.stringify(missing.map((url) => ({ url, tagNames: [tag] }))),
            }),
          )
          for (const link of created) {
            if (link.url && link.shortLink && !known.has(link.url)) known.set(link.url, link.shortLink)
          }
          const failed = missing.filter((url) => !known.has(url))
          if (failed.length > 0) {
            log.warn('Dub did not create a short link for some URLs; they stay as they are', { ...context, failed })
          }
        }
        const text = replaceLinks(message, known)
        return [text, text !== message]
      } catch (error) {
        log.error('Error in shortenLinksInMessage', { ...context, error })
        return [message, false]
      }
    },
  }
}
