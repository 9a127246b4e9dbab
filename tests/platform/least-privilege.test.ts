import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Sql } from '../../src/shared/db/client.ts'
import { SECRET_KEY } from '../support/app.ts'
import { createTestDatabase, resetDatabase, setVaultSecrets, type TestDatabase } from '../support/database.ts'
import { createAuthor, createBroadcast, createSegment } from '../support/factories/broadcasts.ts'

// Issue 10: the public (anon) key opens nothing. The review's attack chain, replayed with Supabase's
// roles as PostgREST and Realtime use them (SET ROLE plus the JWT claims in request.jwt.claims), on
// a database migrated from empty and on one migrated over an older project's default grants.

const CRON_ATTACK =
  `SELECT cron.schedule('loot', '* * * * *', 'CREATE TABLE public.loot AS SELECT * FROM vault.decrypted_secrets')::text AS phone_number`

type Claims = Record<string, unknown>

/** Runs one statement as `role` with these JWT claims, the way PostgREST and Realtime do. */
function as(sql: Sql, role: string, claims: Claims, statement: string, params: unknown[] = []) {
  return sql.begin(async (tx) => {
    await tx`SELECT set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`
    await tx`SELECT set_config('role', ${role}, true)`
    return await tx.unsafe(statement, params as never[])
  })
}

const ANON: Claims = { role: 'anon', iss: 'supabase' }
const staffUser = (email: string): Claims => ({ role: 'authenticated', sub: 'a-user', email })

/** Everything the attack chain tried to change. */
async function state(sql: Sql) {
  return {
    authors: await sql`SELECT phone_number, name, zipcode, email FROM public.authors ORDER BY 1`,
    segments: await sql`SELECT id, query FROM public.audience_segments ORDER BY id`,
    broadcasts: await sql`SELECT id, first_message, editable FROM public.broadcasts ORDER BY id`,
    campaigns: await sql`SELECT id FROM public.campaigns ORDER BY id`,
    personalized: await sql`SELECT id FROM public.campaign_personalized_recipients ORDER BY id`,
    cron: (await sql`SELECT jobname FROM cron.job ORDER BY jobid`).map((row) => row.jobname),
    net: (await sql`SELECT url FROM net.http_request_queue ORDER BY id`).map((row) => row.url),
    queued: (await sql`SELECT count(*)::int AS n FROM pgmq.q_broadcast_first_messages`)[0].n,
  }
}

