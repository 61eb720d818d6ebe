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
 * NFKC first (the form names are stored in), then skeleton, lower case, skeleton again. Case is
 * folded between two skeleton passes because neither order alone catches everything: folding
 * first would turn "I" into "i" and miss that capital I looks like "l" (the table maps I -> l);
 * folding last would miss letters whose lower case has a prototype but whose capital does not.
 * Lower case is `toLowerCase()` (Unicode default lowercasing, locale-independent), not full
 * case folding: the few differences (ß vs ss, final sigma) are letters that look different.
 */
export function nicknameKey(name: string): string {
  return skeleton(skeleton(name.normalize("NFKC")).toLowerCase());
}
