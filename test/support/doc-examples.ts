import { readFileSync } from "node:fs";
import { isProtocolError, parseClientMessage, parseServerMessage } from "../../src/protocol/parse.js";

export type Direction = "client" | "server";

export interface DocExample {
  direction: Direction;
  value: Record<string, unknown>;
  /** 1-based line in the document where the value starts. */
  line: number;
}

export interface DocBlock {
  line: number;
  examples: DocExample[];
  /** Both directions in one block: a request/answer exchange to replay against a server. */
  exchange: boolean;
}

export const PROTOCOL_DOC = new URL("../../docs/protocol.md", import.meta.url);

/** `// client -> server`, optionally followed by words about the example. */
const DIRECTION = /^\/\/\s*(client|server)\s*->\s*(server|client)\b/;

/**
 * The JSON examples of a Markdown document: every fenced `jsonc` or `json` block, where a line
 * `// client -> server` or `// server -> client` sets the direction of the values after it, and
 * a value may span lines. After any other comment line the direction is open: the value's
 * direction is the one whose parser accepts it (`infer`). Throws on a value that is not JSON
 * or has no direction, so a broken example fails loudly instead of being skipped.
 */
export function docBlocks(markdown = readFileSync(PROTOCOL_DOC, "utf8"), infer?: (value: unknown) => Direction | null): DocBlock[] {
  const lines = markdown.split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```jsonc?\s*$/.test(lines[i]!)) continue;
    const block: DocBlock = { line: i + 1, examples: [], exchange: false };
    let direction: Direction | "open" | null = null;
    let pending: { text: string; line: number } | null = null;
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) {
      const line = lines[i]!.trim();
      const marker = DIRECTION.exec(line);
      if (marker) {
        if (pending) throw new Error(`docs/protocol.md:${pending.line}: not valid JSON before the next direction line`);
        direction = marker[1] === "client" ? "client" : "server";
        continue;
      }
      if (line === "") continue;
      if (line.startsWith("//")) {
        if (direction) direction = "open"; // prose about the next example: it says no direction
        continue;
      }
      pending = pending ? { text: `${pending.text}\n${line}`, line: pending.line } : { text: line, line: i + 1 };
      let value: unknown;
      try {
        value = JSON.parse(pending.text);
      } catch {
        continue; // a value spanning lines: read on
      }
      const known = direction === "open" ? (infer?.(value) ?? null) : direction;
      if (!known) throw new Error(`docs/protocol.md:${pending.line}: an example with no direction line before it`);
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`docs/protocol.md:${pending.line}: an example must be a JSON object`);
      block.examples.push({ direction: known, value: value as Record<string, unknown>, line: pending.line });
      pending = null;
    }
    if (pending) throw new Error(`docs/protocol.md:${pending.line}: not valid JSON`);
    block.exchange = block.examples.some((e) => e.direction === "client") && block.examples.some((e) => e.direction === "server");
    blocks.push(block);
  }
  return blocks;
}

/** The direction whose parser accepts a value: client first (ping and pong parse both ways). */
export const directionByParser = (value: unknown): Direction | null => {
  const text = JSON.stringify(value);
  if (!isProtocolError(parseClientMessage(text))) return "client";
  if (!isProtocolError(parseServerMessage(text))) return "server";
  return null;
};

/** The document's examples, with open directions inferred by the parsers. */
export const protocolDocBlocks = (): DocBlock[] => docBlocks(undefined, directionByParser);

/** Inline code spans that start like a message, `{"type":...}`, with their line. */
export function inlineExamples(markdown = readFileSync(PROTOCOL_DOC, "utf8")): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let inFence = false;
  markdown.split("\n").forEach((line, i) => {
    if (line.startsWith("```")) inFence = !inFence;
    if (inFence) return;
    for (const m of line.matchAll(/`(\{"type":[^`]*\})`/g)) out.push({ text: m[1]!, line: i + 1 });
  });
  return out;
}

/** Error codes the parser itself produces: a client example answered by one of them is meant to be refused. */
export const PARSER_ERRORS = new Set(["bad_json", "bad_message", "unknown_type"]);

/** The parser error a client example is documented to get: the code of the server error right after it. */
export function expectedRefusal(block: DocBlock, index: number): string | null {
  const next = block.examples[index + 1];
  if (block.examples[index]!.direction !== "client" || !next || next.direction !== "server" || next.value.type !== "error") return null;
  const code = String(next.value.code);
  return PARSER_ERRORS.has(code) ? code : null;
}

type Kind = "string" | "number" | "boolean" | "array" | "object" | "null";
const kindOf = (v: unknown): Kind => (v === null ? "null" : Array.isArray(v) ? "array" : (typeof v as Kind));

/**
 * Differences in shape between a documented value and a real one: every field of the example
 * must be in the real value with the same JSON kind, recursively (an array's first element
 * against the real array's first, when both have one). Values themselves are not compared.
 */
export function shapeDiff(example: unknown, real: unknown, path = "$"): string[] {
  const ek = kindOf(example);
  const rk = kindOf(real);
  if (ek !== rk) return [`${path}: documented ${ek}, server sent ${rk}`];
  if (ek === "object") {
    const e = example as Record<string, unknown>;
    const r = real as Record<string, unknown>;
    return Object.keys(e).flatMap((k) => (k in r ? shapeDiff(e[k], r[k], `${path}.${k}`) : [`${path}.${k}: documented, not sent`]));
  }
  if (ek === "array") {
    const e = example as unknown[];
    const r = real as unknown[];
    return e.length > 0 && r.length > 0 ? shapeDiff(e[0], r[0], `${path}[0]`) : [];
  }
  return [];
}
