/**
 * Server logging: one event per call, with stable field names so log pipelines can index them.
 *
 * Call sites use one function, `log(message, fields)`. Where the line goes is chosen once:
 * - a structured logger (pino, or anything with pino's `level(fields, message)` methods) gets
 *   the fields as an object and picks the level from the event name (EVENT_LEVELS);
 * - a plain string sink (`log` option, kept for tests and simple embedding) gets the message
 *   followed by the fields as `key=value`.
 *
 * Field names (docs/deploy.md lists them): `event` (what happened, from EVENT_LEVELS),
 * `conn` (connection id, the welcome's sessionId), `user` (userId), `nick`, `room`, `reason`,
 * `code` (close or error code), `err` (an error's message), `ms` (a duration).
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Every event the server logs, and its level. Add new events here. */
export const EVENT_LEVELS = {
  server_listening: "info",
  server_identity: "info",
  server_store: "info",
  server_liveness: "info",
  server_draining: "info",
  server_closed: "info",
  config: "info",
  connection_opened: "debug",
  connection_ready: "info",
  connection_closed: "info",
  connection_error: "warn",
  liveness_dead: "warn",
  slow_consumer: "warn",
  fragment_limit: "warn",
  receiver_untapped: "error",
  hello_failed: "error",
  store_failed: "error",
  websocket_server_error: "error",
  nickname_store_failed: "error",
  deny_list_loaded: "info",
  deny_list_refused: "error",
  store_epoch_renewed: "error",
  redis_failed: "warn",
  redis_backfill: "debug",
  log_suppressed: "warn",
} as const satisfies Record<string, LogLevel>;
export type LogEvent = keyof typeof EVENT_LEVELS;

export interface LogFields {
  event?: LogEvent;
  conn?: string;
  user?: string;
  nick?: string;
  room?: string;
  reason?: string;
  code?: number;
  err?: string;
  ms?: number;
  [field: string]: unknown;
}

/** What server code calls. The message is for people; the fields are for machines. */
export type LogFn = (message: string, fields?: LogFields) => void;

/** The part of a pino logger the server uses; pass your own pino instance as `logger`. */
export interface StructuredLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const levelOf = (fields: LogFields | undefined): LogLevel => (fields?.event ? EVENT_LEVELS[fields.event] : "info");

export function structuredLog(logger: StructuredLogger): LogFn {
  return (message, fields = {}) => logger[levelOf(fields)](fields, message);
}

/** `message key=value ...` to a string sink; values with spaces are JSON-quoted. */
export function lineLog(sink: (line: string) => void): LogFn {
  return (message, fields) => {
    if (!fields) return sink(message);
    const pairs = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
    sink(pairs.length ? `${message} ${pairs.join(" ")}` : message);
  };
}
