import type { Context } from 'hono'
import { badRequest } from '../http/errors.ts'

const FORM_FIELDS = ['title', 'firstMessage', 'secondMessage', 'runAt', 'delay', 'campaignLabelName']

export interface CampaignForm {
  /** The form's fields as the JSON schema expects them (numbers for runAt/delay); unknown fields kept so the strict schema names them. */
  fields: Record<string, unknown>
  file: File | null
}

/**
 * The sidebar's multipart create (clients.md §1.6): `file` plus text parts; `title` is always sent
 * ('' when empty), `runAt` and `delay` are numbers in text. Empty `delay`/`runAt`/label parts count
 * as absent, as upstream.
 */
export async function readCampaignForm(c: Context): Promise<CampaignForm> {
  let form: FormData
  try {
    form = await c.req.formData()
  } catch {
    throw badRequest('Malformed multipart body: send multipart/form-data with a `file` part and the campaign fields')
  }
  const fields: Record<string, unknown> = {}
  let file: File | null = null
  for (const [key, value] of form.entries()) {
    if (key === 'file') {
      if (typeof value !== 'string') file = value
      else throw badRequest('`file` must be an uploaded CSV file, not text')
      continue
    }
    const text = typeof value === 'string' ? value : '(file)'
    if (!FORM_FIELDS.includes(key)) {
      fields[key] = text
    } else if (key === 'runAt' || key === 'delay') {
      if (text.trim() !== '') fields[key] = Number(text)
    } else if (key === 'campaignLabelName') {
      if (text.trim() !== '') fields[key] = text
    } else {
      fields[key] = text
    }
  }
  return { fields, file }
}
