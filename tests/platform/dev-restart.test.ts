import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevProcess, spawnDev, waitForGroupExit } from '../../src/local/dev-process.ts'
import { startCluster, stopServer } from '../../src/local/postgres/cluster.ts'
import { findRunningServer } from '../../src/local/postgres/running-server.ts'
import { freePort } from '../../src/local/postgres/throwaway.ts'

// Issue 9, "Crash test": a SIGKILL of the `npm run dev` process group left PostgreSQL running
// (pg_ctl starts it in its own session) and the next `npm run dev` refused to start with "port …
// is already in use". A crash must never need a person.

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(`${tmpdir()}/txt-outlier-dev-`)
  await chmod(dir, 0o755) // the cluster runs as `postgres` when we are root
})
afterAll(async () => {
  await stopServer(`${dir}/db/data`).catch(() => {})
  await stopServer(`${dir}/cluster/data`).catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

describe('npm run dev after a crash', () => {
  it('starts again after its process group is SIGKILLed, adopting the PostgreSQL left running', async () => {
    const ports = {
      FUNCTIONS_PORT: String(await freePort()),
      DB_PORT: String(await freePort()),
      MISSIVE_FAKE_PORT: String(await freePort()),
      TWILIO_FAKE_PORT: String(await freePort()),
    }
    const env = { ...ports, LOCAL_DB_DIR: `${dir}/db`, LOG_LEVEL: 'warn' }
    let dev: DevProcess | undefined
    try {
      dev = spawnDev({ env, readyTimeoutMs: 90_000 })
      await dev.ready
      expect(await listening(Number(ports.MISSIVE_FAKE_PORT))).toBe(true)

      dev.signalGroup('SIGKILL')
      await dev.exited
      // Only PostgreSQL (its own session) survives; the gateway and the fakes lived in the group.
      expect(await waitForGroupExit(dev.pid)).toBe(true)
      expect(await findRunningServer(`${dir}/db/data`)).not.toBeNull()
      for (const name of ['FUNCTIONS_PORT', 'MISSIVE_FAKE_PORT', 'TWILIO_FAKE_PORT'] as const) {
        expect(await listening(Number(ports[name])), name).toBe(false)
      }

      dev = spawnDev({ env, readyTimeoutMs: 60_000 })
      const ready = await dev.ready
      expect(ready).toBe(`ready: http://127.0.0.1:${ports.FUNCTIONS_PORT}/functions/v1/`)
      expect(dev.output()).toContain('PostgreSQL adopted')
      const health = await fetch(`http://127.0.0.1:${ports.FUNCTIONS_PORT}/functions/v1/make/`, { method: 'POST' })
      expect(health.status).toBe(401) // the gateway answers, with its gate

      // Ctrl-C still stops everything, the adopted PostgreSQL included.
      dev.signalGroup('SIGINT')
      await dev.exited // npm itself ends by the signal; dev.ts finishes its cleanup, then exits
      expect(await waitForGroupExit(dev.pid, 60_000)).toBe(true)
      expect(await findRunningServer(`${dir}/db/data`)).toBeNull()
    } finally {
      dev?.signalGroup('SIGKILL')
    }
  }, 180_000)

  it('restarts a server left on another port, and ignores a stale postmaster.pid', async () => {
    const dataDir = `${dir}/cluster/data`
    const socketDir = `${dir}/cluster/run`
    const options = { dataDir, socketDir, cronDatabase: 'postgres', adopt: true }
    const first = await startCluster({ ...options, port: await freePort() })
    expect(first.adopted).toBe(false)

    // Same directory, new port (DB_PORT changed between runs): stopped and started where asked.
    const port = await freePort()
    const moved = await startCluster({ ...options, port })
    expect(moved.adopted).toBe(false)
    expect((await findRunningServer(dataDir))?.port).toBe(port)

    const again = await startCluster({ ...options, port })
    expect(again.adopted).toBe(true)
    await again.stop()

    // A pid file whose pid is alive but is not our postmaster (pid reuse after a reboot).
    await writeFile(`${dataDir}/postmaster.pid`, `${process.pid}\n${dataDir}\n0\n${port}\n${socketDir}\n`)
    const fresh = await startCluster({ ...options, port })
    expect(fresh.adopted).toBe(false)
    expect((await findRunningServer(dataDir))?.port).toBe(port)
    await fresh.stop()
  }, 120_000)
})
