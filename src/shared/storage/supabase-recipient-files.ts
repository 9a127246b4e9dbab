import { createClient } from '@supabase/supabase-js'
import type { Config } from '../config/env.ts'
import { RECIPIENT_FILE_BUCKET, type RecipientFileStore } from './recipient-file-store.ts'

/**
 * Supabase Storage through supabase-js, as upstream: bucket `campaign-recipients`, upsert, the
 * bucket's public URL kept. Authenticated with the project's secret key (Storage accepts it as
 * the service role).
 */
export function supabaseRecipientFiles(
  config: Pick<Config, 'SUPABASE_URL' | 'SUPABASE_SECRET_KEYS'>,
): RecipientFileStore {
  const url = config.SUPABASE_URL
  if (!url) throw new Error('SUPABASE_URL is required for Supabase Storage')
  const key = config.SUPABASE_SECRET_KEYS.default ?? Object.values(config.SUPABASE_SECRET_KEYS)[0]
  const client = createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  })
  const bucket = () => client.storage.from(RECIPIENT_FILE_BUCKET)

  return {
    async save(name, content, contentType) {
      const { error } = await bucket().upload(name, content, { upsert: true, contentType })
      if (error) throw new Error(`Supabase Storage could not store ${name}: ${error.message}`)
      return bucket().getPublicUrl(name).data.publicUrl
    },
    async remove(fileUrl) {
      // Upstream's rule: the object is the last path segment of the stored URL.
      const name = decodeURIComponent(new URL(fileUrl).pathname.split('/').pop() ?? '')
      if (!name) return
      const { error } = await bucket().remove([name])
      if (error) throw new Error(`Supabase Storage could not remove ${name}: ${error.message}`)
    },
  }
}
