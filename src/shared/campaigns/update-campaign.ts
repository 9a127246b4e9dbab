import { badRequest } from '../http/errors.ts'
import { type CampaignContext } from './create-campaign.ts'
import {
  type CampaignRow,
  findCampaign,
  formatCampaign,
  type FormattedCampaign,
  NOT_RUN_STATUSES,
  recipientCount,
} from './queries.ts'
import type { UpdateCampaignInput } from './schemas.ts'
import { assertSegmentsExist } from './segments.ts'
import { shortenCampaignTexts } from './shorten-messages.ts'

/** Upstream edited any campaign whose run_at is ahead; one that has run, or is cancelled, is not editable here. */
export function isEditable(campaign: CampaignRow, now: Date): boolean {
  return !campaign.processed && NOT_RUN_STATUSES.includes(campaign.status) && campaign.runAt * 1000 > now.getTime()
}

/**
 * PATCH /campaigns/:id/. Fields that are absent stay as they are; `secondMessage: null` and
 * `title: null` clear them. New segments recompute the estimate and turn a CSV campaign into a
 * segment campaign: its uploaded recipients, file URL and shared CSV label go (upstream kept the
 * CSV label and left the stored file behind, §8.5 #41).
 */
export async function updateCampaign(
  ctx: CampaignContext,
  id: number,
  input: UpdateCampaignInput,
  now: Date,
): Promise<FormattedCampaign> {
  const segments = input.segments ?? undefined
  if (segments) await assertSegmentsExist(ctx.sql, segments)
  const count = segments ? await recipientCount(ctx.sql, segments) : undefined
  const texts = await shortenCampaignTexts(ctx.shortener, {
    firstMessage: input.firstMessage,
    secondMessage: input.secondMessage,
  }, { campaignId: id })

  const { campaign, removedFileUrl } = await ctx.sql.begin(async (tx) => {
    // The row lock orders this edit against check_and_run_campaigns claiming the campaign.
    const current = await findCampaign(tx, id, { lock: true })
    if (!current || !isEditable(current, now)) throw badRequest('Campaign not found or cannot be edited')

    const set = {
      title: input.title !== undefined,
      first: texts.firstMessage !== undefined,
      second: texts.secondMessage !== undefined,
      runAt: input.runAt !== undefined,
      delay: input.delay !== undefined,
      segments: segments !== undefined,
    }
    if (Object.values(set).every((changed) => !changed)) {
      const { processed: _processed, recipientFileUrl: _fileUrl, ...unchanged } = current
      return { campaign: unchanged as FormattedCampaign, removedFileUrl: null }
    }
    if (segments) await tx`DELETE FROM public.campaign_file_recipients WHERE campaign_id = ${id}`
    const [row] = await tx`
      UPDATE public.campaigns SET
        title = CASE WHEN ${set.title} THEN ${input.title ?? null}::text ELSE title END,
        first_message = CASE WHEN ${set.first} THEN ${texts.firstMessage ?? null}::text ELSE first_message END,
        second_message = CASE WHEN ${set.second} THEN ${texts.secondMessage ?? null}::text ELSE second_message END,
        run_at = CASE WHEN ${set.runAt} THEN ${input.runAt ?? null}::timestamptz ELSE run_at END,
        delay = CASE WHEN ${set.delay} THEN ${input.delay ?? null}::integer ELSE delay END,
        segments = CASE WHEN ${set.segments} THEN ${
      segments ? tx.json(segments as any) : null
    }::jsonb ELSE segments END,
        recipient_count = CASE WHEN ${set.segments} THEN ${count ?? null}::integer ELSE recipient_count END,
        recipient_file_url = CASE WHEN ${set.segments} THEN NULL ELSE recipient_file_url END,
        label_ids = CASE WHEN ${set.segments} THEN array_remove(label_ids, ${ctx.config.SHARED_CSV_CAMPAIGN_LABEL_ID}::text) ELSE label_ids END
      WHERE id = ${id}
      RETURNING *, floor(extract(epoch FROM run_at))::bigint AS run_at_seconds`
    return { campaign: formatCampaign(row), removedFileUrl: segments ? current.recipientFileUrl : null }
  })

  if (removedFileUrl) {
    await ctx.files.remove(removedFileUrl).catch((error) =>
      ctx.log.warn('recipient file of a campaign turned segment-based could not be removed', { campaignId: id, error })
    )
  }
  ctx.log.info('campaign updated', {
    campaignId: id,
    fields: Object.keys(input).filter((key) => (input as any)[key] !== undefined),
  })
  return campaign
}
