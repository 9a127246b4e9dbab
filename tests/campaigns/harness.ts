import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeEach } from 'vitest'
import { diskRecipientFiles } from '../../src/local/recipient-files.ts'
import { campaignFunction } from '../../src/shared/campaigns/campaign-function.ts'
import { createFunctionApp } from '../../src/shared/http/function-app.ts'
import type { RecipientFileStore } from '../../src/shared/storage/recipient-files.ts'
import { asStaff, createTestDeps } from '../support/app.ts'
import { resetDatabase, useTestDatabase } from '../support/database.ts'
import { useFakes } from '../support/fakes.ts'

/** A test file's database, Missive fake and recipient-file folder, and a client for the campaign API. */
export function useCampaignApi() {
  const db = useTestDatabase()
  const fakes = useFakes()
  const fileDir = mkdtempSync(join(tmpdir(), 'campaign-files-'))
  beforeEach(async () => {
    await resetDatabase(db.sql)
    rmSync(fileDir, { recursive: true, force: true })
  })
  afterAll(() => rmSync(fileDir, { recursive: true, force: true }))

  const storedFiles = (): string[] => {
    const bucket = join(fileDir, 'campaign-recipients')
    return existsSync(bucket) ? readdirSync(bucket).sort() : []
  }

  /** `files: null` injects no store (a deployment without one); the default keeps files in a temp folder. */
  function api(
    options: { now?: () => Date; files?: RecipientFileStore | null; env?: Record<string, string | undefined> } = {},
  ) {
    const deps = {
      ...createTestDeps(db.sql, { env: { ...fakes.env, ...options.env }, now: options.now }),
      recipientFiles: options.files === null ? undefined : options.files ?? diskRecipientFiles(fileDir),
    }
    const app = asStaff(createFunctionApp(campaignFunction, deps))
    const send = async (
      method: string,
      path: string,
      init: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
    ) => {
      const headers: Record<string, string> = { ...init.headers }
      let body = init.body
      if (init.json !== undefined) {
        headers['content-type'] = 'application/json'
        body = typeof init.json === 'string' ? init.json : JSON.stringify(init.json)
      }
      const response = await app.request(`/campaigns${path}`, { method, headers, body })
      const text = await response.text()
      let parsed: any = text
      try {
        parsed = text ? JSON.parse(text) : null
      } catch { /* keep the text */ }
      return { status: response.status, body: parsed, headers: response.headers }
    }
    return {
      app,
      get: (path: string) => send('GET', path),
      post: (path: string, json?: unknown) => send('POST', path, { json: json ?? {} }),
      patch: (path: string, json: unknown) => send('PATCH', path, { json }),
      delete: (path: string) => send('DELETE', path),
      postForm: (form: FormData) => send('POST', '/', { body: form }),
      send,
    }
  }

  return { db, fakes, api, storedFiles, fileDir }
}

export const futureSeconds = (offsetSeconds = 86400) => Math.floor(Date.now() / 1000) + offsetSeconds

export function csvForm(
  fields: Record<string, string>,
  file?: { name: string; content: string | Uint8Array; type?: string },
): FormData {
  const form = new FormData()
  if (file) form.append('file', new File([file.content as BlobPart], file.name, { type: file.type ?? 'text/csv' }))
  for (const [key, value] of Object.entries(fields)) form.append(key, value)
  return form
}
