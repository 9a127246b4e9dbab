import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { beforeEach, describe, expect, it } from 'vitest'
import { runUpgradeCheck } from '../../src/local/upgrade/upgrade-check.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'

// npm run upgrade:check on a database built by our migrations alone (the upstream case is in
// upstream-takeover.test.ts): what it reports, and that each "after" check can say `fix`.

const db = useTestDatabase()
const run = promisify(execFile)

beforeEach(async () => {
  await resetDatabase(db.sql)
  await setVaultSecrets(db.sql, {
    edgeFunctionUrl: 'http://edge.test/functions/v1/',
    secretKey: 'sb_secret_check_0123456789',
  })
})

const verdicts = (results: { name: string; ok: boolean }[]) => Object.fromEntries(results.map((r) => [r.name, r.ok]))

describe('upgrade:check after every migration is applied', () => {
  it('is all ok on a fresh database', async () => {
    const { phase, results } = await runUpgradeCheck(db.sql)
    expect(phase).toBe('after')
    for (const result of results) expect(result, result.detail).toMatchObject({ ok: true })
  })

  it('says fix for a job whose command fails, carries a key or runs every few seconds', async () => {
    await db
      .sql`SELECT cron.schedule('leaky', '* * * * *', ${`SELECT net.http_post(url := 'http://x/', headers := '{"apikey": "sb_secret_check_0123456789"}'::jsonb)`})`
    await db.sql`SELECT cron.schedule('broken', '* * * * *', 'SELECT public.no_such_function()')`
    await db.sql`UPDATE cron.job SET schedule = '2 seconds' WHERE jobname = 'leaky'`
    const { results } = await runUpgradeCheck(db.sql)
    expect(verdicts(results)).toMatchObject({
      'cron commands run': false,
      'no key in job commands': false,
      'no sub-minute schedule': false,
    })
    expect(results.find((r) => r.name === 'cron commands run')!.detail).toMatch(/^broken: .*no_such_function/)
    expect(results.find((r) => r.name === 'no key in job commands')!.detail).toMatch(/^leaky /)
    // The failing command ran in a transaction that was rolled back: the request was never queued.
    expect(await db.sql`SELECT id FROM net.http_request_queue`).toEqual([])
  })

  it('says fix for an overloaded function and for a processed campaign still marked scheduled', async () => {
    await db.sql`CREATE FUNCTION public.schedule_daily_broadcast_reconciliation() RETURNS void LANGUAGE sql AS 'SELECT'`
    await db
      .sql`INSERT INTO campaigns (first_message, run_at, processed, status) VALUES ('x', now(), true, 'scheduled')`
    try {
      const { results } = await runUpgradeCheck(db.sql)
      expect(verdicts(results)).toMatchObject({ 'no overloaded functions': false, 'campaign statuses': false })
      expect(results.find((r) => r.name === 'no overloaded functions')!.detail).toContain(
        'public.schedule_daily_broadcast_reconciliation(p_now timestamp with time zone) and ()',
      )
    } finally {
      await db.sql`DROP FUNCTION public.schedule_daily_broadcast_reconciliation()`
    }
  })

  it('says fix when a queue holds messages but has no sender job, or a Vault secret is missing', async () => {
    await db
      .sql`SELECT pgmq.send('broadcast_second_messages', '{"recipient_phone_number": "+13135550101"}'::jsonb, 600)`
    await db.sql`SELECT cron.unschedule('send-second-messages')`
    await db.sql`DELETE FROM vault.secrets WHERE name = 'secret_key'`
    const { results } = await runUpgradeCheck(db.sql)
    expect(verdicts(results)).toMatchObject({ 'sender jobs': false, 'vault secrets': false })
  })
})

describe('upgrade:check before our migrations are applied', () => {
  it('reports history versions that have no local file (db push would refuse)', async () => {
    const versions = (await db.sql`SELECT version FROM supabase_migrations.schema_migrations`).map((r) => r.version)
    const { phase, results } = await runUpgradeCheck(db.sql, {
      localVersions: [...versions.slice(1), '29990101000000'],
    })
    expect(phase).toBe('before')
    expect(results.find((r) => r.name === 'migration history')).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`versions ${versions[0]} are recorded`),
    })
  })
  it('reports a weekly slot, a pinned broadcast or a campaign due within 30 minutes', async () => {
    const now = new Date('2025-06-11T12:50:00Z') // a Wednesday, 08:50 in Detroit
    await db.sql`INSERT INTO broadcast_settings (wed) VALUES ('09:00')`
    await db.sql`INSERT INTO campaigns (first_message, run_at) VALUES ('soon', ${new Date('2025-06-11T13:10:00Z')})`
    await db.sql`INSERT INTO broadcasts (editable, run_at, first_message, second_message)
                 VALUES (true, ${new Date('2025-06-11T13:05:00Z')}, 'pinned', 'pinned')`
    const localVersions = ['29990101000000']
    const due = await runUpgradeCheck(db.sql, { localVersions, now })
    expect(due.results.find((r) => r.name === 'upcoming sends')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        /^the weekly broadcast at 2025-06-11T13:00:00.000Z, broadcast #\d+ at 2025-06-11T13:05:00.000Z, campaign #\d+ at 2025-06-11T13:10:00.000Z due/,
      ),
    })
    const later = await runUpgradeCheck(db.sql, { localVersions, now: new Date('2025-06-11T14:00:00Z') })
    expect(later.results.find((r) => r.name === 'upcoming sends')).toMatchObject({ ok: true })
  })
})

describe('npm run upgrade:check', () => {
  it('prints ok/fix per check and exits 1 when something needs fixing', async () => {
    await db.sql`SELECT cron.schedule('broken', '* * * * *', 'SELECT public.no_such_function()')`
    const failure = await run('npx', ['tsx', 'scripts/upgrade-check.ts', db.url]).catch((error) => error)
    expect(failure.code).toBe(1)
    expect(failure.stdout).toMatch(/^fix  \[after\] cron commands run: broken: /m)
    expect(failure.stdout).toMatch(/^ok   \[after\] no overloaded functions: /m)
    await db.sql`SELECT cron.unschedule('broken')`
    const success = await run('npx', ['tsx', 'scripts/upgrade-check.ts', db.url])
    expect(success.stdout.split('\n').filter((line) => line.startsWith('ok '))).toHaveLength(7)
  })
})
