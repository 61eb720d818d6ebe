import type { IncomingMessage } from "node:http";

/** Who a connection is, in the server's word. Nothing here comes from the client unproven. */
export interface Identity {
  /** Stable per user; the idempotency key of every message and the owner of nicknames. */
  userId: string;
  /** A nickname the identity provider vouches for; wins over the one asked for in `hello`. */
  name?: string;
  /**
   * Rooms this identity may join and read: exact names, or `prefix*` for every room that
   * starts with `prefix`. Absent: every room.
   */
  rooms?: string[];
  /**
   * Rooms this identity may write in (send to), among those it may join: exact names, or
   * `prefix*`. Absent: every room it may join except the server's `readOnlyRooms`; present, it
   * alone decides, so a moderator's token can name read-only rooms and a reader's can be `[]`.
   */
  write?: string[];
  /**
   * When the identity stops holding (ms since the epoch, as Date.now()): a connection still
   * open then is closed with 4008 and must come back with a fresh token. A JWT's `exp` plus
   * the clock tolerance its verification allows. Absent: for as long as the connection lives.
   */
  expiresAt?: number;
}

/** An authentication that says no: the connection is closed with `code` (see close-codes.ts). */
export interface AuthRefusal {
  refuse: { code: number; reason: string };
}

export type AuthResult = Identity | AuthRefusal;

export const isRefusal = (r: AuthResult): r is AuthRefusal => "refuse" in r;

/** What the client said about itself: a claim, until `authenticate` turns it into an Identity. */
export interface HelloClaim {
  nick: string;
  token?: string;
}

/**
 * The deployer's hook: decide who the connection is from the upgrade request (cookies,
 * headers, the remote address) and the `hello` (its token). Called once per connection.
 */
export type Authenticate = (request: IncomingMessage, hello: HelloClaim) => Promise<AuthResult>;

/** An authentication mode as the server runs it. */
export interface AuthMode {
  authenticate: Authenticate;
  /** Anonymous mode: a token the client keeps and presents on its next `hello`. */
  issueResumeToken?: (identity: Identity, nick: string) => Promise<string>;
}

/** The longest userId, nickname claim or room pattern an identity may carry (a JWT's `sub` and the rest). */
export const MAX_IDENTITY_FIELD_LENGTH = 256;
/** The most room patterns in an identity's `rooms` or `write`. */
export const MAX_ROOM_PATTERNS = 256;

/**
 * What is wrong with an identity an authentication produced, or null if nothing. A hook is the
 * deployer's code, but what it returns often comes from the request (a header, a cookie, a
 * claim): the userId is written twice into every message the user sends and into each name it
 * holds, and room lists are matched at every join, so each is bounded as a token's claims are.
 */
export function identityProblem(identity: Identity): string | null {
  const { userId, name, rooms, write, expiresAt } = identity as Partial<Record<keyof Identity, unknown>>;
  if (typeof userId !== "string" || userId.length === 0 || userId.length > MAX_IDENTITY_FIELD_LENGTH) return `its userId must be 1-${MAX_IDENTITY_FIELD_LENGTH} characters`;
  if (name !== undefined && (typeof name !== "string" || name.length > MAX_IDENTITY_FIELD_LENGTH)) return `its name must be a string of at most ${MAX_IDENTITY_FIELD_LENGTH} characters`;
  if (rooms !== undefined && !isRoomList(rooms)) return `its rooms must be a list of at most ${MAX_ROOM_PATTERNS} room names`;
  if (write !== undefined && !isRoomList(write)) return `its write must be a list of at most ${MAX_ROOM_PATTERNS} room names`;
  if (expiresAt !== undefined && (typeof expiresAt !== "number" || Number.isNaN(expiresAt))) return "its expiresAt must be a number (ms since the epoch)";
  return null;
}

function isRoomList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length <= MAX_ROOM_PATTERNS && value.every((r) => typeof r === "string" && r.length > 0 && r.length <= MAX_IDENTITY_FIELD_LENGTH);
}

/** Whether `room` is inside an allow-list of exact names and `prefix*` patterns. */
export function roomAllowed(rooms: readonly string[] | undefined, room: string): boolean {
  if (!rooms) return true;
  for (const pattern of rooms) {
    if (pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern) return true;
  }
  return false;
}

/**
 * An identity's room patterns as the server names rooms (NFKC): a token or a login may spell
 * `café` decomposed, or `ﬁnance` with a ligature, and still mean the room every client reaches
 * by either spelling. Unnormalized, such a pattern matched no room at all. Only an ASCII `*`
 * the issuer wrote makes a prefix: an exact name that NFKC would end in `*` (`team＊`) is kept
 * as written, matching nothing, rather than widened to every room starting with `team`.
 */
export function asRoomsAreNamed(patterns: readonly string[]): string[] {
  return patterns.map((pattern) => (widensToPrefix(pattern) ? pattern : pattern.normalize("NFKC")));
}

/** Whether NFKC would turn an exact room name into a prefix pattern (`team＊` into `team*`). */
export const widensToPrefix = (pattern: string): boolean => !pattern.endsWith("*") && pattern.normalize("NFKC").endsWith("*");
