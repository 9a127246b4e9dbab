import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chown, mkdir } from 'node:fs/promises'
import { promisify } from 'node:util'
import { preloadLibraries } from './extensions.ts'
import { findRunningServer, type RunningServer } from './running-server.ts'

const run = promisify(execFile)

export const PG_BIN = '/usr/lib/postgresql/15/bin'
const PG_CRON_CONTROL = '/usr/share/postgresql/15/extension/pg_cron.control'
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

/**
 * Makes sure PostgreSQL 15 and pg_cron are installed: with apt-get when we are root, otherwise a
 * message that says exactly what to install.
 */
export async function ensurePostgresInstalled(log: (line: string) => void = () => {}): Promise<void> {
  if (existsSync(`${PG_BIN}/pg_ctl`) && existsSync(PG_CRON_CONTROL)) return
  const packages = ['postgresql-15', 'postgresql-15-cron']
  if (!isRoot) {
    throw new Error(
      `PostgreSQL 15 with pg_cron is not installed. Install it with: sudo apt-get install -y ${packages.join(' ')}`,
    )
  }
  log(`installing ${packages.join(' ')} with apt-get…`)
  const install = () =>
    run('apt-get', ['install', '-y', '--no-upgrade', ...packages], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  try {
    await install()
  } catch {
    await run('apt-get', ['update'])
    await install()
  }
}

/** initdb refuses to run as root, so the cluster belongs to the `postgres` user when we are root. */
function asPostgres(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (isRoot) return run('runuser', ['-u', 'postgres', '--', command, ...args], { cwd: '/' })
  return run(command, args)
}

export interface ClusterOptions {
  dataDir: string
  socketDir: string
  port: number
  /** pg_cron only runs jobs in, and only lets the extension be created in, this database. */
  cronDatabase: string
  /** Throwaway clusters (tests) trade durability for speed. */
  durable?: boolean
  /**
   * A server still running on this data directory (its `npm run dev` was killed) is adopted when
   * it listens where asked, and otherwise stopped and started again; without this, start fails.
   */
  adopt?: boolean
}

export interface Cluster {
  port: number
  /** True when a server left running by an earlier process was taken over instead of started. */
  adopted: boolean
  url(database: string): string
  stop(): Promise<void>
  restart(changes?: Partial<Pick<ClusterOptions, 'cronDatabase'>>): Promise<void>
}

async function ownedDirectory(path: string): Promise<void> {
  await mkdir(path, { recursive: true })
  if (isRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    await chown(path, Number(stdout.trim()), Number(gid.trim()))
  }
}

function serverOptions(options: ClusterOptions): string {
  const settings = [
    `port=${options.port}`,
    `listen_addresses=127.0.0.1`,
    `unix_socket_directories=${options.socketDir}`,
    `shared_preload_libraries=${preloadLibraries().join(',')}`,
    `cron.database_name=${options.cronDatabase}`,
    `max_connections=200`,
    `timezone=UTC`,
  ]
  if (!options.durable) settings.push('fsync=off', 'synchronous_commit=off', 'full_page_writes=off')
  return settings.map((setting) => `-c ${setting}`).join(' ')
}

/** Creates the cluster if its data directory is empty, then starts it and waits until it accepts connections. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  await ownedDirectory(options.dataDir)
  await ownedDirectory(options.socketDir)
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) {
    await asPostgres(`${PG_BIN}/initdb`, [
      '-D',
      options.dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ])
  }
  let current = { ...options }
  const logFile = `${options.socketDir}/postgres.log`
  const start = async () => {
    try {
      await asPostgres(`${PG_BIN}/pg_ctl`, [
        '-D',
        current.dataDir,
        '-l',
        logFile,
        '-w',
        '-t',
        '60',
        '-o',
        serverOptions(current),
        'start',
      ])
    } catch (error) {
      throw new Error(`PostgreSQL did not start (log: ${logFile}): ${(error as Error).message}`)
    }
  }
  const stop = async () => {
    if (!existsSync(`${current.dataDir}/postmaster.pid`)) return
    await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', current.dataDir, '-w', '-t', '60', '-m', 'fast', 'stop'])
  }
  const adopted = options.adopt ? await adoptOrStop(options) : false
  if (!adopted) await start()
  return {
    port: options.port,
    adopted,
    url: (database) => `postgresql://postgres@127.0.0.1:${options.port}/${database}`,
    stop,
    restart: async (changes = {}) => {
      await stop()
      current = { ...current, ...changes }
      await start()
    },
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Accepting connections on its socket, as pg_isready sees it. */
async function acceptsConnections(server: RunningServer): Promise<boolean> {
  try {
    await run(`${PG_BIN}/pg_isready`, ['-q', '-h', server.socketDir, '-p', String(server.port), '-t', '2'])
    return true
  } catch {
    return false
  }
}

/**
 * Takes over a server left running on the data directory, or stops it so a fresh start can take
 * its place. Returns true when adopted. A server still starting (crash recovery after the kill of
 * the process that was waiting for it) is given a minute; one listening elsewhere, stopping, or
 * that never gets ready is stopped (`fast`, then `immediate`: both are crash-safe).
 */
async function adoptOrStop(options: ClusterOptions, readyWithinMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + readyWithinMs
  for (;;) {
    const server = await findRunningServer(options.dataDir)
    if (!server) return false
    const ours = server.port === options.port && server.socketDir === options.socketDir
    if (ours && server.status !== 'stopping' && (await acceptsConnections(server))) return true
    if (!ours || server.status === 'stopping' || Date.now() >= deadline) {
      await stopServer(options.dataDir)
      return false
    }
    await sleep(250)
  }
}

/** Stops whatever server runs on `dataDir` (nothing when none does), and waits until it is gone. */
export async function stopServer(dataDir: string): Promise<void> {
  if (!(await findRunningServer(dataDir))) return
  try {
    await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-w', '-t', '60', '-m', 'fast', 'stop'])
  } catch {
    await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-w', '-t', '60', '-m', 'immediate', 'stop'])
  }
}
