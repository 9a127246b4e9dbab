import { beforeEach, describe, expect, it } from 'vitest'
import { createSql } from '../../src/shared/db/client.ts'
import { createLogger } from '../../src/shared/log/logger.ts'
import { startNetWorker } from '../../src/local/net-worker.ts'
import { storeVaultSecret } from '../../src/local/vault-secrets.ts'
import { resetDatabase, setVaultSecrets, useTestDatabase } from '../support/database.ts'
import { createServer } from 'node:http'

const db = useTestDatabase()
beforeEach(() => resetDatabase(db.sql))

describe('pgmq stand-in', () => {
  it('hides a read message until its visibility timeout expires, counting reads', async () => {
    const { sql } = db
    const [{ send: id }] = await sql`SELECT pgmq.send('broadcast_first_messages', ${sql.json({ a: 1 })}) AS send`
    const [first] = await sql`SELECT * FROM pgmq.read('broadcast_first_messages', 1, 10)`
    expect(first).toMatchObject({ msg_id: id, read_ct: 1, message: { a: 1 } })
    expect(await sql`SELECT * FROM pgmq.read('broadcast_first_messages', 1, 10)`).toHaveLength(0)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const [again] = await sql`SELECT * FROM pgmq.read('broadcast_first_messages', 30, 10)`
    expect(again).toMatchObject({ msg_id: id, read_ct: 2 })
  })

  it('send with a delay keeps the message invisible for that long', async () => {
    const { sql } = db
    await sql`SELECT pgmq.send('broadcast_second_messages', ${sql.json({ b: 2 })}, 2)`
    expect(await sql`SELECT * FROM pgmq.read('broadcast_second_messages', 30, 1)`).toHaveLength(0)
    const [{ vt, enqueued_at }] = await sql`SELECT vt, enqueued_at FROM pgmq.q_broadcast_second_messages`
    expect(new Date(vt).getTime() - new Date(enqueued_at).getTime()).toBeGreaterThanOrEqual(1900)
  })

  it('send_batch enqueues in order with one statement, and concurrent readers never share a message', async () => {
    const { sql } = db
    const ids = await sql`SELECT pgmq.send_batch('broadcast_first_messages', ${
      sql.array([1, 2, 3, 4].map((n) => JSON.stringify({ n })))
    }::jsonb[]) AS id`
    expect(ids.map((row) => Number(row.id))).toEqual([...ids.map((row) => Number(row.id))].sort((a, b) => a - b))
    const other = createSql(db.url, { max: 2 })
    try {
      const [a, b] = await Promise.all([
        sql.begin((tx) => tx`SELECT msg_id FROM pgmq.read('broadcast_first_messages', 30, 2)`),
        other.begin((tx) => tx`SELECT msg_id FROM pgmq.read('broadcast_first_messages', 30, 2)`),
      ])
      const claimed = [...a, ...b].map((row) => Number(row.msg_id))
      expect(new Set(claimed).size).toBe(claimed.length)
      expect(claimed).toHaveLength(4)
    } finally {
      await other.end()
    }
  })

  it('archive moves the message to the archive table; delete removes it', async () => {
    const { sql } = db
    const [{ id: a }] = await sql`SELECT pgmq.send('broadcast_first_messages', ${sql.json({ x: 'a' })}) AS id`
    const [{ id: b }] = await sql`SELECT pgmq.send('broadcast_first_messages', ${sql.json({ x: 'b' })}) AS id`
    expect((await sql`SELECT pgmq.archive('broadcast_first_messages', ${a}::bigint) AS ok`)[0].ok).toBe(true)
    expect((await sql`SELECT pgmq.delete('broadcast_first_messages', ${b}::bigint) AS ok`)[0].ok).toBe(true)
    expect((await sql`SELECT pgmq.delete('broadcast_first_messages', ${b}::bigint) AS ok`)[0].ok).toBe(false)
    expect(await sql`SELECT msg_id FROM pgmq.q_broadcast_first_messages`).toHaveLength(0)
    const archived = await sql`SELECT msg_id, message, archived_at FROM pgmq.a_broadcast_first_messages`
    expect(archived).toHaveLength(1)
    expect(archived[0]).toMatchObject({ msg_id: a, message: { x: 'a' } })
  })

  it('rejects queue names that are not plain identifiers', async () => {
    await expect(db.sql`SELECT pgmq.create('bad; drop table x')`).rejects.toThrow(/queue name is invalid/)
  })
})

