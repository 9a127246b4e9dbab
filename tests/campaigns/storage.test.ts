import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listen } from '../../src/local/fakes/fake-server.ts'
import { diskRecipientFiles } from '../../src/local/recipient-files.ts'
import { recipientFileName, recipientFilesFor } from '../../src/shared/storage/recipient-files.ts'
import { SECRET_KEY, testConfig } from '../support/app.ts'

// Where recipient CSVs go: Supabase Storage through supabase-js when SUPABASE_URL is set (checked
// against a loopback stand-in of the Storage REST API), a folder on the local stack.

interface StorageRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string
}

describe('Supabase Storage (supabase-js)', () => {
  const requests: StorageRequest[] = []
  let server: Awaited<ReturnType<typeof listen>>
  let failUploads = false
  beforeAll(async () => {
    server = await listen(
      async (request) => {
        const url = new URL(request.url)
        requests.push({
          method: request.method,
          path: url.pathname,
          headers: Object.fromEntries(request.headers),
          body: await request.text(),
        })
        if (failUploads) {
          return Response.json({ statusCode: '404', error: 'Bucket not found', message: 'Bucket not found' }, {
            status: 400,
          })
        }
        if (request.method === 'POST') {
          return Response.json({ Key: url.pathname.replace('/storage/v1/object/', ''), Id: crypto.randomUUID() })
        }
        return Response.json([])
      },
      0,
      () => {},
    )
  })
  afterAll(() => server.close())

  const store = () => recipientFilesFor(testConfig({ SUPABASE_URL: server.url }))

  it('uploads to the campaign-recipients bucket with upsert and returns the public URL', async () => {
    requests.length = 0
    const url = await store().save('campaign-7.csv', new TextEncoder().encode('+13135550100\n'), 'text/csv')
    expect(url).toBe(`${server.url}/storage/v1/object/public/campaign-recipients/campaign-7.csv`)
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/storage/v1/object/campaign-recipients/campaign-7.csv' })
    expect(requests[0].headers['x-upsert']).toBe('true')
    expect(requests[0].headers.authorization).toBe(`Bearer ${SECRET_KEY}`)
    expect(requests[0].body).toContain('+13135550100')
  })

  it('removes the object named by the last segment of the stored URL', async () => {
    requests.length = 0
    await store().remove(`${server.url}/storage/v1/object/public/campaign-recipients/campaign-7.csv`)
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({ method: 'DELETE', path: '/storage/v1/object/campaign-recipients' })
    expect(JSON.parse(requests[0].body)).toEqual({ prefixes: ['campaign-7.csv'] })
  })

  it('throws when Storage refuses the upload (so no campaign is created)', async () => {
    failUploads = true
    try {
      await expect(store().save('campaign-8.csv', new Uint8Array([49]), 'text/csv')).rejects.toThrow(
        /Supabase Storage could not store campaign-8.csv: Bucket not found/,
      )
    } finally {
      failUploads = false
    }
  })
})

describe('local recipient files (src/local/recipient-files.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recipient-files-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('keeps the file under <dir>/campaign-recipients and removes it again', async () => {
    const store = diskRecipientFiles(dir)
    const url = await store.save('campaign-3.csv', new TextEncoder().encode('+13135550100\n'), 'text/csv')
    const path = fileURLToPath(url)
    expect(path).toBe(join(dir, 'campaign-recipients', 'campaign-3.csv'))
    expect(readFileSync(path, 'utf8')).toBe('+13135550100\n')
    await store.remove(url)
    await store.remove(url) // already gone: fine
    expect(() => readFileSync(path)).toThrow()
  })

  it('refuses names and URLs outside its folder', async () => {
    const store = diskRecipientFiles(dir)
    await expect(store.save('../escape.csv', new Uint8Array(), 'text/csv')).rejects.toThrow(/unsafe file name/)
    await expect(store.remove('file:///etc/passwd')).rejects.toThrow(/is not a recipient file/)
  })
})

describe('recipientFileName', () => {
  it('is campaign-<id> with a short plain extension, as upstream', () => {
    expect(recipientFileName(12, 'numbers.csv')).toBe('campaign-12.csv')
    expect(recipientFileName(12, 'numbers')).toBe('campaign-12')
    expect(recipientFileName(12, 'a.b.CSV')).toBe('campaign-12.CSV')
    expect(recipientFileName(12, 'x.averyveryverylongextension')).toBe('campaign-12')
    expect(recipientFileName(12, 'x.c/s')).toBe('campaign-12')
  })
})
