export { createMissiveClient } from './client.ts'
export { parseRetryAfter } from './retry-after.ts'
export { SHARED_LABELS_MAX_LIMIT } from './shared-labels.ts'
export type * from './types.ts'
