/** One line of `npm run upgrade:check`: `ok` or `fix`, with what was found or what to do. */
export interface CheckResult {
  phase: 'before' | 'after'
  name: string
  ok: boolean
  detail: string
}

export const ok = (phase: CheckResult['phase'], name: string, detail: string): CheckResult => ({
  phase,
  name,
  ok: true,
  detail,
})

export const fix = (phase: CheckResult['phase'], name: string, detail: string): CheckResult => ({
  phase,
  name,
  ok: false,
  detail,
})

export function formatResults(results: CheckResult[]): string {
  return results.map((r) => `${r.ok ? 'ok ' : 'fix'}  [${r.phase}] ${r.name}: ${r.detail}`).join('\n')
}
