import type { Db } from '../db/client.ts'
import { notFound } from '../http/errors.ts'
import { type AudienceValues, estimateText, type TextEstimate } from '../texts/estimate.ts'
import { outgoingText } from '../texts/outgoing.ts'
import type { Segments } from './schemas.ts'

// Segment/cost estimates and the rendered texts of a campaign's first recipients (issue 14), for
// POST /campaigns/recipient-count/ (additional `texts`) and POST /campaigns/preview/.

/** Where the recipients come from: segments (as recipient-count), or an existing campaign. */
export type Audience = { segments: Segments } | { campaignId: number }

export interface CampaignTexts {
  firstMessage: string
  secondMessage: string | null
}

/**
 * The recipients as the enqueue would select them (campaign_recipient_phones for segments; the
 * uploaded numbers, still eligible, for a file campaign), ordered as it orders them.
 */
function recipients(db: Db, audience: Audience) {
  if ('segments' in audience) {
    return db`SELECT r.phone_number, a.name, a.zipcode
              FROM public.campaign_recipient_phones(${db.json(audience.segments as never)}::jsonb) r
              JOIN public.authors a ON a.phone_number = r.phone_number`
  }
  return db`SELECT DISTINCT f.phone_number, a.name, a.zipcode
            FROM public.campaign_file_recipients f
            JOIN public.authors a ON a.phone_number = f.phone_number
            WHERE f.campaign_id = ${audience.campaignId} AND a.unsubscribed = false AND a.exclude = false`
}

/** Distinct placeholder values of the audience with their counts (one row per (name, zipcode)). */
export async function audienceValues(db: Db, audience: Audience): Promise<AudienceValues[]> {
  const rows = await db<{ name: string | null; zipcode: string | null; count: number }[]>`
    SELECT name, zipcode, count(*)::integer AS count FROM (${recipients(db, audience)}) AS r GROUP BY name, zipcode`
  return [...rows]
}

export function estimateTexts(
  texts: CampaignTexts,
  audience: AudienceValues[],
  smartEncoding: boolean,
): { firstMessage: TextEstimate; secondMessage: TextEstimate | null } {
  return {
    firstMessage: estimateText(texts.firstMessage, audience, { smartEncoding }),
    secondMessage: texts.secondMessage?.trim() ? estimateText(texts.secondMessage, audience, { smartEncoding }) : null,
  }
}

export interface PreviewRecipient {
  phoneNumber: string
  name: string | null
  zipcode: string | null
  firstMessage: string
  secondMessage: string | null
}

/** The texts as the first `limit` recipients would receive them (fallbacks where a value is missing). */
export async function previewRecipients(
  db: Db,
  audience: Audience,
  texts: CampaignTexts,
  limit: number,
  smartEncoding: boolean,
): Promise<PreviewRecipient[]> {
  const rows = await db<{ phone_number: string; name: string | null; zipcode: string | null }[]>`
    SELECT phone_number, name, zipcode FROM (${recipients(db, audience)}) AS r ORDER BY phone_number LIMIT ${limit}`
  const options = { templated: true, smartEncoding }
  return rows.map((row) => ({
    phoneNumber: row.phone_number,
    name: row.name,
    zipcode: row.zipcode,
    firstMessage: outgoingText(texts.firstMessage, row, options),
    secondMessage: texts.secondMessage?.trim() ? outgoingText(texts.secondMessage, row, options) : null,
  }))
}

/** An existing campaign's audience and texts (for a preview that names only the campaign). */
export async function campaignAudience(
  db: Db,
  id: number,
): Promise<{ audience: Audience; texts: CampaignTexts }> {
  const [row] = await db<{ segments: Segments | null; first_message: string; second_message: string | null }[]>`
    SELECT segments, first_message, second_message FROM public.campaigns WHERE id = ${id}`
  if (!row) throw notFound('Campaign not found')
  return {
    audience: row.segments ? { segments: row.segments } : { campaignId: id },
    texts: { firstMessage: row.first_message, secondMessage: row.second_message },
  }
}
