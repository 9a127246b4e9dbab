import type { Config } from '../config/env.ts'
import type { Db } from '../db/client.ts'
import { AppError } from '../http/errors.ts'
import type { Logger } from '../log/logger.ts'
import type { MissiveClient } from '../missive/index.ts'

/**
 * The Missive shared label a named campaign applies to its conversations (upstream's
 * getLabelIdFromName, upstream-functions.md §2.9): the name lower-cased and trimmed; a known label
 * with that name (case-insensitive) is reused, otherwise it is created in Missive under
 * PARENT_CAMPAIGN_LABEL_ID, or found there when it already exists.
 *
 * Fixed (§8.5 #37): upstream created the campaign without its label when Missive failed, silently;
 * here the creation stops with a 502 and nothing is stored. A label created here is also written to
 * `labels`, so the next campaign with that name finds it without calling Missive.
 */
export async function resolveCampaignLabel(
  db: Db,
  missive: MissiveClient,
  config: Pick<Config, 'PARENT_CAMPAIGN_LABEL_ID'>,
  log: Logger,
  rawName: string | null | undefined,
): Promise<string | null> {
  const name = rawName?.toLowerCase().trim()
  if (!name) return null

  const [known] =
    await db`SELECT id FROM public.labels WHERE lower(trim(name)) = ${name} ORDER BY created_at, id LIMIT 1`
  if (known) return known.id

  const parentId = config.PARENT_CAMPAIGN_LABEL_ID ?? null
  const created = await missive.createSharedLabel({ name, parentId })
  let labelId: string | null = created.ok ? created.labelId : null
  if (!labelId) {
    // Missive refuses a duplicate name: the label may exist there without being in `labels` yet.
    const found = await missive.findSharedLabelByName(name)
    if (found.ok) labelId = found.labelId
    if (!labelId) {
      const reason = !created.ok ? created.error : 'no id returned'
      log.error('campaign label could not be created or found in Missive', { name, reason })
      throw new AppError(
        502,
        `Could not create the campaign label "${name}" in Missive (${reason}); nothing was created, try again`,
      )
    }
  }

  await rememberLabel(db, log, labelId, name, parentId)
  log.info('campaign label created in Missive', { name, labelId })
  return labelId
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Best effort: the label exists in Missive either way; the local copy only saves the next lookup. */
async function rememberLabel(
  db: Db,
  log: Logger,
  labelId: string,
  name: string,
  parentId: string | null,
): Promise<void> {
  if (!UUID.test(labelId)) return
  const parent = parentId && UUID.test(parentId) ? parentId : null
  try {
    await db`
      INSERT INTO public.labels (id, name, name_with_parent_names, parent)
      VALUES (${labelId}, ${name},
              coalesce((SELECT nullif(p.name_with_parent_names, '') || '/' FROM public.labels p WHERE p.id = ${parent}::uuid), '') || ${name},
              ${parent}::uuid)
      ON CONFLICT (id) DO NOTHING`
  } catch (error) {
    log.warn('campaign label not recorded in labels', { labelId, error })
  }
}
