import { describe, expect, it, vi } from 'vitest'
import { exampleEnv } from '../support/app.ts'
import {
  campaignCount,
  createAuthor,
  createLabel,
  fileRecipients,
  labelPhone,
  latestCampaign,
} from '../support/factories/campaigns.ts'
import { csvForm, futureSeconds, useCampaignApi } from './harness.ts'

// POST /campaigns/: upstream's campaigns-tests.ts cases #1–#16 (JSON) and #46–#52 (multipart),
// upstream-functions.md §7.7, then the rules of DESIGN.md for labels, CSV files and bad input.

const { db, fakes, api, storedFiles } = useCampaignApi()
const CSV_LABEL = exampleEnv.SHARED_CSV_CAMPAIGN_LABEL_ID
const PARENT_LABEL = exampleEnv.PARENT_CAMPAIGN_LABEL_ID

describe('segment-based POST /campaigns/ (upstream #1–#16)', () => {
  it('#1 creates a campaign with the required fields', async () => {
    const [l1, l2, l3] = [await createLabel(db.sql), await createLabel(db.sql), await createLabel(db.sql)]
    const runAt = futureSeconds(86412)
    const { status, body } = await api().post('/', {
      firstMessage: 'Test first message',
      runAt,
      segments: { included: [{ id: l1.id }], excluded: [{ id: l2.id }, { id: l3.id }] },
    })
    expect(status).toBe(200)
    expect(body).toMatchObject({
      firstMessage: 'Test first message',
      runAt,
      secondMessage: null,
      title: null,
      status: 'scheduled',
    })
    expect(body.segments.included).toEqual([{ id: l1.id }])
    const row = await latestCampaign(db.sql)
    expect(row).toMatchObject({
      first_message: 'Test first message',
      second_message: null,
      title: null,
      status: 'scheduled',
      processed: false,
    })
    expect(Math.floor(row.run_at.getTime() / 1000)).toBe(runAt)
    expect(row.segments.excluded).toEqual([{ id: l2.id }, { id: l3.id }])
  })

  it('#2 uses an existing label named by campaignLabelName, without calling Missive', async () => {
    const existing = await createLabel(db.sql, { name: 'Test Campaign Label' })
    const segment = await createLabel(db.sql)
    const runAt = futureSeconds()
    const { body } = await api().post('/', {
      title: 'Campaign with existing label',
      firstMessage: 'Test message with existing label',
      runAt,
      campaignLabelName: 'Test Campaign Label',
      segments: { included: [{ id: segment.id }] },
    })
    expect(body).toMatchObject({
      title: 'Campaign with existing label',
      firstMessage: 'Test message with existing label',
      runAt,
      labelIds: [existing.id],
    })
    expect((await latestCampaign(db.sql)).label_ids).toEqual([existing.id])
    expect(fakes.missive.requests).toHaveLength(0)
  })

  it('#3 treats a null, empty or blank campaignLabelName as no label', async () => {
    const segment = await createLabel(db.sql)
    for (
      const [title, campaignLabelName] of [
        ['Campaign with null label', null],
        ['Campaign with empty label', ''],
        ['Campaign with whitespace-only label', '   '],
      ] as const
    ) {
      const { status, body } = await api().post('/', {
        title,
        firstMessage: 'Test message',
        runAt: futureSeconds(),
        campaignLabelName,
        segments: { included: [{ id: segment.id }] },
      })
      expect(status).toBe(200)
      expect(body.labelIds).toEqual([])
      expect((await latestCampaign(db.sql)).label_ids).toEqual([])
    }
    expect(fakes.missive.requests).toHaveLength(0)
  })

  it('#4 matches the label name case-insensitively and trimmed', async () => {
    const mixed = await createLabel(db.sql, { name: 'MiXeD CaSe LaBeL' })
    const segment = await createLabel(db.sql)
    const { body } = await api().post('/', {
      title: 'Campaign with case-insensitive label',
      firstMessage: 'm',
      runAt: futureSeconds(),
      campaignLabelName: '  mixed case label  ',
      segments: { included: [{ id: segment.id }] },
    })
    expect(body.labelIds).toEqual([mixed.id])
    expect((await latestCampaign(db.sql)).label_ids).toEqual([mixed.id])
  })

  it('#5 rejects a campaignLabelName containing a forward slash', async () => {
    const segment = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      title: 'Slash',
      firstMessage: 'm',
      runAt: futureSeconds(),
      campaignLabelName: 'label/name',
      segments: { included: [{ id: segment.id }] },
    })
    expect(status).toBe(400)
    expect(body.message).toContain('Campaign label name cannot contain forward slash')
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('#6 creates a campaign with all fields', async () => {
    const label = await createLabel(db.sql)
    const runAt = futureSeconds(86600)
    const { body } = await api().post('/', {
      title: 'Test Campaign',
      firstMessage: 'Test first message',
      secondMessage: 'Test second message',
      runAt,
      segments: { included: [{ id: label.id }] },
    })
    expect(body).toMatchObject({
      title: 'Test Campaign',
      firstMessage: 'Test first message',
      secondMessage: 'Test second message',
      runAt,
    })
    expect(body.segments.included).toEqual([{ id: label.id }])
    expect(await latestCampaign(db.sql)).toMatchObject({
      title: 'Test Campaign',
      first_message: 'Test first message',
      second_message: 'Test second message',
    })
  })

  it('#7 #8 answer 400 for segment ids that are UUIDs but no known label, and create nothing', async () => {
    const unknown = 'c1c1c1c1-c1c1-c1c1-c1c1-c1c1c1c1c1c1'
    const label = await createLabel(db.sql)
    for (
      const segments of [{ included: [{ id: unknown }] }, { included: [{ id: label.id }], excluded: [{ id: unknown }] }]
    ) {
      const { status, body } = await api().post('/', {
        firstMessage: 'Test first message',
        runAt: futureSeconds(),
        segments,
      })
      expect(status).toBe(400)
      expect(body).toEqual({ message: 'One or more segment IDs are invalid' })
    }
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('#9 answers 400 naming the path for segment ids that are not UUIDs', async () => {
    let response = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      segments: { included: [{ id: '123' }] },
    })
    expect(response).toMatchObject({
      status: 400,
      body: { message: 'Validation error: [segments,included,0,id] Invalid segment ID format. Must be a UUID.' },
    })
    response = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      segments: { included: [{ id: crypto.randomUUID() }], excluded: [{ id: 'abc' }] },
    })
    expect(response).toMatchObject({
      status: 400,
      body: { message: 'Validation error: [segments,excluded,0,id] Invalid segment ID format. Must be a UUID.' },
    })
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('#10 #11 #12 #13 name the missing or wrong field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ runAt: futureSeconds() }, '[firstMessage] Required'],
      [{ firstMessage: 'Test message' }, '[runAt] Required'],
      [{ firstMessage: 'Test message', runAt: 'invalid' }, '[runAt] Expected number, received string'],
      [{ firstMessage: 'Test message', runAt: futureSeconds(-86400) }, 'Run time must be in the future'],
    ]
    const label = await createLabel(db.sql)
    for (const [body, message] of cases) {
      const response = await api().post('/', { segments: { included: [{ id: label.id }] }, ...body })
      expect(response.status).toBe(400)
      expect(response.body.message).toContain(message)
    }
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('#14 stores a custom delay', async () => {
    const label = await createLabel(db.sql)
    const { body } = await api().post('/', {
      firstMessage: 'Test first message',
      runAt: futureSeconds(),
      delay: 1800,
      segments: { included: [{ id: label.id }] },
    })
    expect(body.delay).toBe(1800)
    expect((await latestCampaign(db.sql)).delay).toBe(1800)
  })

  it('#15 rejects a delay that is not a positive integer', async () => {
    const label = await createLabel(db.sql)
    for (const delay of [0, -300, 1.5]) {
      const { status, body } = await api().post('/', {
        firstMessage: 'Test first message',
        runAt: futureSeconds(),
        delay,
        segments: { included: [{ id: label.id }] },
      })
      expect(status).toBe(400)
      expect(body.message).toContain('delay')
    }
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('#16 rejects `excluded: null`', async () => {
    const label = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      segments: { included: [{ id: label.id }], excluded: null },
    })
    expect(status).toBe(400)
    expect(body.message).toContain('excluded')
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('stores the recipient estimate, AND groups and `since` included', async () => {
    const [a, b] = [await createLabel(db.sql), await createLabel(db.sql)]
    for (const phone of ['+13135550101', '+13135550102']) {
      await createAuthor(db.sql, phone)
      await labelPhone(db.sql, a.id, phone)
    }
    await labelPhone(db.sql, b.id, '+13135550101')
    const { body } = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      segments: { included: [[{ id: a.id, since: 0 }, { id: b.id }]] },
    })
    expect(body.recipientCount).toBe(1)
  })
})

