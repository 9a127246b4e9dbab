import type { Sql } from '../db/client.ts'
import { conflict, notFound } from '../http/errors.ts'
import type { Logger } from '../log/logger.ts'
import { findCampaign } from './queries.ts'

export interface RetryResult {
  requeued: number
  /** Ledger `unknown`: Missive may have sent it; re-sending could text the person twice. */
  skippedUnknown: number
  /** Unsubscribed or excluded since the first attempt. */
  skippedIneligible: number
  alreadyQueued: number
  /** Dead-lettered personalized messages whose text was not archived. */
  missingMessage: number
}

/**
 * POST /campaigns/:id/retry-failed/: re-queues the first messages whose send failed or was
 * dead-lettered (SQL retry_failed_campaign_messages). Only for a campaign that has run and is not
 * cancelled; a cancelled campaign's messages would only be skipped again.
 */
export async function retryFailedMessages(sql: Sql, log: Logger, id: number): Promise<RetryResult> {
  const result = await sql.begin(async (tx) => {
    const campaign = await findCampaign(tx, id, { lock: true })
    if (!campaign) throw notFound('Campaign not found')
    if (!['sending', 'sent', 'failed', 'paused'].includes(campaign.status) || !campaign.processed) {
      throw conflict(`Cannot retry the failed messages of a campaign that is ${campaign.status}`, {
        status: campaign.status,
      })
    }
    const [row] = await tx`SELECT public.retry_failed_campaign_messages(${id}) AS result`
    return row.result as RetryResult
  })
  log.info('campaign failed messages re-queued', { campaignId: id, ...result })
  return result
}
