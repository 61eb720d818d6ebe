import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter, resolveRateLimits, type RateLimitSettings } from "../../src/server/rate-limits.js";
import { FakeClock } from "../support/fake-clock.js";

/** The defaults: per connection 20 sends or 64 KiB at once; per IP 60 sends or 256 KiB at once. */
const settings = resolveRateLimits({}) as RateLimitSettings;

/** How many 4 KB sends a fresh connection from `ip` gets through before the first refusal. */
function burstOfNewConnection(limiter: RateLimiter, ip: string): number {
  const conn = limiter.forConnection(ip);
  let granted = 0;
  while (conn.admit("messages", 4_000).ok) granted++;
  conn.release();
  return granted;
}

describe("RateLimiter", () => {
  it("an address's buckets outlive its last connection: reconnecting does not refill them", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(settings, clock);
    // The per-connection byte burst (64 KiB) allows 16 sends of 4 KB; the address's message
    // burst 60, so four connections one after the other drain the address.
    const perConnection = burstOfNewConnection(limiter, "10.0.0.1");
    assert.equal(perConnection, 16);
    let total = perConnection;
    for (let i = 0; i < 10; i++) total += burstOfNewConnection(limiter, "10.0.0.1");
    assert.equal(total, 60, "eleven connections in a row share the address's burst of 60 messages");
    assert.equal(burstOfNewConnection(limiter, "10.0.0.2"), 16, "another address has its own");
  });

  it("tryTake takes a cost only when every bucket has it (a cost above a burst takes the bucket whole), and a miss is no refusal", () => {
    const clock = new FakeClock();
    // history: 20/s, burst 40 per connection; 100/s, burst 200 per address.
    const limiter = new RateLimiter(settings, clock);
    const conn = limiter.forConnection("10.0.0.1");
    assert.equal(conn.tryTake("history", 199), true, "a full bucket pays for more than its burst");
    assert.equal(conn.tryTake("history", 1), false, "then it is empty");
    // Misses count as no refusal: after a thousand, a real refusal is the first, not abuse.
    for (let i = 0; i < 1_000; i++) conn.tryTake("history", 1);
    let refused = conn.admit("messages");
    for (let i = 0; i < 100 && refused.ok; i++) refused = conn.admit("messages");
    assert.deepEqual(refused.ok === false && refused.abusive, false);
    clock.advance(2_000);
    assert.equal(conn.tryTake("history", 40), true, "full again after 2 s at 20/s");
    // The address is full again at 200 and paid 40 of it: another connection of it finds 160.
    const other = limiter.forConnection("10.0.0.1");
    assert.equal(other.tryTake("history", 199), false);
    assert.equal(other.tryTake("history", 30), true);
  });

  it("forgets an idle address once its buckets are full again, and then grants a full burst", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(settings, clock);
    for (let i = 0; i < 4; i++) burstOfNewConnection(limiter, "10.0.0.1");
    assert.equal(limiter.trackedIps, 1, "held while it refills");
    // 256 KiB at 64 KiB/s: full after 4 s.
    clock.advance(3_000);
    assert.equal(limiter.trackedIps, 1);
    clock.advance(1_100);
    assert.equal(limiter.trackedIps, 0, "full again: nothing of it is kept");
    assert.equal(burstOfNewConnection(limiter, "10.0.0.1"), 16);
  });

  it("an address whose buckets were never touched is dropped with its last connection", () => {
    const limiter = new RateLimiter(settings, new FakeClock());
    limiter.forConnection("10.0.0.1").release();
    assert.equal(limiter.trackedIps, 0);
  });

  it("keeps the addresses of open connections whatever the time", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(settings, clock);
    const conn = limiter.forConnection("10.0.0.1");
    conn.admit("messages", 4_000);
    clock.advance(60_000);
    assert.equal(limiter.trackedIps, 1);
    conn.release();
    assert.equal(limiter.trackedIps, 0, "already full when the last connection went");
  });

  it("a send refused for its bytes takes no message token (nor anything else)", () => {
    const limiter = new RateLimiter(settings, new FakeClock());
    const conn = limiter.forConnection("10.0.0.1");
    assert.deepEqual(conn.admit("messages", 60_000), { ok: true });
    // 5,536 of the 64 KiB left: 4,464 bytes short at 16 KiB/s.
    assert.deepEqual(conn.admit("messages", 10_000), { ok: false, retryAfterMs: 273, abusive: false });
    let granted = 0;
    while (conn.admit("messages", 1).ok) granted++;
    assert.equal(granted, 19, "the burst of 20 less the one send granted");
  });

  it("a wall clock set back neither empties the buckets nor makes a refusal abusive", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(settings, clock);
    const conn = limiter.forConnection("10.0.0.1");
    for (let i = 0; i < 20; i++) assert.ok(conn.admit("pings").ok);
    // The refusal counter used (one never used is full whatever the clock says), then refilled.
    for (let i = 0; i < 99; i++) conn.refuseOther();
    clock.advance(10_000); // all full again
    assert.ok(conn.admit("pings").ok);
    clock.jump(-60_000);
    for (let i = 0; i < 19; i++) assert.ok(conn.admit("pings").ok, `ping ${i}`);
    assert.deepEqual(conn.admit("pings"), { ok: false, retryAfterMs: 200, abusive: false });
    clock.advance(200);
    assert.ok(conn.admit("pings").ok, "and time goes on from there");
  });

  it("a send is charged one delivery per recipient, per connection and per address; a refusal takes nothing", () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(settings, clock);
    // Defaults: 20,000 deliveries at once per connection, 40,000 per address.
    const a = limiter.forConnection("10.0.0.1");
    assert.ok(a.admit("messages", 10, 5_000).ok);
    assert.ok(a.admit("messages", 10, 15_000).ok);
    const refused = a.admit("messages", 10, 1);
    assert.ok(!refused.ok && refused.retryAfterMs === 1, "the connection's 20,000 are spent; one more comes back in 0.2 ms, rounded up");
    // A second connection of the address has its own 20,000, and the address its other 20,000.
    const b = limiter.forConnection("10.0.0.1");
    assert.ok(b.admit("messages", 10, 20_000).ok);
    assert.ok(!b.admit("messages", 10, 1).ok);
    // The refused send kept its message token: a has 20 - 2 left for sends that reach nobody.
    let sends = 0;
    while (a.admit("messages", 10, 0).ok) sends++;
    assert.equal(sends, 18);
    // The deliveries come back at 5,000 a second per connection.
    clock.advance(2_000);
    assert.ok(a.admit("messages", 10, 10_000).ok, "two seconds refilled 10,000 deliveries");
    assert.ok(!a.admit("messages", 10, 1).ok, "and no more");
    a.release();
    b.release();
  });

  it("the /64s of one IPv6 /48 also draw from the site's buckets: ten addresses' worth, shared", () => {
    const clock = new FakeClock();
    // One send per address at once; the site, IPV6_SITE_SHARE (10) times that.
    const limiter = new RateLimiter(resolveRateLimits({ messages: { perIp: { perSecond: 1, burst: 1 } } }) as RateLimitSettings, clock);
    const site = "2001:db8:5::/48";
    const conns = Array.from({ length: 15 }, (_, i) => limiter.forConnection(`2001:db8:5:${(i + 1).toString(16)}::/64`, site));
    const granted = conns.filter((c) => c.admit("messages", 10).ok).length;
    assert.equal(granted, 10, "fifteen /64s with a send each; ten for the /48");
    const refused = conns[14]!.admit("messages", 10);
    assert.ok(!refused.ok && refused.retryAfterMs > 0, "refused with a wait");
    const others = [limiter.forConnection("2001:db8:6:1::/64", "2001:db8:6::/48"), limiter.forConnection("203.0.113.1", null)];
    assert.ok(others[0]!.admit("messages", 10).ok, "another /48 has its own");
    assert.ok(others[1]!.admit("messages", 10).ok, "an IPv4 address has no site");
    // The site's tokens come back at 10 a second; its entry goes once they are all back.
    clock.advance(100);
    assert.ok(conns[10]!.admit("messages", 10).ok, "a token of the site back after 100 ms");
    for (const c of [...conns, ...others]) c.release();
    assert.equal(limiter.trackedSites, 1, "the first site, refilling (the other took one token, back after 100 ms)");
    clock.advance(2_000);
    assert.equal(limiter.trackedSites, 0, "forgotten once full");
    const again = limiter.forConnection("2001:db8:5:1::/64", site);
    assert.ok(again.admit("messages", 10).ok, "a connection of the site after that gets a full bucket");
  });

  it("connections refused by a bucket they share are told to come back one after another, not all at once", () => {
    const clock = new FakeClock();
    // The address: a send every 100 ms, 5 at once (a whole refill: 500 ms).
    const limiter = new RateLimiter(resolveRateLimits({ messages: { perIp: { perSecond: 10, burst: 5 } } }) as RateLimitSettings, clock);
    const conns = Array.from({ length: 12 }, () => limiter.forConnection("10.0.0.1"));
    for (const c of conns.slice(0, 5)) assert.ok(c.admit("messages", 10).ok);
    const waits = conns.slice(5).map((c) => {
      const a = c.admit("messages", 10);
      return a.ok ? 0 : a.retryAfterMs;
    });
    assert.deepEqual(waits, [100, 200, 300, 400, 500, 500, 500], "each a token later than the one before; never beyond a whole refill");
    // Each comes back when told: every one of the first five finds its token.
    for (const [i, wait] of waits.slice(0, 5).entries()) {
      clock.advance(wait - (i === 0 ? 0 : waits[i - 1]!));
      assert.ok(conns[5 + i]!.admit("messages", 10).ok, `the connection told ${wait} ms`);
    }
    for (const c of conns) c.release();
  });
});
