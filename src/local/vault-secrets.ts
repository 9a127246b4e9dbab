import type { Sql } from '../shared/db/client.ts'

/**
 * Creates or rotates a Vault secret the way an operator must on Supabase: `vault.create_secret`
 * the first time, `vault.update_secret` after. On the real Vault `vault.secrets.secret` holds
 * ciphertext, so writing a value into that column directly leaves a row the
 * `vault.decrypted_secrets` view cannot decrypt, and every call from the database to a function
 * fails. The local stack and the tests use this helper so the pattern people copy is the right one.
 */
export async function storeVaultSecret(sql: Sql, name: string, value: string): Promise<void> {
  const [existing] = await sql<{ id: string }[]>`SELECT id FROM vault.secrets WHERE name = ${name}`
  if (existing) await sql`SELECT vault.update_secret(${existing.id}::uuid, ${value})`
  else await sql`SELECT vault.create_secret(${value}, ${name})`
}
