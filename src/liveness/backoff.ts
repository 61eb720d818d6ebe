/**
 * Full jitter: a uniform delay in [0, min(capMs, baseMs * 2^attempt)]. At the cap the delay is
 * still uniform over [0, capMs], so a crowd that reached the cap stays spread out instead of
 * reconnecting in lockstep (the failure of "jitter, then clamp to the cap").
 */
export function backoffMs(
  attempt: number,
  baseMs = 500,
  capMs = 30_000,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * ceiling);
}
