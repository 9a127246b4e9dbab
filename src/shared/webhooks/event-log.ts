import type { Db, Sql } from '../db/client.ts'
import type { Logger } from '../log/logger.ts'

// The webhook's own records: every verified JSON request in invoke_history, the Missive rule that
// sent it in rules, failures in errors (upstream's tables and keys, spec §2.11.2).

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface RuleFacts {
  id: string | null
  description: string | null
  type: string | null
}

/** Best-effort reading of a body that may not match the schema, for the records of a rejection. */
export function probeBody(body: unknown): { rule: RuleFacts; conversationId: string | null } {
  const record = (value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  const text = (value: unknown) => (typeof value === 'string' ? value : null)
  const guid = (value: unknown) => (typeof value === 'string' && GUID.test(value) ? value : null)
  const rule = record(record(body)?.rule)
  return {
    rule: { id: guid(rule?.id), description: text(rule?.description), type: text(rule?.type) },
    conversationId: guid(record(record(body)?.conversation)?.id),
  }
}

export interface InvocationRecord {
  /** The request body, already known to be valid JSON (stored as jsonb without re-serialising it). */
  rawBody: string
  conversationId: string | null
  /** Known rules are stored once; the description is never updated (upstream's DO NOTHING, §7.16). */
  rule?: { id: string; description: string | null; type: string }
  organization?: { id: string; name?: string | null } | null
}

/**
 * One statement, outside the handler's transaction: upstream moved the rule and organization
 * inserts out of it because every webhook shares them and holding their locks for the whole
 * transaction serialised (and deadlocked) concurrent deliveries (upstream #97/#99).
 */
export async function recordInvocation(db: Db, record: InvocationRecord): Promise<void> {
  const rule = record.rule
  const organization = record.organization
  await db`
    WITH history AS (
      INSERT INTO public.invoke_history (conversation_id, request_body)
      VALUES (${record.conversationId}::uuid, ${record.rawBody}::jsonb)
    ),
    rule AS (
      INSERT INTO public.rules (id, description, type)
      SELECT ${rule?.id ?? null}::uuid, ${rule?.description ?? ''}::text, ${rule?.type ?? ''}::text
      WHERE ${rule?.id ?? null}::uuid IS NOT NULL
      ON CONFLICT (id) DO NOTHING
    )
    INSERT INTO public.organizations (id, name)
    SELECT ${organization?.id ?? null}::uuid, ${organization?.name ?? ''}::text
    WHERE ${organization?.id ?? null}::uuid IS NOT NULL
    ON CONFLICT (id) DO NOTHING`
}

/**
 * An errors row for a failed or rejected webhook. Best effort: when the database itself is what
 * failed, the log line is all that is left.
 */
export async function recordFailure(
  sql: Sql,
  log: Logger,
  rawBody: string,
  rule: RuleFacts,
  message: string,
): Promise<void> {
  try {
    await sql`
      INSERT INTO public.errors (rule_id, rule_description, rule_type, message, request_body)
      VALUES (${rule.id}::uuid, ${rule.description}, ${rule.type}, ${message}, ${rawBody})`
  } catch (error) {
    log.error('Could not record the webhook failure', { error, failure: message })
  }
}

/**
 * Claims a delivery inside the handler's transaction. `webhook_deliveries` keeps, per conversation,
 * the SHA-256 of the last body processed for it. A delivery whose bytes equal that last one is a
 * redelivery (Missive retrying, or the same event twice): it changes nothing, so no second
 * conversation_history row or assignee snapshot. A concurrent copy waits for the first to commit,
 * then finds the key; if the first rolled back, the copy does the work. Only the LAST delivery
 * counts: "closed, reopened, closed" sends the first body again on purpose, and it is processed.
 * Returns false for a redelivery.
 */
export async function claimDelivery(db: Db, key: string, ruleType: string, conversationId: string): Promise<boolean> {
  const rows = await db`
    INSERT INTO public.webhook_deliveries AS d (conversation_id, last_key, rule_type)
    VALUES (${conversationId}, ${key}, ${ruleType})
    ON CONFLICT (conversation_id) DO UPDATE
      SET last_key = EXCLUDED.last_key, rule_type = EXCLUDED.rule_type, processed_at = now()
    WHERE d.last_key IS DISTINCT FROM EXCLUDED.last_key
    RETURNING d.conversation_id`
  return rows.length > 0
}

export async function deliveryKey(rawBody: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(rawBody)))
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('')
}
