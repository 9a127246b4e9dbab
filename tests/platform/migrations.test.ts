import { readdir, readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { applyMigrations, migrationsDir } from '../../src/local/postgres/migrate.ts'
import { createTestDatabase, useTestDatabase } from '../support/database.ts'

const db = useTestDatabase()

describe('migrations', () => {
  it('are all recorded, and a second run applies nothing', async () => {
    const files = (await readdir(migrationsDir)).filter((file) => file.endsWith('.sql'))
    const recorded = await db.sql`SELECT version FROM supabase_migrations.schema_migrations ORDER BY version`
    expect(recorded.map((row) => row.version)).toEqual(files.sort().map((file) => file.split('_')[0]))
    expect(await applyMigrations(db.sql)).toEqual([])
  })

  it('can each be re-run over themselves (idempotent)', async () => {
    const files = (await readdir(migrationsDir)).filter((file) => file.endsWith('.sql')).sort()
    for (const file of files) {
      const text = await readFile(`${migrationsDir}/${file}`, 'utf8')
      await expect(db.sql.begin((tx) => tx.unsafe(text)), file).resolves.toBeDefined()
    }
  })

  it('create every table of the reference schema and the two queues', async () => {
    const tables = (await db.sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`).map((row) =>
      row.tablename
    )
    for (
      const table of [
        'audience_segments',
        'authors',
        'broadcast_settings',
        'broadcasts',
        'broadcasts_segments',
        'campaign_file_recipients',
        'campaign_personalized_recipients',
        'campaigns',
        'comments',
        'comments_mentions',
        'conversation_history',
        'conversations',
        'conversations_assignees',
        'conversations_assignees_history',
        'conversations_authors',
        'conversations_labels',
        'conversations_users',
        'errors',
        'invoke_history',
        'labels',
        'lookup_template',
        'lookup_history',
        'message_statuses',
        'organizations',
        'rules',
        'tasks_assignees',
        'teams',
        'twilio_messages',
        'unsubscribed_messages',
        'user_history',
        'users',
        'message_sends',
      ]
    ) expect(tables, table).toContain(table)
    const queues = (await db.sql`SELECT queue_name FROM pgmq.meta ORDER BY queue_name`).map((row) => row.queue_name)
    expect(queues).toEqual(expect.arrayContaining(['broadcast_first_messages', 'broadcast_second_messages']))
  })
})

describe('calling functions from the database', () => {
  it('joins the function URL in one way and sends the secret key as apikey, without Authorization', async () => {
    const { sql } = db
    await sql`DELETE FROM vault.secrets`
    await expect(sql`SELECT public.invoke_edge_function('make', '{}')`).rejects.toThrow(
      /vault secret edge_function_url is not set/,
    )
    await sql`SELECT vault.create_secret('http://edge.test/functions/v1', 'edge_function_url')`
    await sql`SELECT vault.create_secret('sb_secret_test', 'secret_key')`
    await sql`SELECT public.invoke_edge_function('reconcile-twilio-status', ${sql.json({ broadcastId: '7' })})`
    await sql`SELECT public.invoke_edge_function('handle-failed-deliveries', '{}', 'GET')`
    const requests =
      await sql`SELECT method, url, headers, convert_from(body, 'UTF8') AS body FROM net.http_request_queue ORDER BY id`
    expect(requests).toEqual([
      {
        method: 'POST',
        url: 'http://edge.test/functions/v1/reconcile-twilio-status/',
        headers: { 'Content-Type': 'application/json', apikey: 'sb_secret_test' },
        body: '{"broadcastId": "7"}',
      },
      {
        method: 'GET',
        url: 'http://edge.test/functions/v1/handle-failed-deliveries/',
        headers: { 'Content-Type': 'application/json', apikey: 'sb_secret_test' },
        body: null,
      },
    ])
  })
})

describe('Supabase-only grants', () => {
  // 20250601000800 gave anon SELECT on authors, comments and twilio_messages; 20261130900200 and
  // 20261130900300 replaced that with column grants for authenticated staff (docs/security.md).
  it('on stock PostgreSQL: no policy for anyone but the segment reader', async () => {
    // A fresh clone: the re-run test above ran the migrations again after the run's other template
    // had created the (cluster-wide) Supabase roles.
    const stock = await createTestDatabase()
    try {
      const policies = await stock.sql`
        SELECT DISTINCT policyname, roles::text[] AS roles FROM pg_policies WHERE schemaname = 'public' ORDER BY 1`
      expect(policies).toEqual([{ policyname: 'audience segments read', roles: ['audience_segment_reader'] }])
    } finally {
      await stock.drop()
    }
  })

  it('on Supabase: no anon policy; the tables the conversation sidebar watches are read by staff and published', async () => {
    const legacy = await createTestDatabase({ legacySupabaseGrants: true })
    try {
      const { sql } = legacy
      const text = await readFile(`${migrationsDir}/20250601000800_supabase_realtime.sql`, 'utf8')
      const later = (await readdir(migrationsDir)).filter((file) => file > '20250601000800' && file.endsWith('.sql'))
        .sort()
      const state = async () => ({
        policies: await sql`
          SELECT tablename, policyname, roles::text[] AS roles FROM pg_policies
          WHERE schemaname = 'public' AND policyname <> 'audience segments read' ORDER BY 1, 2`,
        published:
          (await sql`SELECT tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime' ORDER BY 1`)
            .map((row) => row.tablename),
      })
      const expected = {
        policies: ['authors', 'comments', 'twilio_messages'].map((tablename) => ({
          tablename,
          policyname: 'sidebar staff read',
          roles: ['authenticated'],
        })),
        published: ['authors', 'comments', 'lookup_template', 'twilio_messages'],
      }
      expect(await state()).toEqual(expected)
      // Replaying the old grant and every later migration again ends in the same place.
      await sql.begin((tx) => tx.unsafe(text))
      expect((await state()).policies).toContainEqual(expect.objectContaining({ policyname: 'Allow anonymous access' }))
      for (const file of later) {
        await sql.begin(async (tx) => tx.unsafe(await readFile(`${migrationsDir}/${file}`, 'utf8')))
      }
      expect(await state()).toEqual(expected)
    } finally {
      await legacy.drop()
    }
  })
})
