import { z } from 'zod'
import { refinePlaceholders } from '../texts/validate.ts'

// Request bodies of the campaign API, with upstream's rules and messages (upstream-functions.md
// §2.9, pinned by its campaigns-tests.ts, §7.7). Upstream used zod 3; its default messages
// ("Required", "Expected number, received string", "Unrecognized key(s) in object: 'x'") are what
// the tests and existing callers see, so zod 4's are mapped back to them (`zod3Messages`).

/** 9999-12-31: beyond it a Unix time is no date at all (and PostgreSQL would raise, a 500). */
const MAX_UNIX_SECONDS = 253_402_300_799

export const segmentSchema = z.object({
  // z.guid: 8-4-4-4-12 hex without a version check, like zod 3's uuid (test #7 relies on
  // `c1c1c1c1-c1c1-…` passing the format check and then failing the label lookup).
  id: z.guid('Invalid segment ID format. Must be a UUID.'),
  since: z.number().int('Date filter must be a Unix timestamp').min(0, 'Date filter must be a Unix timestamp')
    .max(MAX_UNIX_SECONDS, 'Date filter must be a Unix timestamp').optional(),
})
export type Segment = z.infer<typeof segmentSchema>

/** One segment, or a list of segments (OR) and lists of segments (AND groups). */
export const segmentConfigSchema = z.union([segmentSchema, z.array(z.union([segmentSchema, z.array(segmentSchema)]))])
export type SegmentConfig = z.infer<typeof segmentConfigSchema>

/**
 * Segments one campaign or count may name, included and excluded together (README "Limits"). An
 * editor picks a handful; upstream took 1.5 M ids and spent ~35 s of database time on them.
 */
export const MAX_SEGMENTS = 100

const countSegments = (config: SegmentConfig | undefined): number =>
  config === undefined
    ? 0
    : Array.isArray(config)
    ? config.reduce<number>((n, item) => n + (Array.isArray(item) ? item.length : 1), 0)
    : 1

export const segmentsSchema = z.object({
  included: segmentConfigSchema,
  // `excluded: null` stays a 400, as upstream (its SQL raised on JSON null).
  excluded: segmentConfigSchema.optional(),
}).superRefine((segments, ctx) => {
  const total = countSegments(segments.included) + countSegments(segments.excluded)
  if (total > MAX_SEGMENTS) {
    ctx.addIssue({
      code: 'custom',
      message: `at most ${MAX_SEGMENTS} segments (included and excluded together), got ${total}`,
    })
  }
})
export type Segments = z.infer<typeof segmentsSchema>

const unixSeconds = z.number().int('Must be a Unix timestamp').max(MAX_UNIX_SECONDS, 'Must be a Unix timestamp')

/** `runAt` as upstream: whole Unix seconds, strictly in the future. */
export const futureRunAt = (now: () => Date) =>
  unixSeconds
    .transform((seconds) => new Date(seconds * 1000))
    .refine((date) => date.getTime() > now().getTime(), 'Run time must be in the future')

const baseFields = (now: () => Date) => ({
  title: z.string().optional(),
  firstMessage: z.string().min(1, 'First message is required').superRefine(refinePlaceholders),
  secondMessage: z.string().nullable().optional().superRefine(refinePlaceholders),
  // The upper bound is the integer column's; beyond it the insert would fail with a 500.
  delay: z.number().int().positive('Delay must be a positive integer').max(
    2_147_483_647,
    'Delay must be at most 2147483647 seconds',
  )
    .optional(),
  campaignLabelName: z
    .string()
    .nullable()
    .optional()
    .refine((name) => !name?.includes('/'), 'Campaign label name cannot contain forward slash (/) character'),
  runAt: futureRunAt(now),
})

/** POST /campaigns/ with JSON: strict, an unknown key is a 400. */
export const segmentCampaignSchema = (now: () => Date) =>
  z.strictObject({ ...baseFields(now), segments: segmentsSchema })
export type SegmentCampaignInput = z.infer<ReturnType<typeof segmentCampaignSchema>>

/** POST /campaigns/ multipart: the same fields without segments, strict too. */
export const fileCampaignSchema = (now: () => Date) => z.strictObject(baseFields(now))
export type FileCampaignInput = z.infer<ReturnType<typeof fileCampaignSchema>>

