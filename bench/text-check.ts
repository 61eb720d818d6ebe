/**
 * node --import tsx bench/text-check.ts — what the input checks cost per call, on inputs at the
 * default limits (4,000-code-point texts, 32-code-point nicknames), adversarial ones included.
 * Target: a 4,000-code-point text checked in well under 1 ms (goal: <= 0.1 ms on an idle core).
 * Prints the median of 15 batches per input; nothing is written to bench/results.
 */
import { checkText, normalizeName } from "../src/protocol/names.js";
import { nicknameKey } from "../src/server/confusables.js";

const TEXT_LIMITS = { maxCodePoints: 4000, maxControlShare: 0.5 };
const BATCH = 200;
const BATCHES = 15;

/** Median microseconds per call of `run` over BATCHES batches of BATCH calls (after a warm-up). */
function microsPerCall(run: () => unknown): number {
  for (let i = 0; i < BATCH * 5; i++) run();
  const samples: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const started = performance.now();
    for (let i = 0; i < BATCH; i++) run();
    samples.push(((performance.now() - started) * 1000) / BATCH);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(BATCHES / 2)]!;
}

// Flat copies: `repeat` builds rope strings whose first scan would also pay for flattening.
const flat = (s: string) => JSON.parse(JSON.stringify(s)) as string;
const texts: Record<string, string> = {
  "prose, 4000 ASCII": flat("The quick brown fox jumps over the lazy dog.\n".repeat(91).slice(0, 4000)),
  "emoji, 4000 code points": flat("😀".repeat(4000)),
  "3999 spaces + a": flat(" ".repeat(3999) + "a"),
  "3999 newlines + a (refused)": flat("\n".repeat(3999) + "a"),
  "4000 combining marks (refused)": flat("\u0301".repeat(4000)),
  "lone surrogate at the end (refused)": flat("a".repeat(3999) + "\ud800"),
};
const names: Record<string, string> = {
  "ada": "ada",
  "32 fullwidth letters": flat("\uff41".repeat(32)),
  "32 Cyrillic letters": flat("\u0430".repeat(32)),
  "256 units of decomposed Greek": flat("\u1f82".normalize("NFD").repeat(64)),
};

const rows: Array<[string, string, number]> = [];
for (const [label, text] of Object.entries(texts)) rows.push(["checkText", label, microsPerCall(() => checkText(text, TEXT_LIMITS))]);
for (const [label, name] of Object.entries(names)) {
  rows.push(["normalizeName", label, microsPerCall(() => normalizeName(name, 32))]);
  rows.push(["nicknameKey", label, microsPerCall(() => nicknameKey(name))]);
}
for (const [fn, label, us] of rows) console.log(`${fn.padEnd(14)} ${label.padEnd(38)} ${us.toFixed(2).padStart(9)} µs`);
