import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { beforeEach, describe, expect, it } from 'vitest'
import { broadcastSettingFunction } from '../../src/shared/broadcasts/settings-function.ts'
import { broadcastSidebarFunction } from '../../src/shared/broadcasts/sidebar-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import { asStaff, createTestDeps, SECRET_KEY } from '../support/app.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { createBroadcast } from '../support/factories/broadcasts.ts'

// supabase/seed.sql runs on every `npm run dev`: a fresh database must render in the sidebar
// (DESIGN.md "Client contracts"), and a second run must change nothing.

const db = useTestDatabase()
const seedPath = fileURLToPath(new URL('../../supabase/seed.sql', import.meta.url))
const seed = async () => await db.sql.unsafe(await readFile(seedPath, 'utf8'))

beforeEach(() => resetDatabase(db.sql))

const snapshot = async () => ({
  segments: await db.sql`SELECT id, name FROM public.audience_segments ORDER BY id`,
  authors: await db.sql`SELECT phone_number FROM public.authors ORDER BY phone_number`,
  broadcasts: await db.sql`SELECT id, editable FROM public.broadcasts ORDER BY id`,
  links: await db.sql`SELECT broadcast_id, segment_id, ratio FROM public.broadcasts_segments ORDER BY id`,
  settings: await db.sql`SELECT id, active FROM public.broadcast_settings ORDER BY id`,
  templates: await db.sql`SELECT id, name FROM public.lookup_template ORDER BY id`,
})

describe('supabase/seed.sql', () => {
  it('seeds what the sidebar needs, and is idempotent', async () => {
    await seed()
    const first = await snapshot()
    expect(first.segments.map((s) => s.name).sort()).toEqual(['Inactive', 'Sandbox everyone'])
    expect(first.broadcasts).toEqual([{ id: 1, editable: true }])
    expect(first.links).toHaveLength(1)
    expect(first.settings).toEqual([{ id: '1', active: true }])
    expect(first.templates.map((t) => t.name).sort()).toEqual([
      'missive_broadcast_post_closing_label_id',
      'missive_broadcast_post_closing_message',
    ])
    expect(first.authors.every((a) => /^\+13135550\d{3}$/.test(a.phone_number))).toBe(true)

    await seed()
    expect(await snapshot()).toEqual(first)

    const deps = createTestDeps(db.sql, { now: () => new Date('2025-06-11T19:00:00Z') })
    const sidebar =
      await (await asStaff(createFunctionApp(broadcastSidebarFunction, deps)).request('/broadcast-sidebar/'))
        .json()
    // Thursday 09:00 EDT.
    expect(sidebar.upcoming).toMatchObject({
      id: 1,
      noRecipients: 100,
      runAt: Date.parse('2025-06-12T13:00:00Z') / 1000,
    })
    const settings =
      await (await asStaff(createFunctionApp(broadcastSettingFunction, deps)).request('/broadcast-settings/'))
        .json()
    expect(settings).toEqual({
      schedule: { mon: '09:00', tue: '09:00', wed: '09:00', thu: '09:00', fri: null, sat: null, sun: null },
      batchSize: 100,
    })
  })

  it('leaves an existing editable broadcast and schedule alone', async () => {
    await createBroadcast(db.sql, { editable: true, firstMessage: 'Mine' })
    await db.sql`INSERT INTO public.broadcast_settings (fri, active) VALUES ('12:00', true)`
    await seed()
    expect(await db.sql`SELECT first_message FROM public.broadcasts`).toEqual([{ first_message: 'Mine' }])
    expect(await db.sql`SELECT 1 FROM public.broadcasts_segments`).toHaveLength(0)
    expect(await db.sql`SELECT fri::text FROM public.broadcast_settings`).toEqual([{ fri: '12:00:00' }])
  })

  it('the seeded broadcast queues the subscribed sandbox authors only', async () => {
    await seed()
    await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
    const [{ queued }] = await db.sql`SELECT public.queue_broadcast_messages(1) AS queued`
    expect(queued).toBe(5)
    const phones = await db.sql`SELECT message->>'recipient_phone_number' AS phone FROM pgmq.q_broadcast_first_messages`
    expect(phones.map((p) => p.phone)).not.toContain('+13135550106')
  })
})