/**
 * PATCH /campaigns/:id/: every field optional, unknown and read-only keys (recipientCount,
 * labelIds, campaignLabelNames, campaignLabelName, stats…) dropped, because the sidebar sends the
 * whole campaign object back (clients.md §1.7, DESIGN.md "Client contracts"). `title: null` is
 * accepted (upstream's 400 broke editing untitled campaigns); `segments: null` means "unchanged".
 */
export const updateCampaignSchema = (now: () => Date) => {
  const { campaignLabelName: _omitted, ...fields } = baseFields(now)
  return z
    .object({
      ...fields,
      title: z.string().nullable().optional(),
      firstMessage: fields.firstMessage.optional(),
      runAt: fields.runAt.optional(),
      segments: segmentsSchema.nullable().optional(),
    })
    .refine(
      (data) => Object.values(data).some((value) => value !== undefined),
      'At least one field must be provided for update',
    )
}
export type UpdateCampaignInput = z.infer<ReturnType<typeof updateCampaignSchema>>

const strictSegmentsSchema = z.strictObject(segmentsSchema.shape).superRefine((segments, ctx) => {
  const total = countSegments(segments.included) + countSegments(segments.excluded)
  if (total > MAX_SEGMENTS) {
    ctx.addIssue({
      code: 'custom',
      message: `at most ${MAX_SEGMENTS} segments (included and excluded together), got ${total}`,
    })
  }
})

/** Texts to estimate (issue 14): optional, so the sidebar's `{segments}` body works as before. */
const textFields = {
  firstMessage: z.string().min(1, 'First message is required').superRefine(refinePlaceholders).optional(),
  secondMessage: z.string().nullable().optional().superRefine(refinePlaceholders),
}

export const recipientCountSchema = z.strictObject({ segments: strictSegmentsSchema, ...textFields })

/** Rendered texts for at most this many recipients per preview (an editor looks at a few). */
export const MAX_PREVIEW_RECIPIENTS = 20

/**
 * POST /campaigns/preview/: the audience as segments, or an existing campaign (its segments or
 * uploaded numbers, and its texts unless given).
 */
export const previewSchema = z.strictObject({
  segments: strictSegmentsSchema.optional(),
  campaignId: z.number().int().positive().max(2_147_483_647).optional(),
  ...textFields,
  limit: z.number().int().min(1).max(MAX_PREVIEW_RECIPIENTS).default(3),
}).refine((body) => (body.segments === undefined) !== (body.campaignId === undefined), {
  message: 'give either segments or campaignId',
  path: ['segments'],
}).refine((body) => body.campaignId !== undefined || body.firstMessage !== undefined, {
  message: 'Required',
  path: ['firstMessage'],
})

export const testSendSchema = z.strictObject({ phoneNumber: z.string().min(1, 'Required') })

/** zod 4 issues worded as zod 3 worded them (the messages upstream's clients and tests know). */
export const zod3Messages: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'Required'
    return `Expected ${issue.expected}, received ${typeName(issue.input)}`
  }
  if (issue.code === 'unrecognized_keys') {
    return `Unrecognized key(s) in object: ${issue.keys.map((key) => `'${key}'`).join(', ')}`
  }
  return undefined
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number' && Number.isNaN(value)) return 'nan'
  return typeof value
}

/** The three renderings upstream used, one per route (upstream-functions.md §8.5 #40). */
export const issueFormats = {
  /** POST /campaigns/: `Validation error: [path] msg, [path] msg` */
  create: (error: z.ZodError) =>
    `Validation error: ${error.issues.map((i) => `[${i.path.join(',')}] ${i.message}`).join(', ')}`,
  /** POST /campaigns/recipient-count/: `Validation error:  [path] - msg, …` (the double space is upstream's). */
  count: (error: z.ZodError) =>
    `Validation error: ${error.issues.map((i) => ` [${i.path.join(',')}] - ${i.message}`).join(', ')}`,
  /** PATCH /campaigns/:id/: `Validation error in campaigns:  [path] - msg,…` (joined without a space, as upstream). */
  update: (error: z.ZodError) =>
    `Validation error in campaigns: ${error.issues.map((i) => ` [${i.path.join(',')}] - ${i.message}`).join(',')}`,
}
