/**
 * What this tab was doing (who, which rooms, which one on screen), so a reload goes straight
 * back, and its outbox is flushed. sessionStorage: one tab's, surviving only its reloads.
 */
const KEY = "pulse.current";
/** Rooms remembered per tab; the server has its own limit, this only bounds what we parse. */
const MAX_ROOMS = 50;

export interface TabState {
  nick: string;
  rooms: string[];
  current: string | null;
}

export function saveTab(state: TabState): void {
  sessionStorage.setItem(KEY, JSON.stringify(state));
}

export function forgetTab(): void {
  sessionStorage.removeItem(KEY);
}

/** The saved state, or null when there is none or it is damaged (then the join form shows). */
export function restoreTab(): TabState | null {
  let value: unknown;
  try {
    value = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { nick, rooms, current } = value as Record<string, unknown>;
  if (typeof nick !== "string" || !Array.isArray(rooms)) return null;
  const names = rooms.filter((room): room is string => typeof room === "string").slice(0, MAX_ROOMS);
  if (names.length === 0) return null;
  return { nick, rooms: names, current: typeof current === "string" && names.includes(current) ? current : null };
}
