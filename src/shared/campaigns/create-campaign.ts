import type { Config } from '../config/env.ts'
import type { Sql } from '../db/client.ts'
import { AppError } from '../http/errors.ts'
import type { LinkShortener } from '../links/dub.ts'
import type { Logger } from '../log/logger.ts'
import type { MissiveClient } from '../missive/index.ts'
import { recipientFileName, type RecipientFileStore } from '../storage/recipient-files.ts'
import { resolveCampaignLabel } from './campaign-label.ts'
import {
  type FormattedCampaign,
  insertCampaign,
  insertFileRecipients,
  recipientCount,
  reserveCampaignId,
} from './queries.ts'
import type { RecipientList } from './recipient-file.ts'
import type { FileCampaignInput, SegmentCampaignInput } from './schemas.ts'
import { assertSegmentsExist } from './segments.ts'
import { shortenCampaignTexts } from './shorten-messages.ts'

export interface CampaignContext {
  sql: Sql
  config: Config
  log: Logger
  missive: MissiveClient
  shortener: LinkShortener
  files: RecipientFileStore
}

/**
 * Segment-based campaign (JSON). Everything that can refuse the request (unknown segment ids,
 * Missive refusing the label) happens before the single INSERT, so a refusal leaves nothing behind.
 */
export async function createSegmentCampaign(
  ctx: CampaignContext,
  input: SegmentCampaignInput,
): Promise<FormattedCampaign> {
  await assertSegmentsExist(ctx.sql, input.segments)
  const labelId = await resolveCampaignLabel(ctx.sql, ctx.missive, ctx.config, ctx.log, input.campaignLabelName)
  const count = await recipientCount(ctx.sql, input.segments)
  const texts = await shortenCampaignTexts(ctx.shortener, {
    firstMessage: input.firstMessage,
    secondMessage: input.secondMessage ?? null,
  })
  const campaign = await insertCampaign(ctx.sql, {
    title: input.title ?? null,
    firstMessage: texts.firstMessage,
    secondMessage: texts.secondMessage,
    runAt: input.runAt,
    delay: input.delay,
    segments: input.segments,
    recipientCount: count,
    // Segment campaigns carry only the custom label (upstream; the CSV label is for file campaigns).
    labelIds: labelId ? [labelId] : [],
  })
  ctx.log.info('campaign created', { campaignId: campaign.id, kind: 'segments', recipientCount: count })
  return campaign
}

export interface UploadedFile {
  name: string
  type: string
  bytes: Uint8Array
}

/**
 * File-based campaign (multipart CSV), all or nothing (DESIGN.md "Upstream defects"): the file is
 * stored first under a reserved campaign id, then the campaign, its new authors and its
 * recipients are written in one transaction; if that fails the stored file is removed again.
 * Upstream wrote the campaign first and only logged a failed upload, which left a campaign with no
 * file URL that its SQL then treated as a segment campaign without segments: it sent to nobody.
 */
export async function createFileCampaign(
  ctx: CampaignContext,
  input: FileCampaignInput,
  file: UploadedFile,
  recipients: RecipientList,
): Promise<FormattedCampaign> {
  const labelIds = [ctx.config.SHARED_CSV_CAMPAIGN_LABEL_ID]
  const customLabel = await resolveCampaignLabel(ctx.sql, ctx.missive, ctx.config, ctx.log, input.campaignLabelName)
  if (customLabel) labelIds.push(customLabel)
  const texts = await shortenCampaignTexts(ctx.shortener, {
    firstMessage: input.firstMessage,
    secondMessage: input.secondMessage ?? null,
  })

  const id = await reserveCampaignId(ctx.sql)
  const log = ctx.log.child({ campaignId: id })
  let fileUrl: string
  try {
    fileUrl = await ctx.files.save(recipientFileName(id, file.name), file.bytes, file.type || 'text/csv')
  } catch (error) {
    if (error instanceof AppError) throw error
    log.error('recipient file could not be stored; no campaign created', { error })
    throw new AppError(502, 'The recipient file could not be stored, so no campaign was created; try again')
  }

  try {
    const campaign = await ctx.sql.begin(async (tx) => {
      const created = await insertCampaign(tx, {
        id,
        title: input.title ?? null,
        firstMessage: texts.firstMessage,
        secondMessage: texts.secondMessage,
        runAt: input.runAt,
        delay: input.delay,
        segments: null,
        recipientCount: recipients.phones.length,
        labelIds,
        recipientFileUrl: fileUrl,
      })
      await insertFileRecipients(tx, id, recipients.phones)
      return created
    })
    log.info('campaign created', {
      kind: 'file',
      recipientCount: recipients.phones.length,
      duplicatesMerged: recipients.duplicates,
      headerSkipped: recipients.headerSkipped,
    })
    return campaign
  } catch (error) {
    await ctx.files.remove(fileUrl).catch((removeError) =>
      log.warn('stored recipient file of a campaign that was not created could not be removed', {
        fileUrl,
        error: removeError,
      })
    )
    throw error
  }
}
