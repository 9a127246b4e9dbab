import type { Db } from '../db/client.ts'
import type { WeeklySchedule } from './weekly.ts'

/**
 * The effective schedule: the newest active `broadcast_settings` row (several may be active in old
 * data; the highest id wins, as in the trigger). Times as `HH:MM`; null when there is none.
 */
export async function loadActiveSchedule(db: Db): Promise<WeeklySchedule | null> {
  const [row] = await db<WeeklySchedule[]>`
    SELECT to_char(mon, 'HH24:MI') AS mon, to_char(tue, 'HH24:MI') AS tue, to_char(wed, 'HH24:MI') AS wed,
           to_char(thu, 'HH24:MI') AS thu, to_char(fri, 'HH24:MI') AS fri, to_char(sat, 'HH24:MI') AS sat,
           to_char(sun, 'HH24:MI') AS sun
    FROM public.broadcast_settings
    WHERE active
    ORDER BY id DESC
    LIMIT 1`
  return row ? { ...row } : null
}
