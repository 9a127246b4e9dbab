/** The two daily failure jobs; also the `job` column of `delivery_hygiene_actions`. */
export type HygieneJob = 'handle-failed-deliveries' | 'archive-double-failures'

/**
 * A run of failed deliveries to one phone that calls for one post. It is identified by its latest
 * status row: the same failures never call for a second post, a newer send starts a new episode.
 */
export interface FailureEpisode {
  phone: string
  /** The conversation of the latest status row (upstream picked one of the rows arbitrarily). */
  conversationId: string
  /** Newest first. */
  messageStatusIds: number[]
  lastMessageStatusId: number
}

/** What one call of a failure job did. */
export interface HygieneSummary {
  /** Posts attempted in this call. */
  processed: number
  posted: number
  failed: number
  /** Episodes still to post after this call: ready now, or waiting for a retry after a failure. */
  remaining: number
  /** Why the call stopped: nothing left to try, time budget spent, or Missive said 429. */
  stoppedBy: 'done' | 'budget' | 'rate-limit'
  /** Whether this call removed the job's per-minute and one-shot cron jobs. */
  unscheduled: boolean
}
