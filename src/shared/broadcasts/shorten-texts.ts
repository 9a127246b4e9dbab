import type { Db } from '../db/client.ts'
import type { LinkShortener } from '../links/dub.ts'
import type { Logger } from '../log/logger.ts'

/**
 * After a hand-over has committed (Dub is a network call and never holds the transaction open):
 * shortens the links of the new editable broadcast. Only the sent texts change; `original_*` keep
 * what the editor wrote. A text the editor changed in the meantime is left alone, and a failure
 * only means the links stay long.
 */
export async function shortenNextBroadcastTexts(
  db: Db,
  shortener: LinkShortener,
  log: Logger,
  next: { id: number; firstMessage: string; secondMessage: string },
): Promise<void> {
  try {
    const context = { broadcastId: next.id }
    const [first, firstChanged] = await shortener.shorten(next.firstMessage, context)
    const [second, secondChanged] = await shortener.shorten(next.secondMessage, context)
    if (firstChanged) {
      await db`UPDATE public.broadcasts SET first_message = ${first}
               WHERE id = ${next.id} AND editable AND first_message = ${next.firstMessage}`
    }
    if (secondChanged) {
      await db`UPDATE public.broadcasts SET second_message = ${second}
               WHERE id = ${next.id} AND editable AND second_message = ${next.secondMessage}`
    }
  } catch (error) {
    log.error('could not store the shortened texts of the next broadcast; it keeps the long links', {
      broadcastId: next.id,
      error,
    })
  }
}
