import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useTestDatabase } from '../support/database.ts'
import { sign } from 'hono/jwt'
import { mintUserToken } from '../../src/local/token.ts'
import { exampleEnv, SECRET_KEY } from '../support/app.ts'
import { type JwksFake, startJwksFake } from '../support/jwks-fake.ts'

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
async function serveUnderDeno(
  functionName: string,
  env: Record<string, string> = {},
): Promise<{ url: string; child: ChildProcess }> {
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
      ...env,
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

describe('sidebar functions under real Deno verify the staff token themselves', () => {
  const names = ['broadcast-sidebar', 'broadcast-settings', 'campaigns', 'send-now']
  const served: Array<{ url: string; child: ChildProcess }> = []
  let jwks: JwksFake
  beforeAll(async () => {
    jwks = await startJwksFake()
    served.push(
      ...(await Promise.all(
        names.map((name) => serveUnderDeno(name, { SUPABASE_JWKS_URL: `${jwks.url}/auth/v1/.well-known/jwks.json` })),
      )),
    )
  }, 90_000)
  afterAll(async () => {
    for (const { child } of served) child.kill('SIGTERM')
    await jwks?.close()
  })

  it('anon, no-exp, non-staff and forged tokens get a JSON 401 with CORS; staff tokens pass', async () => {
    const now = Math.floor(Date.now() / 1000)
    const staff = { sub: 'u1', email: 'editor@localhost', role: 'authenticated' }
    const refused = {
      anon: await sign({ role: 'anon', exp: now + 3600 }, exampleEnv.SUPABASE_JWT_SECRET),
      noExp: await sign(staff, exampleEnv.SUPABASE_JWT_SECRET),
      nonStaff: await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET, { email: 'someone@gmail.com' }),
      forged: await mintUserToken('not-the-project-secret-but-32-characters-long'),
      forgedEs256: await jwks.sign('ES256', staff, { kid: 'unknown' }),
    }
    const accepted = [await mintUserToken(exampleEnv.SUPABASE_JWT_SECRET), await jwks.sign('ES256', staff)]
    for (const { url } of served) {
      for (const [label, token] of Object.entries(refused)) {
        const response = await fetch(url, {
          headers: { authorization: `Bearer ${token}`, origin: 'http://localhost:5173' },
        })
        expect(response.status, `${url} ${label}`).toBe(401)
        expect(response.headers.get('access-control-allow-origin'), `${url} ${label}`).toBe('http://localhost:5173')
        expect(await response.json()).toHaveProperty('message')
      }
      for (const token of accepted) {
        const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
        expect(response.status, url).not.toBe(401)
        expect(response.status, url).toBeLessThan(500)
        await response.body?.cancel()
      }
    }
  })
})
