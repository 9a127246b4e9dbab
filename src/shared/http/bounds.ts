// Ranges of what the database can hold, so bad input is a 400 naming the field rather than a
// PostgreSQL error (a 500): `integer` columns and ids, and Unix times PostgreSQL can turn into a
// timestamptz that a client can read back (up to 9999-12-31).

/** The largest value of a PostgreSQL `integer` (serial ids, delay, no_users, …). */
export const INT4_MAX = 2_147_483_647

/** 9999-12-31T23:59:59Z in Unix seconds. */
export const MAX_UNIX_SECONDS = 253_402_300_799
