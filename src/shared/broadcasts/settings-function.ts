import { Hono } from 'hono'
import { z } from 'zod'
import type { FunctionDefinition } from '../http/function-app.ts'
import { badRequest, readJson } from '../http/errors.ts'
import { quietHoursFrom } from '../schedule/quiet-hours.ts'
import { quietWeeklyRefusals } from '../schedule/quiet-run-at.ts'
import { readSettings, saveSettings } from './settings.ts'

// GET  /broadcast-settings/  {schedule: {mon..sun: "HH:MM"|null}, batchSize?} or {} without an active schedule
// POST /broadcast-settings/  {schedule: {mon?..sun?}, batchSize?} → the same shape
// (upstream-functions.md §2.8; also served as /broadcast-setting/).

const time = z
  .string()
  .regex(/^([0-1]?[0-9]|2[0-3]):(00|15|30|45)$/, 'Time must be HH:MM with minutes 00, 15, 30 or 45')
  .nullable()
  .optional()

const CreateSetting = z.object({
  schedule: z
    .strictObject({ mon: time, tue: time, wed: time, thu: time, fri: time, sat: time, sun: time })
    .refine((schedule) => Object.values(schedule).some((value) => value !== null && value !== undefined), {
      message: 'At least one day must have a valid time value',
    }),
  // Upstream did not require an integer, so 1.5 reached the database and failed there (500).
  batchSize: z
    .number()
    .int('Batch size must be a whole number')
    .min(1, 'Batch size must be at least 1')
    .max(10000, 'Batch size cannot exceed 10000')
    .optional(),
})

const PREFIX = 'Validation error in broadcast-schedules: '

export const broadcastSettingFunction: FunctionDefinition = {
  name: 'broadcast-setting',
  aliases: ['broadcast-settings'],
  gate: 'user',
  routes: (deps) => {
    const app = new Hono({ strict: false })

    app.get('/', async (c) => c.json(await readSettings(deps.sql)))

    app.post('/', async (c) => {
      let json: unknown
      try {
        json = await readJson(c)
      } catch {
        throw badRequest(`${PREFIX} [] - Malformed JSON body`)
      }
      const parsed = CreateSetting.safeParse(json)
      if (!parsed.success) {
        // Upstream's rendering: " [path] - message" per issue, joined by ",".
        throw badRequest(
          PREFIX + parsed.error.issues.map((issue) => ` [${issue.path.join(',')}] - ${issue.message}`).join(','),
        )
      }
      // A weekly time inside quiet hours would send every week into the night: refused, naming the
      // time to use instead (issue 14 part 3). Days left out keep their saved time, unchecked.
      const quiet = quietWeeklyRefusals(quietHoursFrom(deps.config), parsed.data.schedule, deps.now())
      if (quiet.length > 0) {
        throw badRequest(
          PREFIX +
            quiet.map((q) =>
              ` [schedule,${q.day}] - ${q.time} is inside quiet hours (${q.refusal.quietHours}); ` +
              `the next allowed time is ${q.nextAllowedTime}`
            ).join(','),
          {
            quietHours: quiet[0].refusal.quietHours,
            refused: quiet.map((q) => ({
              day: q.day,
              time: q.time,
              nextAllowedTime: q.nextAllowedTime,
              nextAllowedAt: q.refusal.nextAllowedAt,
              nextAllowedAtLocal: q.refusal.nextAllowedAtLocal,
            })),
          },
        )
      }
      return c.json(await saveSettings(deps.sql, parsed.data))
    })

    return app
  },
}
