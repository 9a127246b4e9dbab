import type { Sql } from '../db/client.ts'
import { AppError, badRequest, notFound } from '../http/errors.ts'
import { type Logger, maskPhone } from '../log/logger.ts'
import type { MissiveClient } from '../missive/index.ts'
import { normalizePhone } from '../phone/normalize.ts'
import { findCampaign } from './queries.ts'

export interface TestSendResult {
  sent: true
  phoneNumber: string
  draftId: string
  conversationId: string
}

/**
 * POST /campaigns/:id/test/ {phoneNumber}: the campaign's first message to one number, now, for an
 * editor to see it on a phone. It is not part of the campaign: no queue message, no ledger row, no
 * status row, no campaign labels on the conversation (they would pull the tester into label
 * segments), and the campaign's status does not change.
 */
export async function sendTestMessage(
  sql: Sql,
  missive: MissiveClient,
  log: Logger,
  id: number,
  rawPhone: string,
): Promise<TestSendResult> {
  const phoneNumber = normalizePhone(rawPhone)
  if (!phoneNumber) {
    throw badRequest('Validation error: [phoneNumber] Not a phone number: use +13135550123 or 313-555-0123')
  }
  const campaign = await findCampaign(sql, id)
  if (!campaign) throw notFound('Campaign not found')

  const result = await missive.sendDraft({ body: campaign.firstMessage, to: phoneNumber, phase: 'first' })
  const context = { campaignId: id, phone: maskPhone(phoneNumber) }
  if (!result.ok) {
    log.warn('test message not sent', { ...context, status: result.status, kind: result.kind, error: result.error })
    throw new AppError(502, `Missive did not send the test message: ${result.error}`, {
      missiveStatus: result.status,
      kind: result.kind,
      ...(result.kind === 'timeout' || result.kind === 'invalid-response'
        ? { detail: 'Missive may have sent it anyway: check the phone before trying again' }
        : {}),
    })
  }
  log.info('test message sent', { ...context, draftId: result.draftId })
  return { sent: true, phoneNumber, draftId: result.draftId, conversationId: result.conversationId }
}
