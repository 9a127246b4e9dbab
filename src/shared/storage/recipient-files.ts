import type { Config } from '../config/env.ts'
import { AppError } from '../http/errors.ts'
import type { RecipientFileStore } from './recipient-file-store.ts'
import { supabaseRecipientFiles } from './supabase-recipient-files.ts'

export { RECIPIENT_FILE_BUCKET, recipientFileName, type RecipientFileStore } from './recipient-file-store.ts'

/**
 * An injected store (`deps.recipientFiles`) wins; otherwise Supabase Storage when SUPABASE_URL is
 * set. The local disk store (src/local/recipient-files.ts) uses `node:fs`, which code in src/shared
 * may not import, so the local stack and the tests hand it in through the deps.
 */
export function recipientFilesFor(config: Config, injected?: RecipientFileStore): RecipientFileStore {
  if (injected) return injected
  if (config.SUPABASE_URL) return supabaseRecipientFiles(config)
  return unconfiguredRecipientFiles
}

// Without a store a CSV campaign cannot be created at all: creation is all or nothing, and
// upstream's "keep the campaign, log the failed upload" left campaigns that sent to nobody.
const unconfiguredRecipientFiles: RecipientFileStore = {
  save: () => {
    throw new AppError(
      503,
      'Recipient files cannot be stored: set SUPABASE_URL (Supabase Storage), or inject a local store (src/local/recipient-files.ts)',
    )
  },
  remove: async () => {},
}
