import type { Db } from '../db/client.ts'
import type { QueueName } from './names.ts'

// Small typed wrappers over pgmq (STYLE.md #9). Every value is a parameter (upstream spliced them
// into `$$…$$` literals, so a message containing `$$` broke the follow-up enqueue after the first
// SMS had gone out). Explicit casts pick the right overload on the real extension, which has
// several `send`/`read` signatures.

export interface QueueRow<T = unknown> {
  msgId: number
  readCt: number
  enqueuedAt: Date
  vt: Date
  message: T
}

interface RawRow {
  msg_id: string
  read_ct: number
  enqueued_at: Date
  vt: Date
  message: unknown
}

function toRow(row: RawRow): QueueRow {
  return {
    msgId: Number(row.msg_id),
    readCt: row.read_ct,
    enqueuedAt: row.enqueued_at,
    vt: row.vt,
    message: row.message,
  }
}

/**
 * Claims up to `qty` visible messages for `vtSeconds`: pgmq's read locks with SKIP LOCKED and
 * pushes `vt` forward, so concurrent readers never get the same message until that lease ends.
 */
export async function readMessages(db: Db, queue: QueueName, vtSeconds: number, qty: number): Promise<QueueRow[]> {
  const rows = await db<RawRow[]>`
    SELECT msg_id, read_ct, enqueued_at, vt, message
    FROM pgmq.read(${queue}::text, ${vtSeconds}::integer, ${qty}::integer)`
  return rows.map(toRow)
}

/** Enqueues one message, visible after `delaySeconds`; returns its msg_id. */
export async function sendMessage(db: Db, queue: QueueName, message: unknown, delaySeconds = 0): Promise<number> {
  const [row] = await db<{ msg_id: string }[]>`
    SELECT pgmq.send(${queue}::text, ${db.json(message as never)}::jsonb, ${
    Math.max(0, Math.round(delaySeconds))
  }::integer) AS msg_id`
  return Number(row!.msg_id)
}

/** Enqueues many messages with ONE statement (so the queue's insert trigger fires once). */
export async function sendMessages(db: Db, queue: QueueName, messages: unknown[], delaySeconds = 0): Promise<number[]> {
  if (messages.length === 0) return []
  const rows = await db<{ msg_id: string }[]>`
    SELECT pgmq.send_batch(${queue}::text, ${messages.map((m) => JSON.stringify(m))}::jsonb[], ${
    Math.max(0, Math.round(delaySeconds))
  }::integer) AS msg_id`
  return rows.map((row) => Number(row.msg_id))
}

export async function deleteMessage(db: Db, queue: QueueName, msgId: number): Promise<boolean> {
  const [row] = await db<{ deleted: boolean }[]>`SELECT pgmq.delete(${queue}::text, ${msgId}::bigint) AS deleted`
  return row!.deleted
}

/** Moves a message to `pgmq.a_<queue>` (the dead letter): never silently dropped. */
export async function archiveMessage(db: Db, queue: QueueName, msgId: number): Promise<boolean> {
  const [row] = await db<{ archived: boolean }[]>`SELECT pgmq.archive(${queue}::text, ${msgId}::bigint) AS archived`
  return row!.archived
}

/**
 * Makes a claimed message visible again in `seconds` (0 = now). pgmq's set_vt is not in the local
 * stand-in, so this updates the queue table, whose shape is the same everywhere.
 */
export async function setVisibleIn(db: Db, queue: QueueName, msgId: number, seconds: number): Promise<boolean> {
  const rows = await db`
    UPDATE ${db(`pgmq.q_${queue}`)}
    SET vt = clock_timestamp() + make_interval(secs => ${Math.max(0, seconds)}::double precision)
    WHERE msg_id = ${msgId}
    RETURNING msg_id`
  return rows.length > 0
}

/** Milliseconds until the next message becomes visible (0 if one is visible now), null if the queue is empty. */
export async function nextVisibleInMs(db: Db, queue: QueueName): Promise<number | null> {
  const [row] = await db<{ ms: string | null }[]>`
    -- greatest() ignores NULL, so an empty queue must stay NULL explicitly. bigint: a parked
    -- message (paused campaign) is years ahead, beyond an integer of milliseconds.
    SELECT CASE WHEN min(vt) IS NULL THEN NULL
                ELSE greatest(0, ceil(extract(epoch FROM min(vt) - clock_timestamp()) * 1000))::bigint END AS ms
    FROM ${db(`pgmq.q_${queue}`)}`
  return row?.ms == null ? null : Number(row.ms)
}
