import postgres from 'postgres'

/** A unique_violation (SQLSTATE 23505) raised by the named constraint or unique index. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  return error instanceof postgres.PostgresError && error.code === '23505' &&
    error.constraint_name === constraint
}
