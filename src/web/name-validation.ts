/** Longest nickname the server accepts by default (its `maxNickLength`). */
export const MAX_NICK_LENGTH = 32;
/** Longest room name the server accepts. */
export const MAX_ROOM_LENGTH = 64;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Why a nickname or room name cannot be used, as a sentence for the person, or null when it
 * is fine. The server checks the same things; asking here first means a Join button that
 * explains instead of doing nothing. `what` is "nickname" or "room name".
 */
export function nameProblem(value: string, what: "nickname" | "room name", maxLength: number): string | null {
  if (value === "") return `Enter a ${what}.`;
  if (value.trim() === "") return `A ${what} cannot be only spaces.`;
  if (value.trim().length > maxLength) return `A ${what} is at most ${maxLength} characters.`;
  if (CONTROL.test(value)) return `A ${what} cannot contain control characters.`;
  return null;
}
