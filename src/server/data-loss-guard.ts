import type { RedisStore } from "../store/redis-store.js";
import type { EpochChange, EpochChangeCause } from "./broker.js";
import type { LogFn } from "./logger.js";

/** What the guard needs of the store (RedisStore). */
export type EpochStore = Pick<RedisStore, "epoch" | "epochInRedis" | "agreeOnNewEpoch" | "adoptEpoch" | "restoreSigningSecret">;

/** A renewal that Redis did not answer is asked again after this long. */
const RETRY_MS = 500;

/**
 * A node's watch for a Redis that came back with less than it acknowledged, and the move to a
 * new epoch when it did. Such a Redis numbers each room's new messages again from where its
 * data ends; nodes and clients that delivered the higher seqs took the new messages for ones
 * they had and dropped them, silently, until the room's seq passed them again. Under a new
 * epoch every client resyncs instead (`joined.recovered: false` with the latest page).
 *
 * What is found:
 * - the whole data gone (a restart without persistence, FLUSHALL, the key evicted): P epoch
 *   missing, or holding another epoch (another node found the loss first and renewed it, or an
 *   operator restored a snapshot with `pulse restore --redis`), read at each heartbeat and when
 *   a link to Redis comes back (check);
 * - a room's seq gone back (a lagging replica promoted): an append or a read of the room's
 *   latest seq answered below what this node delivered in the room (SeqWatch, reported here
 *   through seqWentBack). Only rooms this node follows, and only until new messages take the
 *   room's seq past what it delivered: a rollback that nobody looks at in time is not seen.
 *
 * The new epoch is agreed through Redis (RedisStore.agreeOnNewEpoch): whichever node renews
 * first sets it, the others adopt it at their next check. The signing secret is written back
 * with it. `renewed` is told once the store has adopted it: the broker then drops what it held
 * under the old epoch and the server ends its clients' connections.
 */
export class DataLossGuard {
  private checking: Promise<void> | null = null;
  private renewing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: EpochStore,
    private readonly log: LogFn,
    private readonly renewed: (change: EpochChange) => void,
  ) {}

  /**
   * Reads P epoch and renews when it is not this node's. Rejects when Redis does not answer:
   * the next heartbeat asks again. Callers that come while a check runs share it.
   */
  check(when: string): Promise<void> {
    return (this.checking ??= this.checkNow(when).finally(() => (this.checking = null)));
  }

  /** See SeqWatch.wentBack: proof that Redis lost acknowledged messages of `room`. */
  seqWentBack(room: string, seq: number, seen: number, call: "append" | "latestSeq"): void {
    const answered = call === "append" ? "an append in" : "a read of the latest seq of";
    void this.renew("seq_went_back", `Redis answered ${answered} room ${JSON.stringify(room)} with seq ${seq}, after this node had delivered seq ${seen} there: it lost messages it had acknowledged (a replica that lagged promoted, or the room's keys lost)`);
  }

  stop(): void {
    this.stopped = true;
  }

  private async checkNow(when: string): Promise<void> {
    if (this.renewing) return;
    const mine = this.store.epoch;
    const held = await this.store.epochInRedis();
    // Equal, or renewed here while the read was on its way: that renewal had the last word.
    if (held === mine || this.store.epoch !== mine || this.stopped) return;
    if (held === null) {
      await this.renew("epoch_missing", `Redis holds no epoch (${when}): its data is gone, with the messages this node served (Redis restarted without persistence, was flushed, or evicted the key)`);
    } else {
      await this.renew("epoch_changed", `Redis holds epoch ${held}, not this node's ${mine} (${when}): another node found data lost, or the store was restored`);
    }
  }

  private renew(cause: EpochChangeCause, detail: string): Promise<void> {
    return (this.renewing ??= this.renewNow(cause, detail).finally(() => (this.renewing = null)));
  }

  private async renewNow(cause: EpochChangeCause, detail: string): Promise<void> {
    const previous = this.store.epoch;
    this.log(`${detail}; moving to a new epoch`);
    let epoch: string;
    // Asked until Redis answers: a seq that went back is not seen again once new messages take
    // the room past it, so the proof in hand is the only one there may be.
    for (;;) {
      if (this.stopped) return;
      try {
        epoch = await this.store.agreeOnNewEpoch();
        const secret = await this.store.restoreSigningSecret();
        if (secret === "restored") this.log("the resume-token signing secret was gone from Redis too: written back from this node's memory");
        if (secret === "differs") this.log("Redis holds another resume-token signing secret than this node's (a node started while it was gone wrote a new one): tokens signed by one are ignored by the other until they restart");
        break;
      } catch (err) {
        this.log(`renewing the epoch in Redis failed: ${(err as Error).message}; retrying`, { event: "redis_failed", op: "epoch_renew", err: (err as Error).message });
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    if (this.stopped) return;
    this.store.adoptEpoch(epoch);
    this.renewed({ previous, epoch, cause, detail });
  }
}
