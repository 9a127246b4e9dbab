import type { LinkShortener } from '../links/dub.ts'

/**
 * Campaign texts go out with their links shortened (upstream: Dub, after the insert, then an
 * UPDATE). Shortening before the row is written stores the final text in one statement; a Dub
 * failure only leaves the links long. Campaigns keep only the shortened text, as upstream.
 */
export async function shortenCampaignTexts<T extends { firstMessage?: string; secondMessage?: string | null }>(
  shortener: LinkShortener,
  texts: T,
  context: Record<string, unknown> = {},
): Promise<T> {
  const result = { ...texts }
  if (texts.firstMessage) result.firstMessage = (await shortener.shorten(texts.firstMessage, context))[0]
  if (texts.secondMessage) result.secondMessage = (await shortener.shorten(texts.secondMessage, context))[0]
  return result
}
