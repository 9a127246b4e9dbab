import type { Sql } from '../db/client.ts'
import { conflict, notFound } from '../http/errors.ts'
import type { Logger } from '../log/logger.ts'
import {
  type CampaignRow,
  type CampaignStatus,
  findCampaign,
  formatCampaign,
  type FormattedCampaign,
} from './queries.ts'

// Lifecycle: draft/scheduled → sending → sent, plus paused, cancelled and failed. The sender reads
// campaigns.status before each send: `paused` holds the campaign's messages, `cancelled` skips them
// (ledger `skipped`); check_and_run_campaigns only starts `scheduled` campaigns.
//
// Pausing also parks the campaign's queued messages, in the same transaction as the status change
// (park_campaign_messages, migration 20261130110200): re-read and deferred every minute, they sat
// ahead of everything enqueued after them, so a broadcast behind a large paused campaign waited.
// Resume and cancel bring them back, in their original order (cancel so that the sender records
// each one as skipped rather than leaving it parked for ever).

export type LifecycleAction = 'pause' | 'resume' | 'cancel'

interface Transition {
  from: CampaignStatus[]
  to: (campaign: CampaignRow) => CampaignStatus
  detail: (campaign: CampaignRow) => string | null
}

const TRANSITIONS: Record<LifecycleAction, Transition> = {
  pause: { from: ['scheduled', 'sending'], to: () => 'paused', detail: () => null },
  // A campaign paused before it ran goes back to the schedule; one paused mid-send carries on.
  resume: { from: ['paused'], to: (c) => (c.processed ? 'sending' : 'scheduled'), detail: () => null },
  cancel: {
    from: ['draft', 'scheduled', 'sending', 'paused'],
    to: () => 'cancelled',
    detail: (
      c,
    ) => (c.processed ? 'cancelled while sending: messages not yet sent are skipped' : 'cancelled before it ran'),
  },
}

/** Applies an action or answers 409 naming the current status (404 for an unknown campaign). */
export async function changeCampaignStatus(
  sql: Sql,
  log: Logger,
  id: number,
  action: LifecycleAction,
  now: Date,
): Promise<FormattedCampaign> {
  const transition = TRANSITIONS[action]
  const campaign = await sql.begin(async (tx) => {
    const current = await findCampaign(tx, id, { lock: true })
    if (!current) throw notFound('Campaign not found')
    if (!transition.from.includes(current.status)) {
      throw conflict(`Cannot ${action} a campaign that is ${current.status}`, { status: current.status })
    }
    const [row] = await tx`
      UPDATE public.campaigns
      SET status = ${transition.to(current)}, status_detail = ${transition.detail(current)},
          -- Resuming a campaign whose run time passed while it was paused runs it now: left in the
          -- past, the runner would count it as missed.
          run_at = CASE WHEN ${action === 'resume'} AND NOT processed AND run_at < ${now} THEN ${now} ELSE run_at END
      WHERE id = ${id}
      RETURNING *, floor(extract(epoch FROM run_at))::bigint AS run_at_seconds`
    if (action === 'pause') await tx`SELECT public.park_campaign_messages(${id})`
    else await tx`SELECT public.unpark_campaign_messages(${id})`
    return formatCampaign(row)
  })
  log.info(`campaign ${action}`, { campaignId: id, status: campaign.status })
  return campaign
}
