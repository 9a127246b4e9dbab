import type { Sql, TransactionSql } from '../db/client.ts'
import { lockRecipientForClaim } from '../opt-out/recipient-lock.ts'
import type { QueuedMessage, QueueName } from '../queue/index.ts'
import type { QuietVerdict } from '../schedule/quiet-hours.ts'
import type { Recipient } from '../texts/placeholders.ts'
import { checkEligibility, type Verdict } from './eligibility.ts'
import { type Claim, claimForSending, recordSkip, type SendKey } from './ledger.ts'

// The last look before the Missive call and the ledger claim, in ONE transaction, taken after the
// wait for a rate slot (issue 9 item 2). Upstream, and this sender before, checked eligibility and
// then claimed in separate statements while holding a queue message it had read seconds earlier:
// a reply that deleted the follow-up from the queue in the meantime was never noticed, and the
// reader got the follow-up anyway.
//
// Why it is atomic:
//   - The queue row is locked FOR UPDATE. A reply or opt-out removes a follow-up with pgmq.delete:
//     if it committed, the row is gone and nothing is claimed; if it is in progress, the lock
//     waits for it and then finds the row gone; if it comes later, its delete waits for our commit
//     (the claim is then the earlier event, and the follow-up goes out).
//   - Before eligibility is read, the recipient is locked: its authors row FOR SHARE (any UPDATE
//     of `unsubscribed`, whoever makes it, either committed before, and we see it and skip, or
//     waits for the claim to commit), and the per-number lock that unsubscribeAuthor takes
//     (opt-out/recipient-lock.ts), which also covers a number with no authors row yet.
// The guarantee is therefore "no claim after a committed reply or opt-out". A reply or opt-out
// that commits after the claim finds the text already on its way: it cannot be called back.
//
// The text is rendered here too (issue 14): from the authors row just locked, i.e. this recipient's
// own row as of the claim, and recorded with the claim (message_sends.sent_text), so what the
// ledger says was sent is exactly what Missive is asked to send.
//
// Quiet hours are judged here as well, last, immediately before the claim (issue 14 part 3): a
// drain that read a message at 20:59:59 and then waited for a rate slot, or for a lock, must not
// send at 21:00:01. The clock is read after every wait, and once it says quiet, no claim is made
// (so no ledger row blocks the send in the morning) and the message stays queued.

export type LastLook =
  | { kind: 'claimed'; claim: Claim; text: string }
  /** The queue message was removed before the claim (a reply or an opt-out): recorded as skipped. */
  | { kind: 'withdrawn'; reason: string }
  | { kind: 'not-eligible'; verdict: Exclude<Verdict, { kind: 'send' }> }
  /** Another queue message owns this recipient and phase (or the withdrawal could not be recorded). */
  | { kind: 'taken' }
  /** Quiet hours: hold it, or (a follow-up pushed past 12 h) skip it. Nothing written. */
  | { kind: 'quiet'; verdict: Exclude<QuietVerdict, { kind: 'send' }> }

const DEADLOCK = '40P01'
const ATTEMPTS = 3

/** The queue message to look at last and claim, with what the claim asks of its caller. */
export interface ClaimRequest {
  key: SendKey
  queue: QueueName
  msgId: number
  message: QueuedMessage
  /** Renders the text for the recipient row the claim has locked. */
  textFor: (recipient: Recipient | null) => string
  /** Quiet hours, asked last, on the sender's clock. */
  quietCheck: () => QuietVerdict
}

export async function lastLookAndClaim(sql: Sql, request: ClaimRequest): Promise<LastLook> {
  for (let attempt = 1;; attempt++) {
    try {
      return await sql.begin((tx) => lastLookIn(tx, request)) as LastLook
    } catch (error) {
      // An opt-out locks the author and then the number's other follow-ups, the reverse of this
      // order; PostgreSQL breaks such a cycle by aborting one side. Nothing was claimed: look again.
      if ((error as { code?: string }).code !== DEADLOCK || attempt >= ATTEMPTS) throw error
    }
  }
}

async function lastLookIn(
  tx: TransactionSql,
  { key, queue, msgId, message, textFor, quietCheck }: ClaimRequest,
): Promise<LastLook> {
  const queued = await tx`SELECT msg_id FROM ${tx(`pgmq.q_${queue}`)} WHERE msg_id = ${msgId} FOR UPDATE`
  if (queued.length === 0) {
    const reason = `${key.isSecond ? 'follow-up' : 'message'} withdrawn before the send: ` +
      'its queue message was removed (a reply or opt-out)'
    return (await recordSkip(tx, key, queue, msgId, reason)) ? { kind: 'withdrawn', reason } : { kind: 'taken' }
  }

  const recipient = await lockRecipient(tx, key.phone)
  const verdict = await checkEligibility(tx, message, key.isSecond)
  if (verdict.kind !== 'send') return { kind: 'not-eligible', verdict }

  const quiet = quietCheck()
  if (quiet.kind !== 'send') return { kind: 'quiet', verdict: quiet }

  const text = textFor(recipient)
  const claim = await claimForSending(tx, key, queue, msgId, text)
  return claim ? { kind: 'claimed', claim, text } : { kind: 'taken' }
}

/** Locks the recipient and returns the columns its text may draw from (null: no authors row). */
async function lockRecipient(tx: TransactionSql, phone: string): Promise<Recipient | null> {
  await lockRecipientForClaim(tx, phone)
  const [author] = await tx<Recipient[]>`
    SELECT name, zipcode FROM public.authors WHERE phone_number = ${phone} FOR SHARE`
  return author ?? null
}
