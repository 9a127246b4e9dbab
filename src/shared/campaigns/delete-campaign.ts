import { badRequest } from '../http/errors.ts'
import type { CampaignContext } from './create-campaign.ts'

/**
 * DELETE /campaigns/:id/: only a campaign that has not run (upstream: run_at ahead and not
 * processed). Its uploaded recipients go with it (foreign key cascade). The stored file is removed
 * after the row, so a storage failure leaves an orphan file rather than a campaign without its file.
 */
export async function deleteCampaign(
  ctx: CampaignContext,
  id: number,
  now: Date,
): Promise<{ message: string; id: number }> {
  const [deleted] = await ctx.sql`
    DELETE FROM public.campaigns
    WHERE id = ${id} AND run_at > ${now} AND NOT processed AND status IN ('draft', 'scheduled', 'paused', 'cancelled')
    RETURNING recipient_file_url`
  if (!deleted) throw badRequest('Campaign not found or is not an upcoming campaign')
  if (deleted.recipient_file_url) {
    await ctx.files.remove(deleted.recipient_file_url).catch((error) =>
      ctx.log.warn('recipient file of a deleted campaign could not be removed', { campaignId: id, error })
    )
  }
  ctx.log.info('campaign deleted', { campaignId: id })
  return { message: 'Campaign deleted successfully', id }
}
