/**
 * A Missive user as a webhook names it. Fields left undefined are unknown, not empty: a user who is
 * only @-mentioned comes with nothing but an id, and upstream stored `name: '', email: ''` for them,
 * wiping the real name and email (spec §8.4 #24). Unknown fields never overwrite stored ones.
 */
export interface UserFacts {
  id: string
  name?: string | null
  email?: string | null
  avatarUrl?: string | null
}

/** One entry per id, keeping the first known value of each field; sorted by id (the lock order). */
export function mergeUsers(users: UserFacts[]): UserFacts[] {
  const byId = new Map<string, UserFacts>()
  for (const user of users) {
    const known = byId.get(user.id)
    if (!known) {
      byId.set(user.id, { ...user })
      continue
    }
    known.name ??= user.name
    known.email ??= user.email
    known.avatarUrl ??= user.avatarUrl
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
