import type { PulseStore } from "../store/identity-store.js";
import type { Metrics } from "./metrics.js";

/** The store calls that are timed; others (close, epoch) pass through untouched. */
const TIMED = ["append", "readAfter", "readBefore", "textBytesBetween", "latestSeq", "firstSeq", "signingSecret", "claimNickname", "releaseNickname", "purgeNicknames"] as const;

/**
 * The same store, with each call's latency observed in `pulse_store_seconds{op, outcome}`.
 * Wrapping at the interface times every engine alike (memory, SQLite, Redis) without touching
 * them, and measures what the server waits for: queueing included.
 */
export function timedStore(store: PulseStore, metrics: Metrics): PulseStore {
  const wrapped = new Map<PropertyKey, unknown>();
  for (const op of TIMED) {
    if (typeof store[op] !== "function") continue;
    const ok = metrics.storeLatency.labels(op, "ok");
    const failed = metrics.storeLatency.labels(op, "error");
    wrapped.set(op, (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
      // Looked up per call: the store's own method as it is now.
      return (store[op] as (...a: unknown[]) => Promise<unknown>).apply(store, args).then(
        (value) => {
          ok.observe(seconds());
          return value;
        },
        (err: unknown) => {
          failed.observe(seconds());
          throw err;
        },
      );
    });
  }
  // A proxy, not a copy: everything else (epoch, close, engine-specific members) is the store's own.
  return new Proxy(store, {
    get(target, prop) {
      if (wrapped.has(prop)) return wrapped.get(prop);
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
