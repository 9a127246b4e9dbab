import { beforeEach, describe, expect, it } from 'vitest'
import { createSql } from '../../src/shared/db/client.ts'
import { createLogger } from '../../src/shared/log/logger.ts'
import { startNetWorker } from '../../src/local/net-worker.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
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
})
