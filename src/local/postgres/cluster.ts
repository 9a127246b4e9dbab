import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chown, mkdir } from 'node:fs/promises'
import { promisify } from 'node:util'
import { preloadLibraries } from './extensions.ts'

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
}

export interface Cluster {
  port: number
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
  await start()
  return {
    port: options.port,
    url: (database) => `postgresql://postgres@127.0.0.1:${options.port}/${database}`,
    stop,
    restart: async (changes = {}) => {
      await stop()
      current = { ...current, ...changes }
      await start()
    },
  }
}
