/**
 * Look-alike detection for nicknames: two names whose keys are equal look the same (or nearly)
 * and must not belong to two different people. Built on the UTS #39 confusable skeleton with the
 * consortium's published data (see confusables-table.ts for the source and version).
 */
import { CONFUSABLE_PROTOTYPES } from "./confusables-table.js";

// UTS #39 (since 15.1) drops default-ignorable code points before mapping: they render as
// nothing, so "ada" + ZERO WIDTH SPACE looks like "ada".
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * The UTS #39 skeleton: NFD, drop default-ignorables, replace each code point by its prototype
 * from confusables.txt, NFD again. Case-sensitive, as the standard defines it.
 */
export function skeleton(s: string): string {
  const decomposed = s.normalize("NFD").replace(DEFAULT_IGNORABLE, "");
  let mapped = "";
  for (const ch of decomposed) mapped += CONFUSABLE_PROTOTYPES.get(ch.codePointAt(0)!) ?? ch;
  return mapped.normalize("NFD");
}

/**
 * The key a nickname is reserved under: names with equal keys are one name. "ada", "Ada",
 * "ADA", "аda" (Cyrillic а), "ａda" (fullwidth), "ɑda" (Latin alpha) and "ada" + zero-width
 * space all give one key; "bob" and "ada" do not.
 *
 * One round is NFKC (the form names are stored in), skeleton, lower case. Rounds repeat until the
 * key no longer changes, because each step can feed the others: lower case turns "Ɑ" (no
 * prototype) into "ɑ" (prototype "a"), and some prototypes are not NFKC-stable ("‰" has the
 * prototype "º/₀₀", whose NFKC is "o/00"). Lower case comes after the skeleton so that capital I
 * still meets its prototype "l". Over every single code point two rounds reach the fixed point;
 * MAX_KEY_ROUNDS bounds the work for any string.
 * Lower case is `toLowerCase()` (Unicode default lowercasing, locale-independent), not full case
 * folding: the few differences (ß vs ss, final sigma) are letters that look different anyway.
 */
export function nicknameKey(name: string): string {
  let key = name;
  for (let round = 0; round < MAX_KEY_ROUNDS; round++) {
    const next = skeleton(key.normalize("NFKC")).toLowerCase();
    if (next === key) break;
    key = next;
  }
  return key;
}

const MAX_KEY_ROUNDS = 4;
