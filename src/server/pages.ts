import type { ChatMessage } from "../protocol/messages.js";

/**
 * Largest page the server writes for its own replies (a `joined`, a replay page, a `history`).
 * A reply built as one frame grew to hundreds of megabytes and froze the event loop for seconds
 * (4,000 control characters escape to 24,000 JSON bytes); pages keep every write small.
 */
export const PAGE_BYTES = 256 * 1024;

/** Chat messages encoded as JSON, oldest first, and their total size in bytes. */
export interface EncodedPage {
  /** JSON of each message, oldest first. */
  parts: string[];
  bytes: number;
  /** Seq of the last (newest) message, 0 when empty. */
  lastSeq: number;
}

/**
 * The newest messages of `messages` (oldest first) whose JSON fits in `budgetBytes`, at least
 * one (a single message is far below a page: maxTextLength bounds it). `dropped` counts the
 * older ones left out.
 */
export function newestThatFit(messages: ChatMessage[], budgetBytes: number): EncodedPage & { dropped: number } {
  const parts: string[] = [];
  let bytes = 0;
  let i = messages.length - 1;
  for (; i >= 0; i--) {
    const json = JSON.stringify(messages[i]);
    const size = Buffer.byteLength(json) + 1;
    if (parts.length > 0 && bytes + size > budgetBytes) break;
    parts.push(json);
    bytes += size;
  }
  parts.reverse();
  return { parts, bytes, lastSeq: messages.length ? messages[messages.length - 1]!.seq : 0, dropped: i + 1 };
}

/** A JSON array spliced from already-encoded elements. */
export const jsonArray = (parts: string[]): string => `[${parts.join(",")}]`;
