/** How long a refused send holds the ones behind it, past its own retry time, if it never comes back. */
const HEAD_HOLD_MS = 10_000;
/** The wait given to a send behind a head whose retry time has passed (it is on its way). */
const BEHIND_OVERDUE_RETRY_MS = 100;

/**
 * Keeps one connection's messages in the order it sent them when some are refused, over the
 * rate limit or by the store (`store_failed`: Redis unreachable, a disk error).
 *
 * A client keeps several sends in flight. When the server refuses one (`rate_limited`), the
 * ones behind it are already on the wire, ahead of its resend; a token that came back meanwhile
 * would store them first, and the room would read the sender's messages out of order (the chat
 * page's test saw "57, 59, 60, 61, 58"). So after a refusal, every later send of the connection
 * is refused too (with the head's remaining wait) until the refused one comes back: the client
 * library then resends its pending messages in order, head first. A head that never comes back
 * (the app discarded it) holds the others at most HEAD_HOLD_MS past its retry time.
 *
 * A store refusal is known only when the store answers: sends that reached the store before
 * that are not held. The engines answer one connection's appends in order and alike (SQLite
 * commits the appends of one event-loop turn in one transaction, before the next read; the
 * Redis client neither queues commands while disconnected nor resends them), so those share
 * the refused one's fate. Making every send wait for the one before it at the store would hold
 * that for any store, but cost about a third of the Redis engine's throughput (bench:cluster).
 *
 * Made on a connection's first refusal only: idle connections pay nothing for it.
 */
export class SendOrderGate {
  private head: { room: string; id: string; retryAt: number; expiresAt: number } | null = null;

  /** `room`/`id` was refused for `retryAfterMs`: unless an earlier refusal is still the head, it is now. */
  refused(room: string, id: string, retryAfterMs: number, now: number): void {
    const current = this.head;
    if (current && now < current.expiresAt && !(current.room === room && current.id === id)) return;
    this.head = { room, id, retryAt: now + retryAfterMs, expiresAt: now + retryAfterMs + HEAD_HOLD_MS };
  }

  /** 0 when `room`/`id` may be considered now; else the wait to refuse it with. */
  waitFor(room: string, id: string, now: number): number {
    const head = this.head;
    if (!head) return 0;
    if (now >= head.expiresAt) {
      this.head = null;
      return 0;
    }
    if (head.room === room && head.id === id) return 0;
    return Math.max(BEHIND_OVERDUE_RETRY_MS, head.retryAt - now);
  }

  /** `room`/`id` was accepted: if it was the head, the sends behind it are free again. */
  admitted(room: string, id: string): void {
    if (this.head && this.head.room === room && this.head.id === id) this.head = null;
  }
}
