import { Hono } from 'hono'
import type { z } from 'zod'
import { AppError, badRequest, readJson } from '../http/errors.ts'
import type { FunctionDefinition } from '../http/function-app.ts'
import { dubLinkShortener } from '../links/dub.ts'
import type { Deps } from '../runtime/deps.ts'
import { quietHoursFrom } from '../schedule/quiet-hours.ts'
import { quietRunAtRefusal, refusalExtra } from '../schedule/quiet-run-at.ts'
import { recipientFilesFor } from '../storage/recipient-files.ts'
import { type CampaignContext, createFileCampaign, createSegmentCampaign } from './create-campaign.ts'
import { deleteCampaign } from './delete-campaign.ts'
import { changeCampaignStatus, type LifecycleAction } from './lifecycle.ts'
import { listCampaigns } from './list-campaigns.ts'
import { readCampaignForm } from './multipart.ts'
import { campaignProgress } from './progress.ts'
import { listSegments, recipientCount } from './queries.ts'
import { isCsvUpload, parseRecipientCsv } from './recipient-file.ts'
import { retryFailedMessages } from './retry-failed.ts'
import {
  fileCampaignSchema,
  issueFormats,
  previewSchema,
  recipientCountSchema,
  segmentCampaignSchema,
  testSendSchema,
  updateCampaignSchema,
  zod3Messages,
} from './schemas.ts'
import { sendTestMessage, TestSendRateLimited } from './test-send.ts'
import { audienceValues, campaignAudience, estimateTexts, previewRecipients } from './text-preview.ts'
import { updateCampaign } from './update-campaign.ts'

// The sidebar's campaign API (upstream-functions.md §2.9, clients.md §1.5–1.7), served as
// `campaign` and `campaigns`:
//   GET    /segments/              labels usable as segments [{id, name}]
//   GET    /?page=&pageSize=       {upcoming: [...], past: {items, pagination}}
//   POST   /recipient-count/       {segments, firstMessage?, secondMessage?} → {recipient_count, texts?}
//   POST   /preview/               {segments | campaignId, firstMessage?, secondMessage?, limit?}
//                                   → {recipient_count, texts, recipients: first N rendered}
//   POST   /                       JSON (segments) or multipart (CSV `file`) → campaign
//   PATCH  /:id/                   edit a campaign that has not run → campaign
//   DELETE /:id/                   delete a campaign that has not run → {message, id}
//   POST   /:id/pause|resume|cancel/  lifecycle → campaign (409 {message, status} when illegal)
//   POST   /:id/retry-failed/      {requeued, skippedUnknown, skippedIneligible, alreadyQueued, missingMessage}
//   GET    /:id/progress/          {total, queued, sending, sent, delivered, failed, unknown, skipped, percent, …}
//   POST   /:id/test/ {phoneNumber} the first message to one number, outside the campaign (409 opted-out number, 429 rate windows full)

/** Larger uploads are refused with 413 before they are read (a CSV of 700 000 numbers fits). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024
const UPLOAD_TOO_LARGE = `Upload too large: the limit is ${
  MAX_UPLOAD_BYTES / 1024 / 1024
} MB; split the recipient file into several campaigns`
/** Room for the form's other parts and boundaries around a file of the full 10 MB. */
const FORM_OVERHEAD_BYTES = 64 * 1024
const DEFAULT_PAGE_SIZE = 20
const MAX_PAGE_SIZE = 100
/** Far beyond any real list; (page - 1) × pageSize must stay an exact integer for PostgreSQL's OFFSET. */
const MAX_PAGE = 1_000_000

function campaignId(text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw badRequest('Invalid campaign ID')
  return Number(text)
}

function pageParam(name: string, text: string | undefined, fallback: number, max: number): number {
  const value = Number(text || fallback)
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw badRequest(`Validation error: [${name}] must be an integer from 1 to ${max}`)
  }
  return value
}

/** A run time inside quiet hours is a 400 naming the next allowed time (schedule/quiet-run-at.ts). */
function refuseQuietRunAt(deps: Deps, runAt: Date | undefined): void {
  if (!runAt) return
  const refusal = quietRunAtRefusal(quietHoursFrom(deps.config), runAt)
  if (refusal) throw badRequest(refusal.message, refusalExtra(refusal))
}

function parse<T extends z.ZodType>(schema: T, input: unknown, render: (error: z.ZodError) => string): z.infer<T> {
  const result = schema.safeParse(input, { error: zod3Messages })
  if (!result.success) throw badRequest(render(result.error))
  return result.data
}

