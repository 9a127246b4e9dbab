// Campaign exclusion at send time (upstream `shouldSkipCampaignMessage`, spec §2.3 step 3): a
// label added to the recipient's conversation after the campaign was queued still excludes them.
// `campaigns.segments.excluded` follows the segment grammar (upstream-database.md §9.2): a single
// item `{id, since?}`, or an array whose elements are items (OR'ed) or arrays of items (an AND
// group). Upstream only understood a non-empty array of items; a single-object `excluded` or an
// AND group was silently not checked. Here every form is read:
//   - a single item matches when its label is on the conversation;
//   - an AND group matches when ALL of its labels are (as the enqueue-time SQL means it).
// `since` is not checked: the conversation endpoint gives no label timestamps, so a label that is
// there now excludes regardless (erring towards not texting).

/** Each inner array is one condition: all of its label ids must be present. */
export function excludedLabelGroups(segments: unknown): string[][] {
  if (!segments || typeof segments !== 'object' || Array.isArray(segments)) return []
  const excluded = (segments as Record<string, unknown>).excluded
  if (excluded === null || excluded === undefined) return []
  const elements = Array.isArray(excluded) ? excluded : [excluded]
  const groups: string[][] = []
  for (const element of elements) {
    if (Array.isArray(element)) {
      const ids = element.map(labelId).filter((id): id is string => id !== null)
      // An AND group with an unreadable member cannot be judged fully; its readable members still
      // must all be present, which only ever excludes more.
      if (ids.length > 0) groups.push(ids)
      continue
    }
    const id = labelId(element)
    if (id !== null) groups.push([id])
  }
  return groups
}

function labelId(item: unknown): string | null {
  if (!item || typeof item !== 'object' || Array.isArray(item)) return null
  const id = (item as Record<string, unknown>).id
  return typeof id === 'string' && id.trim() !== '' ? id : null
}

/** The first excluding condition met by the conversation's labels, or null. */
export function matchExclusion(groups: string[][], conversationLabelIds: string[]): string[] | null {
  const present = new Set(conversationLabelIds)
  return groups.find((group) => group.every((id) => present.has(id))) ?? null
}
