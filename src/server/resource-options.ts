import { IPV6_SITE_SHARE } from "./client-address.js";
import { resolveRateLimits, type RateLimitOptions, type RateLimitSettings } from "./rate-limits.js";

/**
 * The server's resource limits: what one client, one address or everyone together may take.
 * Every limit has a default; units are in the names. README "Configuration" and
 * docs/security.md "Limits" list them.
 */
export interface ResourceOptions {
  /** A catch-up whose replayed frames exceed this gets `recovered: false` and the latest page. Default 8 MiB. */
  maxReplayBytes?: number;
  /**
   * Replay pages (and gap sizings) read and encoded at once, server-wide; the rest wait. A
   * replay holds a slot only while it reads a page, not while its reader drains. Default 4.
   */
  maxConcurrentReplays?: number;
  /** A reader whose send buffer does not shrink for this long while a reply page waits is cut (4003). Default 10000 ms. */
  replayStallMs?: number;
  /** After a 4003 close frame, the socket is terminated if the peer has not closed within this. Default 2000 ms. */
  slowConsumerGraceMs?: number;
  /** Connections at once, handshakes included; more are answered HTTP 503. Keep it below the process's file limit. Default 10000. */
  maxConnections?: number;
  /** Connections at once from one IP address; more are answered HTTP 429. Default 100. */
  maxConnectionsPerIp?: number;
  /**
   * Connections at once from one IPv6 /48 (a site: one is free from tunnel brokers, and holds
   * 65,536 /64s, each counted as an address); more are answered HTTP 429. Applies when
   * `ipv6PrefixBits` is longer than 48. Default 10 x `maxConnectionsPerIp` (1,000): one /48
   * takes at most a tenth of the default `maxConnections`.
   */
  maxConnectionsPerIpv6Site?: number;
  /**
   * TCP connections still speaking HTTP (a page load, a WebSocket handshake not yet upgraded)
   * at once, beyond `maxConnections`; they may also take the places WebSockets leave free, so
   * the server holds at most maxConnections + this many sockets. When all are taken a newcomer
   * takes the place of the oldest socket of the holder with the most, or gets 503 (see
   * HttpSockets). Default 1000.
   */
  maxHttpSockets?: number;
  /**
   * TCP connections still speaking HTTP at once from one address (an IPv6 client: its /64),
   * counted by the peer itself, so a trusted proxy is not counted; more are answered HTTP 429
   * and closed. Default `maxConnectionsPerIp`: an address may have as many handshakes on their
   * way as it may have connections. The /64s of an IPv6 /48 share 10 times this (see HttpSockets).
   */
  maxHttpSocketsPerIp?: number;
  /** Rooms with members on this server at once; a join that would open another gets `too_many_rooms`. Default 10000. */
  maxRoomsAlive?: number;
  /**
   * Rooms open on this server that joins from one address (an IPv6 client: its /64) opened; a
   * join from it that would open another gets `too_many_rooms`. A room counts for its opener
   * until it closes, whoever keeps it open. Default `maxConnectionsPerIp`: filling
   * `maxRoomsAlive` takes as many addresses as filling `maxConnections`. The /64s of an IPv6
   * /48 share 10 times this (see RoomsOpened).
   */
  maxRoomsOpenedPerIp?: number;
  /** Bytes queued to all clients together; over it the slowest readers are cut (4003) first. Default 256 MiB. */
  maxQueuedBytesTotal?: number;
  /** How often the queued-bytes total is checked while there are connections. Default 250 ms. */
  queuedBytesCheckMs?: number;
  /** Frames one inbound message may be split into; more close the connection with 4006. Default 128. */
  maxFragmentsPerMessage?: number;
  /** How long a fragmented inbound message may stay incomplete before 4006. Default 10000 ms. */
  maxFragmentedMessageMs?: number;
  /**
   * Token-bucket rate limits per connection and per IP (src/server/rate-limits.ts has every
   * default); `false` turns them off (benchmarks that measure raw throughput).
   */
  rateLimits?: RateLimitOptions | false;
}

export type ResolvedResourceOptions = Required<Omit<ResourceOptions, "rateLimits">> & { rateLimits: RateLimitSettings | false };

export function resolveResourceOptions(o: ResourceOptions): ResolvedResourceOptions {
  const maxConnectionsPerIp = o.maxConnectionsPerIp ?? 100;
  const resolved = {
    maxReplayBytes: o.maxReplayBytes ?? 8 * 1024 * 1024,
    maxConcurrentReplays: o.maxConcurrentReplays ?? 4,
    replayStallMs: o.replayStallMs ?? 10_000,
    slowConsumerGraceMs: o.slowConsumerGraceMs ?? 2_000,
    maxConnections: o.maxConnections ?? 10_000,
    maxConnectionsPerIp,
    maxConnectionsPerIpv6Site: o.maxConnectionsPerIpv6Site ?? IPV6_SITE_SHARE * maxConnectionsPerIp,
    maxHttpSockets: o.maxHttpSockets ?? 1_000,
    maxHttpSocketsPerIp: o.maxHttpSocketsPerIp ?? maxConnectionsPerIp,
    maxRoomsAlive: o.maxRoomsAlive ?? 10_000,
    maxRoomsOpenedPerIp: o.maxRoomsOpenedPerIp ?? maxConnectionsPerIp,
    maxQueuedBytesTotal: o.maxQueuedBytesTotal ?? 256 * 1024 * 1024,
    queuedBytesCheckMs: o.queuedBytesCheckMs ?? 250,
    maxFragmentsPerMessage: o.maxFragmentsPerMessage ?? 128,
    maxFragmentedMessageMs: o.maxFragmentedMessageMs ?? 10_000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return { ...resolved, rateLimits: resolveRateLimits(o.rateLimits) };
}