describe('campaign labels in Missive', () => {
  it('creates an unknown label in Missive under PARENT_CAMPAIGN_LABEL_ID (lower-cased) and remembers it', async () => {
    const segment = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      campaignLabelName: ' Spring Drive ',
      segments: { included: { id: segment.id } },
    })
    expect(status).toBe(200)
    const [created] = fakes.missive.sharedLabels()
    expect(created).toMatchObject({ name: 'spring drive', parentId: PARENT_LABEL })
    expect(body.labelIds).toEqual([created.id])
    const [row] = await db.sql`SELECT name, parent FROM public.labels WHERE id = ${created.id}`
    expect(row).toEqual({ name: 'spring drive', parent: PARENT_LABEL })

    // The second campaign with that name finds it locally.
    fakes.missive.clearRequests()
    const second = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      campaignLabelName: 'SPRING DRIVE',
      segments: { included: { id: segment.id } },
    })
    expect(second.body.labelIds).toEqual([created.id])
    expect(fakes.missive.requests).toHaveLength(0)
  })

  it('finds a label that exists in Missive but not yet in `labels`', async () => {
    const segment = await createLabel(db.sql)
    const existing = fakes.missive.addSharedLabel({ name: 'fall drive', parentId: PARENT_LABEL })
    const { body } = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      campaignLabelName: 'Fall Drive',
      segments: { included: { id: segment.id } },
    })
    expect(body.labelIds).toEqual([existing.id])
  })

  it('creates nothing when Missive can neither create nor find the label (upstream dropped the label silently)', async () => {
    const segment = await createLabel(db.sql)
    fakes.missive.failNext(2, 'server-error')
    const { status, body } = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      campaignLabelName: 'winter',
      segments: { included: { id: segment.id } },
    })
    expect(status).toBe(502)
    expect(body.message).toMatch(/Could not create the campaign label "winter" in Missive .*nothing was created/)
    expect(await campaignCount(db.sql)).toBe(0)
  })
})

