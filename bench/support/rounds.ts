/**
 * A floor and the thing measured against it, run alternately from the same state: one discarded
 * warm-up round (a fresh cluster's first writes create its WAL files, which later runs recycle:
 * several seconds for whichever side runs first), then `runs` rounds, each run followed by
 * `reset` (which should leave the database as the run found it, checkpointed, so neither side
 * pays for the other's leftovers). Returns every measured run of each side, in order.
 */
export async function alternateRounds<T>(options: {
  runs: number
  floor: () => Promise<T>
  subject: () => Promise<T>
  reset: () => Promise<void>
}): Promise<{ floor: T[]; subject: T[] }> {
  const { runs, floor, subject, reset } = options
  const measured = { floor: [] as T[], subject: [] as T[] }
  for (let round = 0; round <= runs; round++) {
    const floorRun = await floor()
    await reset()
    const subjectRun = await subject()
    await reset()
    if (round === 0) continue
    measured.floor.push(floorRun)
    measured.subject.push(subjectRun)
  }
  return measured
}
