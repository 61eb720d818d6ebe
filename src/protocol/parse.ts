import { ErrorCode, type ClientMessage, type ServerMessage } from "./messages.js";

/** What the parser returns for a frame it cannot accept. Sent back as an `error` message. */
export interface ProtocolError {
  type: "protocol_error";
  code: ErrorCode;
  message: string;
}

export const isProtocolError = (v: unknown): v is ProtocolError =>
  typeof v === "object" && v !== null && (v as { type?: unknown }).type === "protocol_error";

type FieldKind = "string" | "int" | "number" | "boolean" | "array" | "object";
/** Field name -> kind; a trailing "?" on the name marks it optional. */
type Shape = Record<string, FieldKind>;

const clientShapes: Record<ClientMessage["type"], Shape> = {
  hello: { clientId: "string", nick: "string", "token?": "string" },
  join: { room: "string", "since?": "int", "epoch?": "string" },
  leave: { room: "string" },
  send: { room: "string", id: "string", text: "string" },
  history: { room: "string", before: "int", "limit?": "int" },
  who: { room: "string", "after?": "string", "limit?": "int" },
  ping: { id: "int", sentAt: "number" },
  pong: { id: "int", sentAt: "number" },
};

const serverShapes: Record<ServerMessage["type"], Shape> = {
  welcome: {
    protocol: "int", sessionId: "string", nick: "string", userId: "string", "token?": "string",
    epoch: "string", serverTime: "number",
    liveness: "object", retry: "object", limits: "object", historyLimit: "int",
  },
  joined: { room: "string", seq: "int", recovered: "boolean", messages: "array", online: "array", onlineCount: "int", "readOnly?": "boolean" },
  left: { room: "string" },
  message: { room: "string", seq: "int", from: "string", text: "string", ts: "number" },
  ack: { room: "string", id: "string", seq: "int", ts: "number", duplicate: "boolean" },
  history: { room: "string", "before?": "int", messages: "array", hasMore: "boolean" },
  presence: { room: "string", changes: "array", count: "int" },
  who: { room: "string", count: "int", online: "array", more: "boolean" },
  goaway: { retryAfterMs: "number", reason: "string" },
  error: { code: "string", message: "string", "ref?": "string", "retryAfterMs?": "number" },
  ping: { id: "int", sentAt: "number" },
  pong: { id: "int", sentAt: "number" },
};

const fail = (code: ErrorCode, message: string): ProtocolError => ({
  type: "protocol_error",
  code,
  message,
});

function hasKind(value: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "int":
      return Number.isSafeInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
  }
}

/** The name of the first field of `o` that `shape` refuses, or null when it fits. */
function misfit(o: Record<string, unknown>, shape: Shape): { name: string; kind: FieldKind } | null {
  for (const key in shape) {
    const optional = key.endsWith("?");
    const name = optional ? key.slice(0, -1) : key;
    const field = o[name];
    if (field === undefined && optional) continue;
    const kind = shape[key]!;
    if (!hasKind(field, kind)) return { name, kind };
  }
  return null;
}

const fits = (shape: Shape) => (value: unknown): boolean => hasKind(value, "object") && misfit(value as Record<string, unknown>, shape) === null;
const everyItem = (check: (item: unknown) => boolean) => (value: unknown): boolean => Array.isArray(value) && value.every(check);
const isString = (value: unknown): boolean => typeof value === "string";

/**
 * What the arrays and objects of a server message must hold, per type and field. The client
 * reads them without looking again: a `joined` whose messages held a null, or a `presence`
 * whose changes did, threw out of the socket's message handler (in Node, an uncaught
 * exception that ended the app), and a `welcome` whose retry advice was not a pair of delays
 * (a string, a negative cap) made the reconnect delay NaN, that is no delay at all.
 */
type InnerChecks = Partial<Record<string, Record<string, (value: unknown) => boolean>>>;

const CHAT_MESSAGE: Shape = { room: "string", seq: "int", from: "string", text: "string", ts: "number" };
const fitsChange = fits({ event: "string", nick: "string", "reason?": "string" });
const isPresenceChange = (value: unknown): boolean => {
  if (!fitsChange(value)) return false;
  const { event } = value as { event: string };
  return event === "join" || event === "leave";
};
const fitsRetry = fits({ baseMs: "number", capMs: "number" });
const isRetryAdvice = (value: unknown): boolean => {
  if (!fitsRetry(value)) return false;
  const { baseMs, capMs } = value as { baseMs: number; capMs: number };
  return baseMs >= 0 && capMs >= baseMs;
};