describe('file-based POST /campaigns/ (upstream #46–#52)', () => {
  const fields = (runAt = futureSeconds()) => ({
    title: 'File Upload Test',
    firstMessage: 'Hello from file upload test',
    secondMessage: 'Follow-up message',
    runAt: String(runAt),
    delay: '1800',
  })

  it('#46 #48 creates the campaign, its recipients and their authors (flagged as uploaded)', async () => {
    const runAt = futureSeconds()
    const { status, body } = await api().postForm(csvForm(fields(runAt), {
      name: 'test-numbers.csv',
      content: '+11234567890\n+19876543210\n+15551234567',
    }))
    expect(status).toBe(200)
    // Upstream's test env had SHARED_CSV_CAMPAIGN_LABEL_ID=abc; ours comes from .env.example.
    expect(body).toMatchObject({
      title: 'File Upload Test',
      firstMessage: 'Hello from file upload test',
      secondMessage: 'Follow-up message',
      runAt,
      delay: 1800,
      recipientCount: 3,
      labelIds: [CSV_LABEL],
      segments: null,
      status: 'scheduled',
    })
    const row = await latestCampaign(db.sql)
    expect(row).toMatchObject({ segments: null, recipient_count: 3, delay: 1800 })
    expect(row.recipient_file_url).toMatch(/^file:\/\/.*\/campaign-recipients\/campaign-1\.csv$/)
    expect(storedFiles()).toEqual(['campaign-1.csv'])
    expect(await fileRecipients(db.sql, row.id)).toEqual(['+11234567890', '+19876543210', '+15551234567'])
    const authors = await db.sql`SELECT phone_number, added_via_file_upload FROM public.authors ORDER BY phone_number`
    expect(authors.every((author) => author.added_via_file_upload)).toBe(true)
    expect(authors).toHaveLength(3)
  })

  it('#47 adds the custom label after the shared CSV label', async () => {
    const label = await createLabel(db.sql, { name: `File Campaign Label ${Date.now()}` })
    const { body } = await api().postForm(
      csvForm({ ...fields(), campaignLabelName: label.name }, { name: 'n.csv', content: '+11234567890\n+19876543210' }),
    )
    expect(body.labelIds).toEqual([CSV_LABEL, label.id])
    expect(await latestCampaign(db.sql)).toMatchObject({ label_ids: [CSV_LABEL, label.id], recipient_count: 2 })
  })

  it('keeps the flags of authors that already exist', async () => {
    await createAuthor(db.sql, '+13135550100', { unsubscribed: true })
    await api().postForm(csvForm(fields(), { name: 'n.csv', content: '313-555-0100\n313-555-0101' }))
    const authors = await db
      .sql`SELECT phone_number, unsubscribed, added_via_file_upload FROM public.authors ORDER BY phone_number`
    expect(authors).toEqual([
      { phone_number: '+13135550100', unsubscribed: true, added_via_file_upload: false },
      { phone_number: '+13135550101', unsubscribed: false, added_via_file_upload: true },
    ])
  })

  it('#49 requires a file', async () => {
    const { status, body } = await api().postForm(csvForm(fields()))
    expect({ status, body }).toEqual({ status: 400, body: { message: 'File is required for file-based campaigns' } })
  })

  it('#50 requires a CSV file', async () => {
    const { status, body } = await api().postForm(
      csvForm(fields(), { name: 'invalid.txt', content: '+11234567890', type: 'text/plain' }),
    )
    expect({ status, body }).toEqual({ status: 400, body: { message: 'Please upload a CSV file with phone numbers' } })
  })

  it('#51 rejects an empty CSV (and one with only blank lines or a header)', async () => {
    for (const content of ['', '\n\n  \n', 'phone_number\n']) {
      const { status, body } = await api().postForm(csvForm(fields(), { name: 'empty.csv', content }))
      expect({ status, body }).toEqual({ status: 400, body: { message: 'No phone numbers found in the CSV file' } })
    }
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('#52 rejects a slash in campaignLabelName', async () => {
    const { status, body } = await api().postForm(
      csvForm({ ...fields(), title: 'Slashed', campaignLabelName: 'invalid/label/name' }, {
        name: 'n.csv',
        content: '+11234567890',
      }),
    )
    expect(status).toBe(400)
    expect(body.message).toContain('Campaign label name cannot contain forward slash')
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it("stores the sidebar's empty title as upstream does", async () => {
    const { body } = await api().postForm(
      csvForm({ ...fields(), title: '' }, { name: 'n.csv', content: '+11234567890' }),
    )
    expect(body.title).toBe('')
  })
})

describe('CSV recipient files (DESIGN.md "Client contracts")', () => {
  const form = (content: string | Uint8Array, name = 'recipients.csv') =>
    csvForm({ title: 'CSV', firstMessage: 'Hello', runAt: String(futureSeconds()) }, { name, content })

  it('normalises numbers to E.164 and merges duplicates', async () => {
    const { status, body } = await api().postForm(
      form('313-555-0100\r\n(313) 555-0101\n+13135550100\n1 313 555 0101\n\n313.555.0102\n'),
    )
    expect(status).toBe(200)
    expect(body.recipientCount).toBe(3)
    expect(await fileRecipients(db.sql, body.id)).toEqual(['+13135550100', '+13135550101', '+13135550102'])
  })

  it('skips a first line that is a header, and only then', async () => {
    let response = await api().postForm(form('\uFEFFPhone Number\n3135550100\n3135550101'))
    expect(response.body.recipientCount).toBe(2)
    // Headerless, as the sidebar asks: the first line is a recipient.
    response = await api().postForm(form('3135550102\n3135550103'))
    expect(response.body.recipientCount).toBe(2)
  })

  it('takes the phone column of a spreadsheet export', async () => {
    const { body } = await api().postForm(
      form('name,phone,zip\n"Doe, Ana",313-555-0100,48201\nBo,"(313) 555-0101",48202'),
    )
    expect(await fileRecipients(db.sql, body.id)).toEqual(['+13135550100', '+13135550101'])
  })

  it('answers 400 for a CSV without a phone column', async () => {
    const { status, body } = await api().postForm(form('name,email\nAna,ana@example.org'))
    expect(status).toBe(400)
    expect(body.message).toMatch(/no phone column: name it "phone" \(found "name", "email"\)/)
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('reports every invalid number by line, and creates nothing (no campaign, author or file)', async () => {
    const { status, body } = await api().postForm(form('3135550100\n12345\n\n313-555-01x0\n3135550101\n555-0100'))
    expect(status).toBe(400)
    expect(body.message).toBe(
      'The CSV file has 3 invalid phone numbers on lines 2 ("12345"), 4 ("313-555-01x0"), 6 ("555-0100"): fix or remove them and upload again (one number per line, e.g. +13135550123 or 313-555-0123)',
    )
    expect(body.invalidLines).toEqual([{ line: 2, value: '12345' }, { line: 4, value: '313-555-01x0' }, {
      line: 6,
      value: '555-0100',
    }])
    expect(body.invalidCount).toBe(3)
    expect(await campaignCount(db.sql)).toBe(0)
    const [authors] = await db.sql`SELECT count(*)::integer AS n FROM public.authors`
    expect(authors.n).toBe(0)
    expect(storedFiles()).toEqual([])
  })

  it('numbers lines the same with \\r\\n, lone \\r and \\n endings, after a header and blank lines', async () => {
    for (const eol of ['\r\n', '\r', '\n']) {
      const { status, body } = await api().postForm(form(['phone', '3135550100', '', '  ', '555-0100', ''].join(eol)))
      expect(status, JSON.stringify(eol)).toBe(400)
      expect(body.invalidLines, JSON.stringify(eol)).toEqual([{ line: 5, value: '555-0100' }])
    }
    const { body } = await api().postForm(form('Phone\r\n 313-555-0100 \r\n\r\n3135550101\r\n'))
    expect(await fileRecipients(db.sql, body.id)).toEqual(['+13135550100', '+13135550101'])
  })

  it('reports a typo in the first line as an invalid number, not as a header', async () => {
    const { status, body } = await api().postForm(form('313-555-012\n3135550100'))
    expect(status).toBe(400)
    expect(body.invalidLines).toEqual([{ line: 1, value: '313-555-012' }])
  })

  it('answers 400 for a file that is not UTF-8 text', async () => {
    const { status, body } = await api().postForm(form(new Uint8Array([0xff, 0xfe, 0x00, 0x31, 0xc3])))
    expect(status).toBe(400)
    expect(body.message).toMatch(/not UTF-8 text/)
  })

  it(
    'accepts the largest file the 10 MB limit allows (~800 000 numbers; issue 11: a spread overflowed the stack)',
    async () => {
      // 13 bytes a line: +1313 2XX XXXX, all distinct and valid.
      const count = Math.floor((10 * 1024 * 1024 - 1) / 13)
      const lines: string[] = []
      for (let i = 0; i < count; i++) {
        lines.push(
          `+1313${200 + Math.floor(i / 10_000)}${String(i % 10_000).padStart(4, '0')}`,
        )
      }
      const content = lines.join('\n') + '\n'
      expect(content.length).toBeLessThanOrEqual(10 * 1024 * 1024)
      const { status, body } = await api().postForm(form(content))
      expect(status, JSON.stringify(body).slice(0, 300)).toBe(200)
      const [{ n }] = await db.sql`SELECT count(*)::int AS n FROM public.campaign_file_recipients`
      expect(n).toBe(count)
    },
    120_000,
  )

  it('answers 413 for a 50 MB upload and stores nothing', async () => {
    const line = '+13135550100\n'
    const big = new Uint8Array(50 * 1024 * 1024)
    big.set(new TextEncoder().encode(line.repeat(Math.floor(big.length / line.length))))
    const { status, body } = await api().postForm(form(big))
    expect(status).toBe(413)
    expect(body.message).toMatch(/Upload too large: the limit is 10 MB/)
    expect(await campaignCount(db.sql)).toBe(0)
    expect(storedFiles()).toEqual([])
  })

  it('is all or nothing: a failed upload leaves no campaign (upstream kept an empty one)', async () => {
    const failing = {
      save: async () => {
        throw new Error('bucket unavailable')
      },
      remove: async () => {},
    }
    const { status, body } = await api({ files: failing }).postForm(form('3135550100'))
    expect(status).toBe(502)
    expect(body.message).toBe('The recipient file could not be stored, so no campaign was created; try again')
    expect(await campaignCount(db.sql)).toBe(0)
    const [authors] = await db.sql`SELECT count(*)::integer AS n FROM public.authors`
    expect(authors.n).toBe(0)
  })

  it('creates the campaign when a reader texts in while its authors are written', async () => {
    // Another transaction creates the author of one listed number and holds it uncommitted: the
    // campaign's plain author INSERT waits on it, then meets the committed row (unique violation)
    // and falls back to its ON CONFLICT form. The reader's row is theirs, not flagged as uploaded.
    const reader = await db.sql.reserve()
    try {
      await reader`BEGIN`
      await reader`INSERT INTO public.authors (phone_number) VALUES ('+13135550101')`
      const posting = api().postForm(form('3135550100\n3135550101\n3135550102'))
      await vi.waitFor(async () => {
        const [waiting] = await db.sql`
          SELECT count(*)::integer AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO public.authors%'`
        expect(waiting.n).toBe(1)
      }, { timeout: 10_000, interval: 50 })
      await reader`COMMIT`
      const { status, body } = await posting
      expect(status).toBe(200)
      expect(await fileRecipients(db.sql, body.id)).toEqual(['+13135550100', '+13135550101', '+13135550102'])
      const authors = await db.sql`
        SELECT phone_number, added_via_file_upload FROM public.authors ORDER BY phone_number`
      expect(authors.map((a) => [a.phone_number, a.added_via_file_upload])).toEqual([
        ['+13135550100', true],
        ['+13135550101', false],
        ['+13135550102', true],
      ])
    } finally {
      reader.release()
    }
  })

  it('is all or nothing: a failed database write removes the stored file', async () => {
    await db.sql`
      CREATE FUNCTION public.test_refuse_recipients() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'disk full'; END $$`
    await db.sql`CREATE TRIGGER test_refuse_recipients BEFORE INSERT ON public.campaign_file_recipients
                 FOR EACH STATEMENT EXECUTE FUNCTION public.test_refuse_recipients()`
    const { status } = await api().postForm(form('3135550100'))
    expect(status).toBe(500)
    expect(await campaignCount(db.sql)).toBe(0)
    expect(storedFiles()).toEqual([])
  })

  it('answers 503 without any file storage configured, and creates nothing', async () => {
    const { status, body } = await api({ files: null, env: { SUPABASE_URL: '' } }).postForm(form('3135550100'))
    expect(status).toBe(503)
    expect(body.message).toMatch(/set SUPABASE_URL/)
    expect(await campaignCount(db.sql)).toBe(0)
  })
})

describe('bad input: each a 4xx that says what to fix, nothing half-created', () => {
  it('malformed JSON', async () => {
    const { status, body } = await api().send('POST', '/', { json: '{"firstMessage": ' })
    expect({ status, body }).toEqual({ status: 400, body: { message: 'Malformed JSON body' } })
  })

  it('unknown fields on create', async () => {
    const label = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      segments: { included: { id: label.id } },
      sendNow: true,
    })
    expect({ status, body }).toEqual({
      status: 400,
      body: { message: "Validation error: [] Unrecognized key(s) in object: 'sendNow'" },
    })
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('unknown multipart fields on create', async () => {
    const { status, body } = await api().postForm(
      csvForm({ firstMessage: 'm', runAt: String(futureSeconds()), segments: 'x' }, {
        name: 'n.csv',
        content: '3135550100',
      }),
    )
    expect({ status, body }).toEqual({
      status: 400,
      body: { message: "Validation error: [] Unrecognized key(s) in object: 'segments'" },
    })
  })

  it('a runAt that is not a number in a form', async () => {
    const { status, body } = await api().postForm(
      csvForm({ firstMessage: 'm', runAt: 'tomorrow' }, { name: 'n.csv', content: '3135550100' }),
    )
    expect(status).toBe(400)
    expect(body.message).toBe('Validation error: [runAt] Expected number, received nan')
  })

  it('wrong types', async () => {
    const label = await createLabel(db.sql)
    const { status, body } = await api().post('/', {
      firstMessage: 42,
      runAt: futureSeconds(),
      title: null,
      segments: { included: { id: label.id } },
    })
    expect(status).toBe(400)
    expect(body.message).toBe(
      'Validation error: [title] Expected string, received null, [firstMessage] Expected string, received number',
    )
  })

  it('numbers out of range (which PostgreSQL would refuse with a 500)', async () => {
    const label = await createLabel(db.sql)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ runAt: 1e15 }, 'Validation error: [runAt] Must be a Unix timestamp'],
      [{ delay: 2 ** 31 }, 'Validation error: [delay] Delay must be at most 2147483647 seconds'],
      [
        { segments: { included: { id: label.id, since: 1e15 } } },
        'Validation error: [segments,included,since] Date filter must be a Unix timestamp',
      ],
    ]
    for (const [body, message] of cases) {
      const response = await api().post('/', {
        firstMessage: 'm',
        runAt: futureSeconds(),
        segments: { included: { id: label.id } },
        ...body,
      })
      expect(response).toMatchObject({ status: 400, body: { message } })
    }
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('more than 100 segments is a 400 naming the field', async () => {
    const label = await createLabel(db.sql)
    const response = await api().post('/', {
      firstMessage: 'm',
      runAt: futureSeconds(),
      segments: { included: Array.from({ length: 101 }, () => ({ id: label.id })) },
    })
    expect(response.status).toBe(400)
    expect(response.body.message).toMatch(/\[segments\].*at most 100/)
    expect(await campaignCount(db.sql)).toBe(0)
  })

  it('a body that is not an object', async () => {
    const { status, body } = await api().post('/', [1, 2])
    expect(status).toBe(400)
    expect(body.message).toBe('Validation error: [] Expected object, received array')
  })
})
