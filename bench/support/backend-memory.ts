import { readFileSync } from 'node:fs'

// Peak memory of one PostgreSQL backend, read from /proc/<pid>/status of the process serving a
// connection (SELECT pg_backend_pid()). The benches start their cluster on this machine, so the
// file is readable. VmHWM is the kernel's resident high-water mark of the process (it includes the
// shared_buffers pages the backend touched); RssAnon, sampled, is its private memory alone.

export interface MemoryPeak {
  /** Resident high-water mark (kB → MB), as the kernel counts it. */
  hwmMb: number
  /** Largest private (anonymous) resident size seen while sampling. */
  anonPeakMb: number
}

function statusField(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`)
  return Number(match[1]) / 1024
}

/** Runs `work` while sampling the backend's memory every 20 ms. */
export async function measureBackend<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: MemoryPeak }> {
  let anonPeakMb = statusField(pid, 'RssAnon')
  const timer = setInterval(() => {
    try {
      anonPeakMb = Math.max(anonPeakMb, statusField(pid, 'RssAnon'))
    } catch {
      // The backend ended (the work failed); the error surfaces from `work` below.
    }
  }, 20)
  try {
    const result = await work()
    anonPeakMb = Math.max(anonPeakMb, statusField(pid, 'RssAnon'))
    return { result, peak: { hwmMb: statusField(pid, 'VmHWM'), anonPeakMb } }
  } finally {
    clearInterval(timer)
  }
}
