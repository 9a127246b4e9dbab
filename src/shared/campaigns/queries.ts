import type { Db, TransactionSql } from '../db/client.ts'
import { isUniqueViolation } from '../db/errors.ts'
import type { Segments } from './schemas.ts'

// Reads and writes of campaign rows (STYLE.md #8). Every value is a parameter.

/**
 * A text[] parameter, sent as JSON. postgres.js's sql.array() fails with "malformed array literal"
 * when it is the first array a fresh connection sends (its array types are not loaded yet), which is
 * exactly the first request of an edge function instance.
 */
export function textArray(db: Db, values: string[]) {
  return db`ARRAY(SELECT jsonb_array_elements_text(${db.json(values)}::jsonb))::text[]`
}

export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'sent' | 'paused' | 'cancelled' | 'failed'

/**
 * The campaign object of the API (upstream's FormattedCampaign, clients.md §1.5) plus `status` and
 * `statusDetail`, which the sidebar ignores. `runAt` is whole Unix seconds, floored (upstream's
 * `::INTEGER` rounded half a second up).
 */
export interface FormattedCampaign {
  id: number
  title: string | null
  firstMessage: string
  secondMessage: string | null
  segments: Segments | null
  delay: number
  recipientCount: number
  labelIds: string[]
  runAt: number
  status: CampaignStatus
  statusDetail: string | null
}

export interface CampaignRow extends FormattedCampaign {
  processed: boolean
  recipientFileUrl: string | null
}

/** Statuses in which a campaign has not run and may still be edited, deleted or cancelled. */
export const NOT_RUN_STATUSES: CampaignStatus[] = ['draft', 'scheduled', 'paused']

export function formatCampaign(row: Record<string, any>): FormattedCampaign {
  return {
    id: row.id,
    title: row.title,
    firstMessage: row.first_message,
    secondMessage: row.second_message,
    segments: row.segments ?? null,
    delay: row.delay,
    // The sidebar calls toLocaleString() on it: never null.
    recipientCount: row.recipient_count ?? 0,
    labelIds: row.label_ids ?? [],
    runAt: Number(row.run_at_seconds),
    status: row.status,
    statusDetail: row.status_detail ?? null,
  }
}

function toRow(row: Record<string, any>): CampaignRow {
  return { ...formatCampaign(row), processed: row.processed, recipientFileUrl: row.recipient_file_url }
}

export async function findCampaign(db: Db, id: number, options: { lock?: boolean } = {}): Promise<CampaignRow | null> {
  const [row] = await db`
    SELECT *, floor(extract(epoch FROM run_at))::bigint AS run_at_seconds
    FROM public.campaigns WHERE id = ${id}
    ${options.lock ? db`FOR UPDATE` : db``}`
  return row ? toRow(row) : null
}

export interface NewCampaign {
  id?: number
  title: string | null
  firstMessage: string
  secondMessage: string | null
  runAt: Date
  delay?: number
  segments: Segments | null
  recipientCount: number
  labelIds: string[]
  recipientFileUrl?: string | null
}

export async function insertCampaign(db: Db, campaign: NewCampaign): Promise<FormattedCampaign> {
  const [row] = await db`
    INSERT INTO public.campaigns
      (id, title, first_message, second_message, run_at, delay, segments, recipient_count, label_ids, recipient_file_url, status)
    VALUES (
      ${
    campaign.id ?? db`DEFAULT`
  }, ${campaign.title}, ${campaign.firstMessage}, ${campaign.secondMessage}, ${campaign.runAt},
      ${campaign.delay ?? db`DEFAULT`}, ${campaign.segments === null ? null : db.json(campaign.segments as any)},
      ${campaign.recipientCount}, ${textArray(db, campaign.labelIds)}, ${
    campaign.recipientFileUrl ?? null
  }, 'scheduled')
    RETURNING *, floor(extract(epoch FROM run_at))::bigint AS run_at_seconds`
  return formatCampaign(row)
}

/** Reserves an id before anything is stored, so the recipient file can be named after it. */
export async function reserveCampaignId(db: Db): Promise<number> {
  const [row] = await db`SELECT nextval(pg_get_serial_sequence('public.campaigns', 'id'))::integer AS id`
  return row.id
}

export async function recipientCount(db: Db, segments: Segments): Promise<number> {
  const [row] = await db`SELECT public.get_campaign_recipient_count(${db.json(segments as any)}::jsonb) AS count`
  return Number(row.count ?? 0)
}

/** Every id named anywhere in `included` / `excluded` exists in `labels`. */
export async function allSegmentLabelsExist(db: Db, ids: string[]): Promise<boolean> {
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))]
  if (unique.length === 0) return true
  const [row] = await db`SELECT count(*)::integer AS found FROM public.labels WHERE id::text = ANY(${
    textArray(db, unique)
  })`
  return row.found === unique.length
}

/**
 * The recipients of a file campaign, in the campaign's transaction: its numbers (file order), then
 * an author for each number nobody has yet, flagged added_via_file_upload so weekly broadcasts
 * leave it alone (existing authors keep their flags: upstream's rule). The list is sent once, as
 * one jsonb parameter; the authors are read back from the rows just written, sorted (cheaper
 * index inserts than file order).
 */
export async function insertFileRecipients(tx: TransactionSql, campaignId: number, phones: string[]): Promise<void> {
  await tx`
    INSERT INTO public.campaign_file_recipients (phone_number, campaign_id)
    SELECT phone, ${campaignId} FROM jsonb_array_elements_text(${tx.json(phones)}::jsonb) AS phone`
  // Plain INSERT first: ON CONFLICT's speculative insertion cost a seventh of a 700 000-line
  // campaign (bench/csv-campaign.ts). The NOT EXISTS leaves a conflict only when another
  // transaction inserts one of these numbers meanwhile (a reader texting in); then the savepoint
  // undoes the attempt and the ON CONFLICT form, which cannot fail that way, runs instead.
  try {
    await tx.savepoint((sp) => sp`${newUploadedAuthors(sp, campaignId)}`)
  } catch (error) {
    if (!isUniqueViolation(error, 'authors_pkey')) throw error
    await tx`${newUploadedAuthors(tx, campaignId)} ON CONFLICT (phone_number) DO NOTHING`
  }
}

function newUploadedAuthors(db: Db, campaignId: number) {
  return db`
    INSERT INTO public.authors (phone_number, added_via_file_upload)
    SELECT f.phone_number, true FROM public.campaign_file_recipients f
    WHERE f.campaign_id = ${campaignId}
      AND NOT EXISTS (SELECT 1 FROM public.authors a WHERE a.phone_number = f.phone_number)
    ORDER BY f.phone_number`
}

export async function listSegments(db: Db): Promise<Array<{ id: string; name: string }>> {
  return await db<Array<{ id: string; name: string }>>`
    SELECT id, name FROM public.labels ORDER BY created_at, name, id`
}
