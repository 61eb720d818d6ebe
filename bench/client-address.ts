/**
 * `node --import tsx bench/client-address.ts`: what reading a client's address costs per
 * upgrade, for the common cases and for the worst a client can send. Each case is run in
 * rounds of a fixed number of calls; the table shows the median round, in nanoseconds per call.
 *
 * Cases: a direct IPv4 peer; a direct IPv6 peer (its /64 key is built); through one trusted
 * proxy (`X-Forwarded-For` with the client and one proxy); and two worst cases, the header at
 * Node's 16 KiB limit filled with trusted entries (the walk stops after MAX_FORWARDED_HOPS) with
 * 1024 trusted ranges over 24 prefix lengths, and one 16 KiB entry.
 *
 * Options: --rounds N (default 7), --calls N per round (default 20000).
 */
import type { IncomingMessage } from "node:http";
import { parseArgs } from "node:util";
import { clientAddressReader, MAX_TRUSTED_PROXIES } from "../src/server/client-address.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "7" }, calls: { type: "string", default: "20000" } } });
const rounds = Number(values.rounds);
const calls = Number(values.calls);

const request = (remoteAddress: string, forwarded?: string) =>
  ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded } }) as unknown as IncomingMessage;

const oneProxy = clientAddressReader({ trustedProxies: ["127.0.0.1"], ipv6PrefixBits: 64 });
// 1024 ranges inside 10.0.0.0/8 with lengths /9 to /32: the most lookups a hop can cost with a full list.
const manyRanges = Array.from({ length: MAX_TRUSTED_PROXIES - 2 }, (_, i) => {
  const bits = 9 + (i % 24);
  const mask = (0xffffffff << (32 - bits)) >>> 0;
  const address = ((((10 << 24) | ((i * 2654435761) & 0xffffff)) >>> 0) & mask) >>> 0;
  return `${[24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join(".")}/${bits}`;
});
const fullList = clientAddressReader({ trustedProxies: [...manyRanges, "127.0.0.1", "10.0.0.0/8"], ipv6PrefixBits: 64 });
/** Whole entries only: a cut one would be malformed and stop the walk at the first hop. */
let trustedHeader = "10.0.0.1";
for (let i = 1; trustedHeader.length < 16 * 1024 - 40; i++) trustedHeader += `, 10.${(i >> 8) & 255}.${i & 255}.1`;
// Requests built once: building a 16 KiB header is not what is measured.
const requests = {
  v4: request("203.0.113.7"),
  v6: request("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
  proxied: request("127.0.0.1", "198.51.100.1, 2001:db8:1:2::7"),
  trustedHops: request("127.0.0.1", `203.0.113.1, ${trustedHeader}`),
  longEntry: request("127.0.0.1", "9".repeat(16 * 1024 - 20)),
};
const cases: [string, () => unknown][] = [
  ["direct IPv4 peer", () => oneProxy(requests.v4)],
  ["direct IPv6 peer (/64 key)", () => oneProxy(requests.v6)],
  ["one trusted proxy, X-Forwarded-For of 2", () => oneProxy(requests.proxied)],
  ["16 KiB of trusted hops, 1024 ranges", () => fullList(requests.trustedHops)],
  ["one 16 KiB entry", () => oneProxy(requests.longEntry)],
];

console.log(`| case | ns per call (median of ${rounds} rounds of ${calls}) |\n|---|---|`);
for (const [name, run] of cases) {
  const perCall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) run();
    perCall.push(Number(process.hrtime.bigint() - started) / calls);
  }
  perCall.sort((a, b) => a - b);
  console.log(`| ${name} | ${Math.round(perCall[Math.floor(rounds / 2)]!)} |`);
}
