/** Full jitter: a uniform delay in [0, min(capMs, baseMs * 2^attempt)], as the house style asks. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 5_000): number {
  return Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20)));
}
