/**
 * Permission entries (TUNELOOP_SPENDERS, TUNELOOP_ADMINS): who an entry stands for is decided by how it is written,
 * never by what a role happens to be called.
 *
 * - `U0ALICE01`, `123456789012345678`: an id. It matches the user with that id, or a Slack user group or Discord
 *   role with that id. Ids are given by the platform; nobody can choose one that spells another's.
 * - `user:ID`: that user only.
 * - `role:NAME` (also `group:NAME`, or `@NAME` as Slack writes a group's handle): a Discord role or Slack user group
 *   by its name or handle, case-insensitive. Names are chosen by people, so they match only where an entry says it
 *   means a name: a role named like an admin's user id grants nothing.
 * A bare word that is not an id (e.g. `trainers`) is refused when settings load, with how to write it.
 */

export type Principal = { kind: "id"; id: string } | { kind: "user"; id: string } | { kind: "role"; name: string };

/** Discord snowflakes (digits) and Slack ids (U…, W…, S…, B…, T…, E…: capitals and digits). */
const ID_RE = /^(\d{5,25}|[UWSBTE][A-Z0-9]{4,24})$/;
const isId = (s: string) => ID_RE.test(s) && /\d/.test(s);

/** Parses one entry; a string (what to write instead) when it is not one. */
export function parsePrincipal(entry: string): Principal | string {
  const e = entry.trim();
  const m = /^(user|role|group):(.*)$/i.exec(e);
  if (m) {
    const value = m[2].trim();
    if (!value) return `"${e}" names no ${m[1].toLowerCase()}`;
    if (m[1].toLowerCase() === "user") {
      return isId(value) ? { kind: "user", id: value } : `"${e}": user: takes a user id (e.g. user:U0123ABCD)`;
    }
    return { kind: "role", name: value.replace(/^@/, "") };
  }
  if (e.startsWith("@") && e.length > 1) return { kind: "role", name: e.slice(1) };
  if (isId(e)) return { kind: "id", id: e };
  return `"${e}" is not an id: write role:${e} for a Discord role or Slack user group by name, or the user's or role's id`;
}

/** The problems of a comma-separated list of entries (empty when every entry is valid). */
export function principalProblems(entries: readonly string[]): string[] {
  return entries.map(parsePrincipal).filter((p): p is string => typeof p === "string");
}

export interface Member {
  id: string;
  roles?: ReadonlyArray<{ id: string; name?: string }>;
}

const sameName = (a: string, b: string) => a.replace(/^@/, "").toLowerCase() === b.replace(/^@/, "").toLowerCase();

/** Whether any entry stands for this member (invalid entries stand for nobody). */
export function matchesAny(entries: readonly string[], member: Member): boolean {
  const roles = member.roles ?? [];
  return entries.some((entry) => {
    const p = parsePrincipal(entry);
    if (typeof p === "string") return false;
    if (p.kind === "user") return member.id === p.id;
    if (p.kind === "id") return member.id === p.id || roles.some((r) => r.id === p.id);
    return roles.some((r) => r.name !== undefined && sameName(r.name, p.name));
  });
}
