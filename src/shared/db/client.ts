import postgres from 'postgres'

export type Sql = postgres.Sql
export type TransactionSql = postgres.TransactionSql
/** Either the pool or an open transaction: query modules accept both (STYLE.md #8). */
export type Db = Sql | TransactionSql

export interface DbOptions {
  max?: number
  /** Seconds an idle pooled connection is kept; edge functions are short-lived. */
  idleTimeout?: number
}

/**
 * One pooled postgres.js client per process. `prepare: false` keeps it compatible with Supabase's
 * transaction-mode pooler (DB_POOL_URL), which cannot hold named prepared statements.
 */
export function createSql(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 5,
    idle_timeout: options.idleTimeout ?? 20,
    prepare: false,
    onnotice: () => {},
    connection: { application_name: 'txt-outlier-functions' },
  })
}
