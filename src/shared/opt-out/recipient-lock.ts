import type { Db } from '../db/client.ts'

// One lock per phone number, held to the end of the transaction, that serialises an opt-out with
// the sender's claim of a send to that number (src/shared/sending/claim.ts). A row lock on
// authors cannot do it for a number with no authors row yet (a personalized campaign's new
// number): there is nothing to lock until the opt-out's INSERT commits. Claims take it shared, so
// they never wait for one another; an opt-out takes it exclusively.

export async function lockRecipientForClaim(db: Db, phone: string): Promise<void> {
  await db`SELECT pg_advisory_xact_lock_shared(hashtext('txt_outlier.recipient'), hashtext(${phone}))`
}

export async function lockRecipientForOptOut(db: Db, phone: string): Promise<void> {
  await db`SELECT pg_advisory_xact_lock(hashtext('txt_outlier.recipient'), hashtext(${phone}))`
}
