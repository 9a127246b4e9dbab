import { readdir, readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { applyMigrations, migrationsDir } from '../../src/local/postgres/migrate.ts'
import { useTestDatabase } from '../support/database.ts'

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
  it('give anon read access and Realtime to the tables the conversation sidebar watches, where Supabase has them', async () => {
    const { sql } = db
    const text = await readFile(`${migrationsDir}/20250601000800_supabase_realtime.sql`, 'utf8')
    // Locally there is no anon role or Realtime publication: the migration changed nothing.
    expect(await sql`SELECT policyname FROM pg_policies WHERE schemaname = 'public'`).toEqual([])
    await sql.unsafe(
      `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF; END $$`,
    )
    await sql`CREATE PUBLICATION supabase_realtime`
    await sql.begin((tx) => tx.unsafe(text))
    await sql.begin((tx) => tx.unsafe(text)) // and again: idempotent
    const policies = await sql`SELECT tablename FROM pg_policies WHERE policyname = 'Allow anonymous access' ORDER BY 1`
    expect(policies.map((row) => row.tablename)).toEqual(['authors', 'comments', 'twilio_messages'])
    const published =
      await sql`SELECT tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime' ORDER BY 1`
    expect(published.map((row) => row.tablename)).toEqual(['authors', 'comments', 'lookup_template', 'twilio_messages'])
    await sql`DROP PUBLICATION supabase_realtime`
  })
})
