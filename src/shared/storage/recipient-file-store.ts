/** Supabase Storage bucket of uploaded recipient CSVs (upstream's name, created by the platform migration). */
export const RECIPIENT_FILE_BUCKET = 'campaign-recipients'

/**
 * Where the CSV behind a file-based campaign is kept. The recipients themselves are rows in
 * campaign_file_recipients; the file is the editor's original, kept for reference, and its URL
 * lands in campaigns.recipient_file_url.
 */
export interface RecipientFileStore {
  /** Stores (or replaces) the object `name`; returns the URL to keep. Throws when it could not. */
  save(name: string, content: Uint8Array, contentType: string): Promise<string>
  /** Removes what a URL from `save` points at; a file that is already gone is not an error. */
  remove(url: string): Promise<void>
}

/** `campaign-12.csv`: upstream's object name (the extension only when it is short and plain). */
export function recipientFileName(campaignId: number, uploadedName: string): string {
  const extension = uploadedName.includes('.') ? uploadedName.split('.').pop() ?? '' : ''
  return /^[A-Za-z0-9]{1,10}$/.test(extension) ? `campaign-${campaignId}.${extension}` : `campaign-${campaignId}`
}