const serverInner: InnerChecks = {
  welcome: {
    liveness: fits({ intervalMs: "int", suspectMs: "int", timeoutMs: "int", "pingSlotMs?": "int" }),
    retry: isRetryAdvice,
    limits: fits({ maxPayloadBytes: "int", maxTextLength: "int", maxRooms: "int", maxNickLength: "int" }),
  },
  joined: { messages: everyItem(fits(CHAT_MESSAGE)), online: everyItem(isString) },
  history: { messages: everyItem(fits(CHAT_MESSAGE)) },
  presence: { changes: everyItem(isPresenceChange) },
  who: { online: everyItem(isString) },
};

/** Arrays and objects a frame may open inside each other: the protocol's deepest is 3 (joined, messages, a message). */
const MAX_DEPTH = 8;
/** Frames this short are parsed without the depth scan: however they nest, they cost little. */
const SCAN_DEPTH_ABOVE = 256;

/**
 * Whether `raw` opens more than `max` arrays or objects inside each other, by a scan that skips
 * strings. JSON.parse takes time in the depth: a 60 KB frame of 30,000 nested `[` took 2.4 ms
 * where a flat one of that size took 0.5 ms, and four addresses sending them within their
 * limits took a server to 78 % of a core before anything in them was looked at (an audit).
 * Strings are jumped over with indexOf, and a frame with fewer brackets than the depth is not
 * scanned at all: a character at a time, a 4,000-character text took 9 us, five times its parse.
 */
export function nestsDeeperThan(raw: string, max: number): boolean {
  if (!hasAtLeast(raw, max + 1)) return false;
  let depth = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(raw, i);
      if (i < 0) return false; // unterminated: JSON.parse refuses it at once
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Whether `raw` holds at least `n` of `[` and `{` together. */
function hasAtLeast(raw: string, n: number): boolean {
  let count = 0;
  for (const bracket of ["[", "{"]) {
    for (let i = raw.indexOf(bracket); i !== -1; i = raw.indexOf(bracket, i + 1)) if (++count >= n) return true;
  }
  return false;
}

/** The index of the quote that closes the string opened at `open`, or -1. */
function stringEnd(raw: string, open: number): number {
  for (let i = raw.indexOf('"', open + 1); i !== -1; i = raw.indexOf('"', i + 1)) {
    let backslashes = 0;
    while (raw.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  return -1;
}

function parseWith<T>(raw: string, shapes: Record<string, Shape>, inner: InnerChecks = {}): T | ProtocolError {
  if (raw.length > SCAN_DEPTH_ABOVE && nestsDeeperThan(raw, MAX_DEPTH)) {
    return fail(ErrorCode.BadMessage, `a message nests arrays and objects at most ${MAX_DEPTH} deep`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return fail(ErrorCode.BadJson, "frame is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(ErrorCode.BadMessage, "a message must be a JSON object");
  }
  const msg = value as Record<string, unknown>;
  const type = msg.type;
  if (typeof type !== "string") return fail(ErrorCode.BadMessage, "field 'type' must be a string");
  // hasOwn: a type of "constructor" or "__proto__" must not reach Object.prototype.
  const shape = Object.hasOwn(shapes, type) ? shapes[type] : undefined;
  if (!shape) return fail(ErrorCode.UnknownType, `unknown message type '${type.slice(0, 40)}'`);
  const bad = misfit(msg, shape);
  if (bad) return fail(ErrorCode.BadMessage, `'${type}': field '${bad.name}' must be ${article(bad.kind)}`);
  const checks = Object.hasOwn(inner, type) ? inner[type]! : {};
  for (const name in checks) {
    if (!checks[name]!(msg[name])) return fail(ErrorCode.BadMessage, `'${type}': field '${name}' does not hold what it must (see docs/protocol.md)`);
  }
  return value as T;
}

const article = (kind: FieldKind) => (kind === "int" ? "an integer" : kind === "array" || kind === "object" ? `an ${kind}` : `a ${kind}`);

/** Validates one inbound text frame on the server. Unknown extra fields are ignored. */
export const parseClientMessage = (raw: string): ClientMessage | ProtocolError =>
  parseWith<ClientMessage>(raw, clientShapes);

/** Validates one inbound text frame on the client. */
export const parseServerMessage = (raw: string): ServerMessage | ProtocolError =>
  parseWith<ServerMessage>(raw, serverShapes, serverInner);
