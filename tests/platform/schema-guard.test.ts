import { describe, expect, it } from 'vitest'
import type { Sql } from '../../src/shared/db/client.ts'
import { createTestDatabase, type TestDatabase } from '../support/database.ts'

// The schema guard (issue 10 §4, docs/security.md): a later migration cannot quietly reopen what
// 20261130900200_deny_by_default.sql closed. It reads the catalog of a database migrated from
// empty, and of one migrated over Supabase's roles with an older project's default grants.

/** Everything in `public` that the anon key or any signed-in user could reach; [] when closed. */
export async function publicSchemaViolations(sql: Sql): Promise<string[]> {
  const rows = await sql<{ violation: string }[]>`
    WITH roles AS (SELECT oid FROM pg_roles WHERE rolname IN ('anon', 'authenticated'))
    -- Tables of extensions are skipped, as the migration skips them.
    SELECT format('table %s has no row level security', c.oid::regclass) AS violation
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('policy %I on %s applies to %s', pol.polname, pol.polrelid::regclass,
                  CASE WHEN 0 = ANY (pol.polroles) THEN 'PUBLIC' ELSE 'anon' END)
    FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
    WHERE c.relnamespace = 'public'::regnamespace
      AND (0 = ANY (pol.polroles) OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'anon' AND r.oid = ANY (pol.polroles)))
    UNION ALL
    SELECT format('function %s is executable by %s', p.oid::regprocedure, coalesce(r.rolname, 'PUBLIC'))
    FROM pg_proc p
    CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS acl
    LEFT JOIN pg_roles r ON r.oid = acl.grantee
    WHERE p.pronamespace = 'public'::regnamespace AND acl.privilege_type = 'EXECUTE'
      AND (acl.grantee = 0 OR r.rolname = 'anon')
    UNION ALL
    -- Beyond the conversation sidebar's column grants, no privilege for the API roles.
    SELECT format('%s has %s on table %s', r.rolname, acl.privilege_type, c.oid::regclass)
    FROM pg_class c
    CROSS JOIN LATERAL aclexplode(c.relacl) AS acl
    JOIN pg_roles r ON r.oid = acl.grantee AND r.oid IN (SELECT oid FROM roles)
    WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s has %s on column %s.%I', r.rolname, acl.privilege_type, a.attrelid::regclass, a.attname)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid AND c.relnamespace = 'public'::regnamespace
    CROSS JOIN LATERAL aclexplode(a.attacl) AS acl
    JOIN pg_roles r ON r.oid = acl.grantee AND r.oid IN (SELECT oid FROM roles)
    WHERE NOT (r.rolname = 'authenticated' AND acl.privilege_type = 'SELECT' AND (c.relname, a.attname::text) IN (
      ('authors', 'phone_number'), ('authors', 'zipcode'), ('authors', 'email'),
      ('comments', 'id'), ('comments', 'conversation_id'),
      ('twilio_messages', 'id'), ('twilio_messages', 'to_field')))
    UNION ALL
    SELECT format('%s may execute %s', r.rolname, p.oid::regprocedure)
    FROM pg_proc p
    CROSS JOIN LATERAL aclexplode(p.proacl) AS acl
    JOIN pg_roles r ON r.oid = acl.grantee AND r.oid IN (SELECT oid FROM roles)
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT (r.rolname = 'authenticated' AND p.oid = 'public.is_sidebar_staff()'::regprocedure)
    ORDER BY 1`
  return rows.map((row) => row.violation)
}

async function withDatabase<T>(legacySupabaseGrants: boolean, use: (db: TestDatabase) => Promise<T>): Promise<T> {
  const db = await createTestDatabase({ legacySupabaseGrants })
  try {
    return await use(db)
  } finally {
    await db.drop()
  }
}

describe('schema guard', () => {
  it('finds nothing open on a database migrated from empty (stock PostgreSQL, no Supabase roles)', async () => {
    await withDatabase(false, async ({ sql }) => expect(await publicSchemaViolations(sql)).toEqual([]))
  })

  it("finds nothing open on a database migrated over an older Supabase project's default grants", async () => {
    await withDatabase(true, async ({ sql }) => {
      // The per-schema defaults that granted anon every new table are gone (see the next test).
      const [{ defaults }] = await sql`
        SELECT count(*)::int AS defaults FROM pg_default_acl d
        CROSS JOIN LATERAL aclexplode(d.defaclacl) AS acl
        JOIN pg_roles r ON r.oid = acl.grantee AND r.rolname = 'anon'`
      expect(defaults).toBe(0)
      expect(await publicSchemaViolations(sql)).toEqual([])
    })
  })

  it('objects created by a later migration are closed by the default privileges, except RLS, which it reports', async () => {
    await withDatabase(true, async ({ sql }) => {
      await sql`CREATE TABLE public.later_table (id int)`
      await sql`CREATE FUNCTION public.later_function() RETURNS int LANGUAGE sql AS 'SELECT 1'`
      expect(await publicSchemaViolations(sql)).toEqual(['table later_table has no row level security'])
    })
  })

  it('reports a reopened schema: a table without RLS, a policy for PUBLIC or anon, a function for PUBLIC or anon', async () => {
    await withDatabase(true, async ({ sql }) => {
      await sql.unsafe(`
        ALTER TABLE public.authors DISABLE ROW LEVEL SECURITY;
        CREATE POLICY "everyone" ON public.broadcasts FOR SELECT USING (true);
        CREATE POLICY "anon reads" ON public.campaigns FOR SELECT TO anon USING (true);
        GRANT EXECUTE ON FUNCTION public.queue_broadcast_messages(integer) TO PUBLIC;
        GRANT EXECUTE ON FUNCTION public.check_and_trigger_broadcast(timestamptz) TO anon;
        GRANT SELECT ON public.users TO authenticated;
        GRANT UPDATE (zipcode) ON public.authors TO authenticated;`)
      expect(await publicSchemaViolations(sql)).toEqual([
        'anon may execute check_and_trigger_broadcast(timestamp with time zone)',
        'authenticated has SELECT on table users',
        'authenticated has UPDATE on column authors.zipcode',
        'function check_and_trigger_broadcast(timestamp with time zone) is executable by anon',
        'function queue_broadcast_messages(integer) is executable by PUBLIC',
        'policy "anon reads" on campaigns applies to anon',
        'policy everyone on broadcasts applies to PUBLIC',
        'table authors has no row level security',
      ])
    })
  })
})
