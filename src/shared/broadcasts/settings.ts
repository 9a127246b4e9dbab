import type { Db, Sql } from '../db/client.ts'
import { loadActiveSchedule } from '../schedule/active-schedule.ts'
import { WEEKDAYS, type WeeklySchedule } from '../schedule/weekly.ts'
import { editableBatchSize } from './queries.ts'

// The weekly schedule (`broadcast_settings`, append-only: the newest active row wins) and the batch
// size, which still lives on the editable broadcast (`no_users`), as upstream.

export interface SettingsResponse {
  schedule?: WeeklySchedule
  batchSize?: number
}

export async function readSettings(db: Db): Promise<SettingsResponse> {
  const schedule = await loadActiveSchedule(db)
  if (!schedule) return {}
  return { schedule, batchSize: await editableBatchSize(db) }
}

const SETTINGS_LOCK = 'txt-outlier:broadcast-settings'

/**
 * Deactivates the current schedule and inserts the new one, in one transaction. Days missing from
 * `schedule` keep the previous value (an explicit null clears a day). Upstream inherited from
 * whichever active row UPDATE … RETURNING listed first; here from the newest, the one in effect.
 */
export async function saveSettings(
  sql: Sql,
  input: { schedule: Partial<WeeklySchedule>; batchSize?: number },
): Promise<SettingsResponse> {
  return await sql.begin(async (tx) => {
    // Two saves at once would otherwise both inherit from the same old row and both stay active.
    await tx`SELECT pg_advisory_xact_lock(hashtext(${SETTINGS_LOCK}))`
    const previous = await loadActiveSchedule(tx)
    await tx`UPDATE public.broadcast_settings SET active = false, updated_at = now() WHERE active`
    const day = (
      name: keyof WeeklySchedule,
    ) => (input.schedule[name] !== undefined ? input.schedule[name] : previous?.[name] ?? null)
    const values = Object.fromEntries(WEEKDAYS.map((name) => [name, day(name)]))
    await tx`
      INSERT INTO public.broadcast_settings (mon, tue, wed, thu, fri, sat, sun, active)
      VALUES (${values.mon}::time, ${values.tue}::time, ${values.wed}::time, ${values.thu}::time,
              ${values.fri}::time, ${values.sat}::time, ${values.sun}::time, true)`
    if (input.batchSize !== undefined) {
      await tx`UPDATE public.broadcasts SET no_users = ${input.batchSize}, updated_at = now() WHERE editable`
    }
    return await readSettings(tx)
  })
}