for (const legacySupabaseGrants of [false, true]) {
  const where = legacySupabaseGrants ? 'over an older project’s default grants' : 'migrated from empty'

  describe(`least privilege (${where})`, () => {
    let db: TestDatabase
    let broadcastId: number
    let segmentId: number
    beforeAll(async () => {
      db = await createTestDatabase({ legacySupabaseGrants })
    })
    afterAll(async () => await db?.drop())
    beforeEach(async () => {
      await resetDatabase(db.sql)
      await setVaultSecrets(db.sql, { edgeFunctionUrl: 'http://edge.test/functions/v1/', secretKey: SECRET_KEY })
      await createAuthor(db.sql, { phone: '+13135550101', name: 'Reader', unsubscribed: false })
      await db.sql`UPDATE public.authors SET zipcode = '48201', email = 'reader@example.com'`
      const broadcast = await createBroadcast(db.sql, { editable: true, firstMessage: 'This week in Detroit' })
      broadcastId = broadcast.id
      segmentId = await createSegment(db.sql, { broadcastId })
      await db.sql`SELECT public.set_sidebar_staff('boss@newsroom.test', 'outliermedia.org')`
    })

    it('refuses every step of the attack chain to the anon key, and nothing changes', async () => {
      const { sql } = db
      const before = await state(sql)
      const steps: Array<[string, string, unknown[]]> = [
        ['read authors', 'SELECT phone_number, name FROM public.authors', []],
        ['read webhook payloads', 'SELECT * FROM public.invoke_history', []],
        ['read staff emails', 'SELECT email FROM public.users', []],
        ['rewrite a segment', 'UPDATE public.audience_segments SET query = $1 WHERE id = $2', [CRON_ATTACK, segmentId]],
        ['add a segment', 'INSERT INTO public.audience_segments (name, description, query) VALUES ($1, $1, $2)', [
          'x',
          CRON_ATTACK,
        ]],
        [
          'insert personalized recipients (a send at once)',
          "INSERT INTO public.campaign_personalized_recipients (phone_number, message) VALUES ('+13135550101', 'pwned')",
          [],
        ],
        ['rewrite the next broadcast', "UPDATE public.broadcasts SET first_message = 'pwned' WHERE editable", []],
        ['create a campaign', "INSERT INTO public.campaigns (first_message, run_at) VALUES ('pwned', now())", []],
        ['send the broadcast', 'SELECT public.queue_broadcast_messages($1)', [broadcastId]],
        ['call a function with the secret key', "SELECT public.invoke_edge_function('make', '{}')", []],
        ['run a segment', `SELECT public.audience_segment_phones('SELECT current_user::text AS phone_number')`, []],
        ['read the vault through a helper', "SELECT public.vault_secret('secret_key')", []],
      ]
      for (const [step, statement, params] of steps) {
        await expect(as(sql, 'anon', ANON, statement, params), step).rejects.toThrow(/permission denied/)
      }
      expect(await state(sql)).toEqual(before)
    })

    it('no public function is executable by anon, authenticated (but the staff check) or PUBLIC', async () => {
      const { sql } = db
      const open = await sql`
        SELECT p.oid::regprocedure::text AS fn, r.rolname
        FROM pg_proc p CROSS JOIN pg_roles r
        WHERE p.pronamespace = 'public'::regnamespace AND r.rolname IN ('anon', 'authenticated')
          AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
        ORDER BY 1, 2`
      expect(open).toEqual(legacySupabaseGrants ? [{ fn: 'is_sidebar_staff()', rolname: 'authenticated' }] : [])
    })

    if (!legacySupabaseGrants) {
      it('roles that did not exist when the migrations ran get nothing, staff included', async () => {
        const staff = staffUser('boss@newsroom.test')
        await expect(as(db.sql, 'authenticated', staff, 'SELECT zipcode FROM public.authors')).rejects.toThrow(
          /permission denied for table authors/,
        )
      })
    } else {
      it('a signed-in user who is not staff sees no row; staff see just the columns the conversation sidebar reads', async () => {
        const { sql } = db
        const read = 'SELECT phone_number, zipcode, email FROM public.authors'
        for (const email of ['someone@gmail.com', 'boss@newsroom.test.evil.com', 'x@sub.outliermedia.org', '']) {
          expect(await as(sql, 'authenticated', staffUser(email), read), email).toEqual([])
        }
        // A token for another role but a staff e-mail is not enough either.
        expect(await as(sql, 'authenticated', { role: 'anon', email: 'boss@newsroom.test' }, read)).toEqual([])
        for (const email of ['boss@newsroom.test', 'Editor@OutlierMedia.org']) {
          expect(await as(sql, 'authenticated', staffUser(email), read), email).toEqual([
            { phone_number: '+13135550101', zipcode: '48201', email: 'reader@example.com' },
          ])
        }
        const staff = staffUser('boss@newsroom.test')
        await expect(as(sql, 'authenticated', staff, 'SELECT id, conversation_id FROM public.comments')).resolves
          .toEqual([])
        await expect(as(sql, 'authenticated', staff, 'SELECT id, to_field FROM public.twilio_messages')).resolves
          .toEqual([])
        for (
          const statement of [
            'SELECT name FROM public.authors',
            'SELECT body FROM public.comments',
            'SELECT preview FROM public.twilio_messages',
            'SELECT * FROM public.sidebar_staff',
            "UPDATE public.authors SET zipcode = '00000'",
            'SELECT * FROM public.broadcasts',
            "SELECT public.set_sidebar_staff('me@evil.com', '')",
          ]
        ) await expect(as(sql, 'authenticated', staff, statement), statement).rejects.toThrow(/permission denied/)
      })

      it('the service role still writes segments, through the same write-time check', async () => {
        const { sql } = db
        const service = { role: 'service_role' }
        await as(sql, 'service_role', service, 'UPDATE public.audience_segments SET query = $1 WHERE id = $2', [
          'SELECT a.phone_number FROM public.authors a WHERE NOT a.unsubscribed',
          segmentId,
        ])
        await expect(
          as(sql, 'service_role', service, 'UPDATE public.audience_segments SET query = $1 WHERE id = $2', [
            CRON_ATTACK,
            segmentId,
          ]),
        ).rejects.toThrow(/audience segment query rejected: .*permission denied for schema cron/)
        const [{ query }] = await sql`SELECT query FROM public.audience_segments WHERE id = ${segmentId}`
        expect(query).toBe('SELECT a.phone_number FROM public.authors a WHERE NOT a.unsubscribed')
      })
    }

    it('the owner (functions, cron, webhooks) is not restricted: a personalized insert still starts a campaign', async () => {
      const { sql } = db
      await sql`INSERT INTO public.campaign_personalized_recipients (phone_number, message) VALUES ('+13135550101', 'Hi')`
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM public.campaigns`
      expect(n).toBe(1)
      const [{ queued }] = await sql`SELECT public.queue_broadcast_messages(${broadcastId}) AS queued`
      expect(queued).toBe(1)
    })
  })
}
