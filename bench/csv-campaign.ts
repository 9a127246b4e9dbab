import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { diskRecipientFiles } from '../src/local/recipient-files.ts'
import { cloneTemplate, startThrowawayCluster } from '../src/local/postgres/throwaway.ts'
import { campaignFunction } from '../src/shared/campaigns/campaign-function.ts'
import { createSql } from '../src/shared/db/client.ts'
import { createFunctionApp } from '../src/shared/http/function-app.ts'
import { asStaff, createTestDeps } from '../tests/support/app.ts'
import { reportFigure } from './support/report.ts'
import { alternateRounds } from './support/rounds.ts'

// A 700 000-line CSV campaign (issue 15 #3; 700 000 numbers is about the 10 MB upload limit):
// POST /campaigns/ with the file, in process (parse, normalise, merge, store the file, create the
// campaign, its authors and campaign_file_recipients rows), against the floor: the same numbers
// loaded into campaign_file_recipients with one COPY. Same run, same database, alternating from the
// same state after a discarded warm-up round (alternateRounds), median of RUNS. Goal: ≤ 2×.
//
//   npx tsx bench/csv-campaign.ts [lines]     (or: npm run bench -- csv)

const LINES = Number(process.argv[2] ?? 700_000)
const GOAL = 2
const RUNS = 5
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const phone = (n: number) => `+1313${2_000_000 + n}`

async function main(): Promise<void> {
  const throwaway = await startThrowawayCluster('bench_template')
  const fileDir = mkdtempSync(join(tmpdir(), 'bench-csv-'))
  try {
    const sql = createSql(await cloneTemplate(throwaway, 'bench_csv'), { max: 4 })
    try {
      const numbers = Array.from({ length: LINES }, (_, i) => phone(i))
      const csv = numbers.join('\n') + '\n'

      const deps = { ...createTestDeps(sql), recipientFiles: diskRecipientFiles(fileDir) }
      const app = asStaff(createFunctionApp(campaignFunction, deps))
      const data = Buffer.from(numbers.map((n) => `${n}\t%CAMPAIGN%\n`).join(''))

      // The floor: one COPY of the same numbers into the same table (a placeholder campaign).
      const copyOnce = async () => {
        const [placeholder] = await sql`
          INSERT INTO public.campaigns (title, first_message, run_at, status) VALUES ('copy floor', 'x', now() + interval '1 day', 'draft')
          RETURNING id`
        // In 1 MB chunks: a stream of 700 000 tiny strings would time node, not PostgreSQL.
        const rows = Buffer.from(data.toString().replaceAll('%CAMPAIGN%', String(placeholder.id)))
        const chunks = Array.from(
          { length: Math.ceil(rows.length / 1_048_576) },
          (_, i) => rows.subarray(i * 1_048_576, (i + 1) * 1_048_576),
        )
        const start = performance.now()
        const writable = await sql`COPY public.campaign_file_recipients (phone_number, campaign_id) FROM STDIN`
          .writable()
        await pipeline(Readable.from(chunks), writable)
        const ms = performance.now() - start
        const [{ copied }] = await sql`
          SELECT count(*)::int AS copied FROM public.campaign_file_recipients WHERE campaign_id = ${placeholder.id}`
        if (copied !== LINES) throw new Error(`COPY loaded ${copied}, expected ${LINES}`)
        return ms
      }

      // The real thing: the numbers are new (their authors are created, flagged as uploaded).
      const postOnce = async () => {
        const form = new FormData()
        form.append('file', new File([csv], 'readers.csv', { type: 'text/csv' }))
        form.append('title', 'Bench CSV campaign')
        form.append('firstMessage', 'Your ballot questions answered https://example.com/vote')
        form.append('runAt', String(Math.floor(Date.now() / 1000) + 86_400))
        const start = performance.now()
        const response = await app.request('/campaigns/', { method: 'POST', body: form })
        const body = await response.text()
        const ms = performance.now() - start
        if (response.status !== 201 && response.status !== 200) {
          throw new Error(`POST /campaigns/ answered ${response.status}: ${body.slice(0, 300)}`)
        }
        const { id } = JSON.parse(body)
        const [{ recipients }] = await sql`
          SELECT count(*)::int AS recipients FROM public.campaign_file_recipients WHERE campaign_id = ${id}`
        if (recipients !== LINES) throw new Error(`the campaign has ${recipients} recipients, expected ${LINES}`)
        return ms
      }

      const reset = async () => {
        await sql`TRUNCATE public.campaign_file_recipients`
        await sql`DELETE FROM public.campaigns`
        await sql`DELETE FROM public.authors WHERE added_via_file_upload`
        await sql`VACUUM ANALYZE public.campaign_file_recipients`
        await sql`VACUUM ANALYZE public.authors`
        await sql`CHECKPOINT`
      }

      const { floor: copyTimes, subject: postTimes } = await alternateRounds({
        runs: RUNS,
        floor: copyOnce,
        subject: postOnce,
        reset,
      })
      const copyMs = median(copyTimes)
      const postMs = median(postTimes)
      const ratio = postMs / copyMs
      console.log(
        `CSV campaign of ${LINES.toLocaleString('en-US')} lines (${
          (csv.length / 1e6).toFixed(1)
        } MB), median of ${RUNS}`,
      )
      const list = (times: number[]) => times.map((t) => t.toFixed(0)).join(', ')
      console.log(`  POST /campaigns/ (file)             ${postMs.toFixed(0).padStart(7)} ms   (${list(postTimes)})`)
      console.log(`  one COPY of the same numbers        ${copyMs.toFixed(0).padStart(7)} ms   (${list(copyTimes)})`)
      reportFigure({
        bench: 'csv-campaign',
        figure: `POST /campaigns/ with a ${LINES.toLocaleString('en-US')}-line CSV / one COPY of the same numbers`,
        result: `${ratio.toFixed(2)}× (${(postMs / 1000).toFixed(1)} s / ${
          (copyMs / 1000).toFixed(1)
        } s, median of ${RUNS})`,
        goal: `≤ ${GOAL}×`,
        met: ratio <= GOAL,
      })
    } finally {
      await sql.end({ timeout: 5 })
    }
  } finally {
    rmSync(fileDir, { recursive: true, force: true })
    await throwaway.destroy()
  }
}

await main()
