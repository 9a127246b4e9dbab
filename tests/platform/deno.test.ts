import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useTestDatabase } from '../support/database.ts'
import { exampleEnv, SECRET_KEY } from '../support/app.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const db = useTestDatabase()

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Starts a real function entry file under the npm `deno` binary, as the edge runtime would run it. */
async function serveUnderDeno(functionName: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(`${root}node_modules/.bin/deno`, [
    'run',
    '--allow-all',
    `supabase/functions/${functionName}/index.ts`,
  ], {
    cwd: root,
    env: {
      ...process.env,
      ...exampleEnv,
      DB_POOL_URL: db.url,
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deno did not start: ${output}`)), 45_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Listening on')) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`deno exited with ${code}: ${output}`)))
  })
  return { url: `http://127.0.0.1:${port}/${functionName}/`, child }
}

describe('functions under real Deno', () => {
  let served: { url: string; child: ChildProcess } | undefined
  beforeAll(async () => {
    served = await serveUnderDeno('send-messages')
  }, 60_000)
  afterAll(() => {
    served?.child.kill('SIGTERM')
  })

  it('send-messages refuses a request without the secret key', async () => {
    const response = await fetch(served!.url, {
      method: 'POST',
      body: '{"isSecond":false}',
      headers: { 'content-type': 'application/json' },
    })
    expect(response.status).toBe(401)
    expect(await response.json()).toHaveProperty('message')
  })

  it('send-messages accepts the secret key', async () => {
    const response = await fetch(served!.url, {
      method: 'POST',
      body: '{"isSecond":false}',
      headers: { 'content-type': 'application/json', apikey: SECRET_KEY },
    })
    expect(response.status).toBe(200)
    // Nothing is queued in this database: the drain answers at once with an empty summary.
    expect(await response.json()).toMatchObject({ sent: 0, failed: 0 })
  })
})
