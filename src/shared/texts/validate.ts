import type { z } from 'zod'
import { parsePlaceholders } from './placeholders.ts'

/**
 * zod refinement for a broadcast or campaign text: each placeholder problem becomes an issue on
 * that field, naming the placeholder and its position, so the route answers 400 at save time.
 * A text without `{{` passes untouched, exactly as before placeholders existed.
 */
export function refinePlaceholders(text: string | null | undefined, ctx: z.RefinementCtx): void {
  if (!text || !text.includes('{{')) return
  const parsed = parsePlaceholders(text)
  if (parsed.ok) return
  for (const error of parsed.errors) ctx.addIssue({ code: 'custom', message: error.message, input: text })
}
