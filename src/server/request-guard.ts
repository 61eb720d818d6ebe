import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { hostname, networkInterfaces } from "node:os";

/**
 * Checks on an HTTP request before it reaches the page, `/stats` or the WebSocket upgrade.
 * Browsers are the threat model here: a page on another site can make them send requests
 * (with cookies) to this server, by a cross-site WebSocket or by pointing a DNS name it owns
 * at this machine.
 */

/** The host names this server answers to when the deployer named none. */
export function defaultAllowedHosts(boundHost: string): string[] {
  const names = new Set(["localhost", "127.0.0.1", "::1", hostname().toLowerCase()]);
  if (boundHost !== "0.0.0.0" && boundHost !== "::") names.add(normalizeHostName(boundHost));
  for (const list of Object.values(networkInterfaces())) {
    for (const address of list ?? []) names.add(normalizeHostName(address.address));
  }
  return [...names];
}

/** The Host header's name, without port, lower case, no trailing dot, IPv6 without brackets. */
export function hostNameOf(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  try {
    return normalizeHostName(new URL(`http://${hostHeader}`).hostname);
  } catch {
    return null;
  }
}

function normalizeHostName(name: string): string {
  return name.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
}

/**
 * DNS rebinding: a page at http://evil.example:8080 whose name now resolves to this machine
 * is same-origin with itself, so the Origin check passes; only the Host header tells.
 */
export function hostAllowed(req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  if (allowed.has("*")) return true;
  const name = hostNameOf(req.headers.host);
  return name !== null && allowed.has(name);
}

/** An origin as scheme://host[:port] with default ports dropped, or null if it is not one. */
export function canonicalOrigin(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
  } catch {
    return null;
  }
}

/**
 * Cross-site WebSocket hijacking: browsers send cookies on the upgrade from any page. Requests
 * without an Origin (non-browser clients) pass; a browser's Origin must be in `allowed`
 * (compared by scheme, host and port) or, by default, be this server itself (its host and
 * port, over http or https: TLS may end at a proxy in front).
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[] | null): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const canonical = canonicalOrigin(origin);
  if (canonical === null) return false;
  if (allowed) return allowed.some((a) => canonicalOrigin(a) === canonical);
  const host = req.headers.host;
  if (!host) return false;
  return canonical === canonicalOrigin(`http://${host}`) || canonical === canonicalOrigin(`https://${host}`);
}

/**
 * Headers a proxy sets to name the client it relays for. Any of them marks a request as
 * relayed: an nginx that sets only X-Real-IP (a common recipe) made every visitor look like
 * this machine, and /stats and /metrics answered them.
 */
const RELAY_HEADERS = ["x-forwarded-for", "forwarded", "x-real-ip", "true-client-ip", "cf-connecting-ip", "fastly-client-ip", "x-client-ip", "x-cluster-client-ip"] as const;

/** A request made on this machine, not relayed by a proxy on its behalf of someone else. */
function isLoopbackRequest(req: IncomingMessage): boolean {
  const remote = req.socket.remoteAddress ?? "";
  const loopback = remote === "::1" || remote.startsWith("127.") || remote.startsWith("::ffff:127.");
  // A reverse proxy on this machine connects from loopback for everyone: trust it for no one.
  return loopback && RELAY_HEADERS.every((h) => req.headers[h] === undefined);
}

/** `/stats` is for operators: loopback, or a bearer token when the deployer set one. */
export function statsAllowed(req: IncomingMessage, token: string | null): boolean {
  if (isLoopbackRequest(req)) return true;
  if (!token) return false;
  const given = Buffer.from(req.headers.authorization ?? "");
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
