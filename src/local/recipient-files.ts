import { mkdir, rm, writeFile } from 'node:fs/promises'
import { isAbsolute, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { RECIPIENT_FILE_BUCKET, type RecipientFileStore } from '../shared/storage/recipient-file-store.ts'

/**
 * The local stack's stand-in for Supabase Storage: `<dir>/campaign-recipients/<name>` on disk
 * (CAMPAIGN_FILE_DIR, `.local/storage` by default), kept as a `file://` URL. Inject it beside the
 * deps (`{ ...deps, recipientFiles: diskRecipientFiles(config.CAMPAIGN_FILE_DIR) }`) when
 * SUPABASE_URL is not set.
 */
export function diskRecipientFiles(dir: string): RecipientFileStore {
  const root = join(isAbsolute(dir) ? dir : resolve(dir), RECIPIENT_FILE_BUCKET)
  return {
    async save(name, content) {
      if (name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new Error(`unsafe file name ${name}`)
      await mkdir(root, { recursive: true })
      const path = join(root, name)
      await writeFile(path, content)
      return pathToFileURL(path).href
    },
    async remove(url) {
      const path = fileURLToPath(url)
      // Only files this store wrote: a stored URL never reaches outside the bucket folder.
      if (!path.startsWith(root + sep)) throw new Error(`${url} is not a recipient file of ${root}`)
      await rm(path, { force: true })
    },
  }
}
