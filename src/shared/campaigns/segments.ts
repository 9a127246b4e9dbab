import type { Db } from '../db/client.ts'
import { badRequest } from '../http/errors.ts'
import { allSegmentLabelsExist } from './queries.ts'
import type { SegmentConfig, Segments } from './schemas.ts'

/** Every label id a config names, AND groups flattened. */
export function segmentIds(config: SegmentConfig | undefined): string[] {
  if (!config) return []
  if (!Array.isArray(config)) return [config.id]
  return config.flatMap((item) => (Array.isArray(item) ? item.map((segment) => segment.id) : [item.id]))
}

/** Upstream's check: every included and excluded id is a known label (`labels`), else 400. */
export async function assertSegmentsExist(db: Db, segments: Segments): Promise<void> {
  const ids = [...segmentIds(segments.included), ...segmentIds(segments.excluded)]
  if (!(await allSegmentLabelsExist(db, ids))) throw badRequest('One or more segment IDs are invalid')
}