export const campaignFunction: FunctionDefinition = {
  name: 'campaign',
  aliases: ['campaigns'],
  gate: 'user',
  // The CSV upload's cap (every other route keeps the 1 MB default).
  bodyLimit: (
    method,
    path,
  ) => (method === 'POST' && path === '/'
    ? { limit: MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES, message: UPLOAD_TOO_LARGE }
    : undefined),
  routes: (deps: Deps) => {
    const app = new Hono({ strict: false })
    const context = (): CampaignContext => ({
      sql: deps.sql,
      config: deps.config,
      log: deps.log,
      missive: deps.missive,
      shortener: dubLinkShortener(deps.config, deps.log),
      files: recipientFilesFor(deps.config, deps.recipientFiles),
    })

    app.get('/segments', async (c) => c.json(await listSegments(deps.sql)))

    app.get('/', async (c) => {
      const page = pageParam('page', c.req.query('page'), 1, MAX_PAGE)
      const pageSize = pageParam('pageSize', c.req.query('pageSize'), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
      return c.json(await listCampaigns(deps.sql, page, pageSize, deps.now()))
    })

    app.post('/recipient-count', async (c) => {
      const { segments, firstMessage, secondMessage } = parse(
        recipientCountSchema,
        await readJson(c),
        issueFormats.count,
      )
      if (firstMessage === undefined) return c.json({ recipient_count: await recipientCount(deps.sql, segments) })
      // With the texts: their encoding, segments and cost for this audience (issue 14), in addition.
      const audience = await audienceValues(deps.sql, { segments })
      const texts = estimateTexts(
        { firstMessage, secondMessage: secondMessage ?? null },
        audience,
        deps.config.SMS_SMART_ENCODING,
      )
      return c.json({ recipient_count: texts.firstMessage.recipients, texts })
    })

    app.post('/preview', async (c) => {
      const body = parse(previewSchema, await readJson(c), issueFormats.create)
      const saved = body.campaignId !== undefined ? await campaignAudience(deps.sql, body.campaignId) : null
      const audience = saved?.audience ?? { segments: body.segments! }
      const texts = {
        firstMessage: body.firstMessage ?? saved!.texts.firstMessage,
        secondMessage: body.secondMessage !== undefined ? body.secondMessage : saved?.texts.secondMessage ?? null,
      }
      const smart = deps.config.SMS_SMART_ENCODING
      const estimates = estimateTexts(texts, await audienceValues(deps.sql, audience), smart)
      return c.json({
        recipient_count: estimates.firstMessage.recipients,
        texts: estimates,
        recipients: await previewRecipients(deps.sql, audience, texts, body.limit, smart),
      })
    })

    app.post(
      '/',
      async (c) => {
        const now = () => deps.now()
        if (!(c.req.header('content-type') ?? '').includes('multipart/form-data')) {
          const input = parse(segmentCampaignSchema(now), await readJson(c), issueFormats.create)
          refuseQuietRunAt(deps, input.runAt)
          return c.json(await createSegmentCampaign(context(), input))
        }
        const form = await readCampaignForm(c)
        if (!form.file) throw badRequest('File is required for file-based campaigns')
        const input = parse(fileCampaignSchema(now), form.fields, issueFormats.create)
        refuseQuietRunAt(deps, input.runAt)
        if (!isCsvUpload(form.file)) throw badRequest('Please upload a CSV file with phone numbers')
        if (form.file.size > MAX_UPLOAD_BYTES) throw new AppError(413, UPLOAD_TOO_LARGE)
        const bytes = new Uint8Array(await form.file.arrayBuffer())
        const recipients = parseRecipientCsv(decodeText(bytes))
        return c.json(
          await createFileCampaign(context(), input, { name: form.file.name, type: form.file.type, bytes }, recipients),
        )
      },
    )

    app.patch('/:id', async (c) => {
      const id = campaignId(c.req.param('id'))
      const input = parse(updateCampaignSchema(() => deps.now()), await readJson(c), issueFormats.update)
      refuseQuietRunAt(deps, input.runAt)
      return c.json(await updateCampaign(context(), id, input, deps.now()))
    })

    app.delete('/:id', async (c) => c.json(await deleteCampaign(context(), campaignId(c.req.param('id')), deps.now())))

    for (const action of ['pause', 'resume', 'cancel'] as LifecycleAction[]) {
      app.post(
        `/:id/${action}`,
        async (c) =>
          c.json(await changeCampaignStatus(deps.sql, deps.log, campaignId(c.req.param('id')), action, deps.now())),
      )
    }

    app.post(
      '/:id/retry-failed',
      async (c) => c.json(await retryFailedMessages(deps.sql, deps.log, campaignId(c.req.param('id')))),
    )

    app.get('/:id/progress', async (c) =>
      c.json(
        await campaignProgress(deps.sql, campaignId(c.req.param('id')), {
          rule: quietHoursFrom(deps.config),
          now: deps.now(),
        }),
      ))

    app.post('/:id/test', async (c) => {
      const id = campaignId(c.req.param('id'))
      const { phoneNumber } = parse(testSendSchema, await readJson(c), issueFormats.create)
      try {
        return c.json(await sendTestMessage(deps, id, phoneNumber))
      } catch (error) {
        // The one answer that carries a header: when to try again.
        if (!(error instanceof TestSendRateLimited)) throw error
        c.header('Retry-After', String(error.retryAfterSeconds))
        return c.json({ message: error.message, ...error.extra }, 429)
      }
    })

    return app
  },
}

/** UTF-8 (a BOM is dropped later); a file that is not text is the editor's mistake, not ours. */
function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new AppError(400, 'The CSV file is not UTF-8 text: save it as CSV (UTF-8) with one phone number per line')
  }
}
