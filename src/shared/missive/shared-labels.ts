import { z } from 'zod'
import { invalidResponse, type MissiveContext, missiveRequest } from './request.ts'
import type {
  CreateSharedLabelInput,
  CreateSharedLabelResult,
  FindSharedLabelResult,
  ListSharedLabelsResult,
  SharedLabel,
} from './types.ts'

/** Missive's maximum page size for shared labels. */
export const SHARED_LABELS_MAX_LIMIT = 200
// 50 pages of 200 is ten thousand labels: far beyond any organisation, but a runaway loop still ends.
const FIND_MAX_PAGES = 50

const labelSchema = z.object({
  id: z.string().min(1),
  name: z.string(),
  name_with_parent_names: z.string().nullish(),
})
const labelWithId = z.object({ id: z.string().min(1) })
// The documented answer is an array; upstream also accepted a bare object, so both are read.
const createResponse = z.object({ shared_labels: z.union([z.array(labelWithId).min(1), labelWithId]) })
const listResponse = z.object({ shared_labels: z.array(labelSchema).nullish() })

export async function createSharedLabel(
  context: MissiveContext,
  input: CreateSharedLabelInput,
): Promise<CreateSharedLabelResult> {
  const label: Record<string, unknown> = { name: input.name, organization: context.organizationId }
  if (input.parentId) label.parent = input.parentId
  const response = await missiveRequest(context.transport, {
    method: 'POST',
    path: '/shared_labels',
    token: context.tokens.nonBroadcast,
    purpose: 'non-broadcast',
    body: { shared_labels: [label] },
  })
  if (!response.ok) return response
  const parsed = createResponse.safeParse(response.body)
  if (!parsed.success) return invalidResponse(response, 'Missive POST /shared_labels', 'a label id')
  const [created] = [parsed.data.shared_labels].flat()
  if (!created) return invalidResponse(response, 'Missive POST /shared_labels', 'a label id')
  return { ok: true, status: response.status, labelId: created.id }
}

export async function listSharedLabels(
  context: MissiveContext,
  page: { limit: number; offset: number },
): Promise<ListSharedLabelsResult> {
  const limit = Math.min(Math.max(1, Math.floor(page.limit)), SHARED_LABELS_MAX_LIMIT)
  const response = await missiveRequest(context.transport, {
    method: 'GET',
    path: '/shared_labels',
    token: context.tokens.nonBroadcast,
    purpose: 'non-broadcast',
    // Scoped to our organisation so a same-named label elsewhere cannot match.
    query: { limit, offset: Math.max(0, Math.floor(page.offset)), organization: context.organizationId },
  })
  if (!response.ok) return response
  const parsed = listResponse.safeParse(response.body)
  if (!parsed.success) return invalidResponse(response, 'Missive GET /shared_labels', 'a shared_labels array')
  const labels: SharedLabel[] = (parsed.data.shared_labels ?? []).map((label) => ({
    id: label.id,
    name: label.name,
    nameWithParentNames: label.name_with_parent_names ?? null,
  }))
  return { ok: true, status: response.status, labels }
}

/** First label whose name matches case-insensitively; a failed page is returned, not skipped. */
export async function findSharedLabelByName(context: MissiveContext, name: string): Promise<FindSharedLabelResult> {
  const wanted = name.toLowerCase()
  let status = 200
  for (let page = 0; page < FIND_MAX_PAGES; page++) {
    const result = await listSharedLabels(context, {
      limit: SHARED_LABELS_MAX_LIMIT,
      offset: page * SHARED_LABELS_MAX_LIMIT,
    })
    if (!result.ok) return result
    status = result.status
    const match = result.labels.find((label) => label.name.toLowerCase() === wanted)
    if (match) return { ok: true, status, labelId: match.id }
    if (result.labels.length < SHARED_LABELS_MAX_LIMIT) break
  }
  return { ok: true, status, labelId: null }
}