describe('pg_net stand-in', () => {
  it('refuses a non-JSON Content-Type and a null body, as pg_net does; adds the JSON one when omitted', async () => {
    const { sql } = db
    await expect(
      sql`SELECT net.http_post('http://127.0.0.1:9/x', '{}'::jsonb, '{}'::jsonb, '{"Content-Type": "text/plain"}'::jsonb)`,
    )
      .rejects.toThrow('Content-Type header must be "application/json"')
    await expect(
      sql`SELECT net.http_post('http://127.0.0.1:9/x', '{}'::jsonb, '{}'::jsonb, '{"content-type": "application/json; charset=utf-8"}'::jsonb)`,
    )
      .rejects.toThrow('Content-Type header must be "application/json"')
    await expect(sql`SELECT net.http_post('http://127.0.0.1:9/x', NULL::jsonb)`).rejects.toThrow(
      'body must not be null',
    )
    const [{ id }] =
      await sql`SELECT net.http_post('http://127.0.0.1:9/x', '{}'::jsonb, '{}'::jsonb, '{"apikey": "k"}'::jsonb) AS id`
    const [queued] = await sql`SELECT headers FROM net.http_request_queue WHERE id = ${id}`
    expect(queued.headers).toEqual({ apikey: 'k', 'Content-Type': 'application/json' })
  })

  it('delivers a request only after the inserting transaction commits, and never after a rollback', async () => {
    const { sql } = db
    const received: { method?: string; url?: string; headers: Record<string, unknown>; body: string }[] = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk) => (body += chunk))
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, headers: req.headers, body })
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const worker = startNetWorker(sql, createLogger(), { pollMs: 60_000 })
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT net.http_post(${`http://127.0.0.1:${port}/committed/`}, ${
          tx.json({ hello: 'world' })
        }, '{}'::jsonb, ${tx.json({ apikey: 'k' })})`
        await worker.drain()
        expect(received).toHaveLength(0) // not yet committed: invisible to the worker
      })
      await expect(sql.begin(async (tx) => {
        await tx`SELECT net.http_post(${`http://127.0.0.1:${port}/rolled-back/`})`
        throw new Error('roll back')
      })).rejects.toThrow('roll back')
      await worker.drain()
      expect(received.map((r) => r.url)).toEqual(['/committed/'])
      expect(received[0]).toMatchObject({ method: 'POST', headers: { apikey: 'k' } })
      expect(JSON.parse(received[0].body)).toEqual({ hello: 'world' })
      const [response] = await sql`SELECT status_code, content FROM net._http_response`
      expect(response).toMatchObject({ status_code: 202, content: '{"ok":true}' })
      expect(await sql`SELECT id FROM net.http_request_queue`).toHaveLength(0)
    } finally {
      await worker.stop()
      server.close()
    }
  })
})

describe('vault stand-in', () => {
  it('creates secrets readable through vault.decrypted_secrets', async () => {
    const { sql } = db
    await sql`SELECT vault.create_secret('s3cret', 'secret_key', 'the key')`
    const [row] = await sql`SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'secret_key'`
    expect(row.decrypted_secret).toBe('s3cret')
    await expect(sql`SELECT vault.create_secret('again', 'secret_key')`).rejects.toThrow(/duplicate key/)
  })

  it('keeps ciphertext in vault.secrets: a value written there directly does not decrypt, as on Supabase', async () => {
    const { sql } = db
    await sql`SELECT vault.create_secret('sb_secret_one', 'secret_key')`
    const [stored] = await sql`SELECT secret FROM vault.secrets WHERE name = 'secret_key'`
    expect(stored.secret).not.toContain('sb_secret_one')
    await sql`UPDATE vault.secrets SET secret = 'sb_secret_two' WHERE name = 'secret_key'`
    await expect(sql`SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'secret_key'`).rejects
      .toThrow(/decrypt/)
  })

  it('rotates a secret with vault.update_secret(secret_id, new_secret, …), the real signature', async () => {
    const { sql } = db
    const [{ id }] = await sql`SELECT vault.create_secret('first', 'edge_function_url', 'url') AS id`
    await sql`SELECT vault.update_secret(${id}::uuid, 'second')`
    await sql`SELECT vault.update_secret(secret_id => ${id}::uuid, new_description => 'renamed')`
    const [row] = await sql`SELECT decrypted_secret, description FROM vault.decrypted_secrets WHERE id = ${id}`
    expect(row).toEqual({ decrypted_secret: 'second', description: 'renamed' })
  })

  it('the local stack and the tests rotate secrets through vault.update_secret', async () => {
    const { sql } = db
    await storeVaultSecret(sql, 'secret_key', 'sb_secret_old')
    await storeVaultSecret(sql, 'secret_key', 'sb_secret_new')
    await setVaultSecrets(sql, { edgeFunctionUrl: 'http://a.test/functions/v1/', secretKey: 'k1' })
    await setVaultSecrets(sql, { edgeFunctionUrl: 'http://b.test/functions/v1/', secretKey: 'k2' })
    const rows = await sql`SELECT name, decrypted_secret FROM vault.decrypted_secrets ORDER BY name`
    expect(rows).toEqual([
      { name: 'edge_function_url', decrypted_secret: 'http://b.test/functions/v1/' },
      { name: 'secret_key', decrypted_secret: 'k2' },
    ])
  })
})

describe('what pg_net keeps, and for how long', () => {
  it('nothing reads net._http_response: pg_net deletes responses after 6 hours, so no logic may depend on one', async () => {
    const { readdir, readFile } = await import('node:fs/promises')
    const root = new URL('../../', import.meta.url)
    const files: string[] = []
    const walk = async (dir: URL) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir)
        if (entry.isDirectory()) await walk(url)
        else if (/\.(sql|ts)$/.test(entry.name)) files.push(url.pathname)
      }
    }
    await walk(new URL('supabase/migrations/', root))
    await walk(new URL('src/shared/', root))
    const readers = []
    for (const file of files) {
      if (/_http_response|http_collect_response/.test(await readFile(file, 'utf8'))) readers.push(file)
    }
    expect(readers).toEqual([])
  })
})
