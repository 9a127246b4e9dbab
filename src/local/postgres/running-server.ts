import { readFile, readlink, realpath, rm } from 'node:fs/promises'

// `pg_ctl start` puts the postmaster in its own session (setsid), so it outlives a SIGKILL of the
// `npm run dev` process group that started it. The next `npm run dev` must find that server
// (instead of failing on "port already in use") and adopt it or stop it: a crash must never need
// a person. postmaster.pid tells where it listens; /proc tells whether that pid really is the
// postmaster of this data directory (a pid from an old boot may have been reused by anything).

export interface RunningServer {
  pid: number
  port: number
  socketDir: string
  /** postmaster.pid's status line: `starting`, `ready`, `stopping` (or `standby`). */
  status: string
}

/** The lines of postmaster.pid (PostgreSQL 15: src/include/utils/pidfile.h). */
const PID_LINE = { pid: 0, dataDir: 1, port: 3, socketDir: 4, status: 7 } as const

async function pidFileLines(dataDir: string): Promise<string[] | null> {
  try {
    return (await readFile(`${dataDir}/postmaster.pid`, 'utf8')).split('\n')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: alive, but another user's process (then it cannot be our postmaster).
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether `pid` is a postmaster serving `dataDir`: the postmaster chdirs into its data directory,
 * and ours is started with `-D <dataDir>` (its command line is never rewritten, unlike backends').
 */
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  const wanted = await realpath(dataDir).catch(() => dataDir)
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null)
  if (cwd !== null) return cwd === wanted
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
  const args = cmdline.split('\0')
  const d = args.indexOf('-D')
  return /postgres$/.test(args[0] ?? '') && d >= 0 && [dataDir, wanted].includes(args[d + 1] ?? '')
}

/**
 * The server running on `dataDir`, or null. A postmaster.pid left by a server that is gone (killed
 * with the machine, or its pid now someone else's) is removed, so the next start does not trip on it.
 */
export async function findRunningServer(dataDir: string): Promise<RunningServer | null> {
  const lines = await pidFileLines(dataDir)
  if (!lines) return null
  const pid = Number(lines[PID_LINE.pid])
  if (!Number.isInteger(pid) || pid <= 0) return null // being written by a starting server
  if (isAlive(pid) && (await isPostmasterOf(pid, dataDir))) {
    return {
      pid,
      port: Number(lines[PID_LINE.port]),
      socketDir: (lines[PID_LINE.socketDir] ?? '').trim(),
      status: (lines[PID_LINE.status] ?? '').trim(),
    }
  }
  await rm(`${dataDir}/postmaster.pid`, { force: true })
  return null
}
