import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// `npm run dev` as a child process in its own process group, as a terminal runs it: what the
// crash test (scripts/chaos.ts) kills and restarts, and what the dev-restart test drives.

const projectRoot = fileURLToPath(new URL('../../', import.meta.url))

export interface DevProcess {
  /** Pid of `npm`, which is also the process group id. */
  pid: number
  /** Resolves with the `ready:` line; rejects when the process exits (or times out) before it. */
  ready: Promise<string>
  /** Resolves when the process has exited (with its code, or the signal that ended it). */
  exited: Promise<number | NodeJS.Signals>
  /** Everything printed so far (stdout and stderr). */
  output(): string
  /** Signals the whole process group (SIGKILL: a crash; SIGINT: Ctrl-C). */
  signalGroup(signal: NodeJS.Signals): void
}

export interface DevOptions {
  /** Merged over process.env. */
  env: Record<string, string | undefined>
  readyTimeoutMs?: number
  /** Every line the stack prints, for a log file. */
  onLine?: (line: string) => void
}

export function spawnDev(options: DevOptions): DevProcess {
  const child: ChildProcess = spawn('npm', ['run', '--silent', 'dev'], {
    cwd: projectRoot,
    env: { ...process.env, ...options.env },
    detached: true, // own process group, so the whole tree can be signalled at once
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const pid = child.pid
  if (pid === undefined) throw new Error('npm run dev could not be spawned')
  let output = ''
  let pending = ''
  let resolveReady: (line: string) => void = () => {}
  let rejectReady: (error: Error) => void = () => {}
  const ready = new Promise<string>((resolve, reject) => {
    resolveReady = resolve
    rejectReady = reject
  })
  ready.catch(() => {}) // callers that only care about `exited` must not see an unhandled rejection
  const onData = (chunk: Buffer) => {
    output += chunk.toString()
    pending += chunk.toString()
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      options.onLine?.(line)
      if (line.startsWith('ready:')) resolveReady(line)
    }
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const timer = setTimeout(
    () => rejectReady(new Error(`npm run dev not ready after ${options.readyTimeoutMs ?? 120_000} ms:\n${output}`)),
    options.readyTimeoutMs ?? 120_000,
  )
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      rejectReady(new Error(`npm run dev exited (${code ?? signal}) before it was ready:\n${output}`))
      resolve(code ?? signal ?? 0)
    })
  })
  ready.then(() => clearTimeout(timer), () => {})
  return {
    pid,
    ready,
    exited,
    output: () => output,
    signalGroup: (signal) => {
      try {
        process.kill(-pid, signal)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
      }
    },
  }
}

/** Whether any process of the group still exists (a killed child stays a zombie until reaped). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Waits until every process of the group is gone (reaped); false when some remain after `timeoutMs`. */
export async function waitForGroupExit(pgid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}
