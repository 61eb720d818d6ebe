/** The longest `Retry-After` honoured: a misconfigured proxy must not park a client for hours. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** The date form senders must use (RFC 9110): "Sun, 06 Nov 1994 08:49:37 GMT". Date.parse alone takes "-1" for a year. */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * An HTTP `Retry-After` value (delta-seconds, or an HTTP date) as milliseconds from `now`,
 * at most MAX_RETRY_AFTER_MS; null when absent or not understood.
 */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return null;
  let ms: number;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000;
  } else if (IMF_FIXDATE.test(text)) {
    ms = Math.max(0, Date.parse(text) - now);
  } else {
    return null;
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
