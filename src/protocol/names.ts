/**
 * What a nickname, a room name and a chat text may contain. Pure and table-free (Unicode
 * properties come from the JavaScript engine), so the server, the client library and the web
 * page share one definition. The length unit everywhere is the Unicode code point: "😀" is 1,
 * "é" typed as e + U+0301 is 2 until NFKC composes it.
 *
 * Names are normalised (NFKC) because they identify people and rooms: "ａda" (fullwidth) and
 * "ada" must be one name. Chat text is checked but never normalised: people's words are kept
 * exactly as typed.
 */

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };
export type TextCheck = { ok: true } | { ok: false; code: "bad_text" | "text_too_long"; reason: string };

export interface TextLimits {
  /** Longest accepted text, in code points. */
  maxCodePoints: number;
  /**
   * Largest share (0..1) of the text's code points that may be "\n" or "\t". JSON escapes each
   * as two bytes, so a text made of line breaks costs every reader twice its length.
   */
  maxControlShare: number;
}

/** Length in code points; a lone surrogate counts as one. Linear, no allocation. */
export function codePointLength(s: string): number {
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (isHighSurrogate(unit) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) i++;
    count++;
  }
  return count;
}

/** At most this many combining marks in a row ("Zalgo" stacks spill over neighbouring lines). */
export const MAX_MARKS_IN_A_ROW = 4;

// One character class per regex, tested once over a short string: linear, nothing to backtrack.
const CONTROL = /\p{Cc}/u;
// Cf: zero-width space/joiners, bidi embeddings and overrides, soft hyphen, tag characters...
const FORMAT = /\p{Cf}/u;
const LINE_SEPARATOR = /[\p{Zl}\p{Zp}]/u;
// Unassigned code points may be given a look (and a normalisation) by a later Unicode version;
// private-use ones have no agreed look at all. Neither can be compared with confidence.
const UNASSIGNED_OR_PRIVATE = /[\p{Cn}\p{Co}]/u;
// Default-ignorable letters such as the Hangul fillers (U+3164, U+115F) render as nothing but
// are not Cf. Default-ignorable marks (variation selectors) are allowed: they follow a base.
const INVISIBLE_FILLER = /(?!\p{M})\p{Default_Ignorable_Code_Point}/u;
const LEADING_MARK = /^\p{M}/u;
// U+2800 BRAILLE PATTERN BLANK is a symbol that looks like a space.
const EDGE_BLANK = /^[\p{White_Space}\u2800]|[\p{White_Space}\u2800]$/u;
const DOUBLE_BLANK = /[\p{White_Space}\u2800]{2}/u;
const MARK_RUN = new RegExp(`\\p{M}{${MAX_MARKS_IN_A_ROW + 1}}`, "u");
const VISIBLE_IN_NAME = /[^\p{White_Space}\p{M}\p{C}\p{Default_Ignorable_Code_Point}\u2800]/u;
// In text, Cf characters (emoji joiners, bidi marks) are allowed but do not count as visible.
const VISIBLE_IN_TEXT = /[^\p{White_Space}\p{M}\p{Cc}\p{Cf}\p{Cs}\p{Default_Ignorable_Code_Point}\u2800]/u;

/**
 * NFKC composes at most 4 code points (2 UTF-16 units each, at most) into one, so a raw string
 * longer than this many UTF-16 units per allowed code point cannot fit: refuse it before paying
 * for normalisation.
 */
const MAX_RAW_UNITS_PER_CODE_POINT = 8;

/**
 * Normalises a nickname or a room name (NFKC) and checks it; the accepted `name` is what to store,
 * show and compare (nicknames additionally by their confusable skeleton on the server). Refused:
 * empty; longer than `maxCodePoints` after NFKC; lone surrogates; control (Cc), format (Cf),
 * unassigned or private-use characters; line/paragraph separators; invisible fillers; a
 * combining mark at the start; more than MAX_MARKS_IN_A_ROW marks in a row; white space at
 * either end or twice in a row (refused rather than trimmed, so the name the user typed is the
 * name everyone sees); and names with no visible character. An accepted name is a fixed point:
 * normalizeName(name) gives back the same name.
 */
export function normalizeName(raw: string, maxCodePoints: number): NameCheck {
  if (raw.length === 0) return refuse("The name is empty.");
  if (raw.length > maxCodePoints * MAX_RAW_UNITS_PER_CODE_POINT) return tooLong(maxCodePoints);
  if (hasLoneSurrogate(raw)) return refuse("The name contains a broken character (a lone UTF-16 surrogate).");
  const name = raw.normalize("NFKC");
  if (codePointLength(name) > maxCodePoints) return tooLong(maxCodePoints);
  if (CONTROL.test(name)) return refuse("The name contains a control character.");
  if (FORMAT.test(name)) {
    return refuse("The name contains an invisible formatting character (zero-width, direction or tag).");
  }
  if (LINE_SEPARATOR.test(name)) return refuse("The name contains a line or paragraph separator.");
  if (UNASSIGNED_OR_PRIVATE.test(name)) return refuse("The name contains an unassigned or private-use character.");
  if (INVISIBLE_FILLER.test(name)) return refuse("The name contains an invisible filler character.");
  if (!VISIBLE_IN_NAME.test(name)) return refuse("The name has no visible character.");
  if (LEADING_MARK.test(name)) return refuse("The name starts with a combining mark.");
  if (MARK_RUN.test(name)) {
    return refuse(`The name stacks more than ${MAX_MARKS_IN_A_ROW} combining marks on one character.`);
  }
  if (EDGE_BLANK.test(name)) return refuse("The name starts or ends with a space.");
  if (DOUBLE_BLANK.test(name)) return refuse("The name has two spaces in a row.");
  return { ok: true, name };
}

/**
 * Checks chat text without changing it. Length first: empty or longer than `maxCodePoints`
 * code points is `text_too_long`. Then `bad_text` for: a lone surrogate; a C0 or C1 control
 * character or DEL other than "\n" and "\t"; more "\n" + "\t" than `maxControlShare` of the
 * code points; no visible character. Linear in the text's length with no backtracking.
 */
export function checkText(text: string, limits: TextLimits): TextCheck {
  const { maxCodePoints, maxControlShare } = limits;
  // A code point is at most 2 UTF-16 units: more than 2 * max units is over the limit for sure.
  if (text.length === 0 || text.length > 2 * maxCodePoints) return textTooLong(maxCodePoints);
  // One pass counts code points, line breaks and the first bad character; length is reported
  // before content, so the pass does not stop at a bad character.
  let length = 0;
  let breaks = 0;
  let bad: string | null = null;
  for (let i = 0; i < text.length; i++) {
    length++;
    const unit = text.charCodeAt(i);
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) {
      if (unit === 0x0a || unit === 0x09) breaks++;
      else bad ??= "The message contains a control character.";
    } else if (isHighSurrogate(unit)) {
      if (i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) i++;
      else bad ??= LONE_SURROGATE;
    } else if (isLowSurrogate(unit)) {
      bad ??= LONE_SURROGATE;
    }
  }
  if (length > maxCodePoints) return textTooLong(maxCodePoints);
  if (bad !== null) return badText(bad);
  if (breaks > maxControlShare * length) return badText("The message is mostly line breaks or tabs.");
  if (!VISIBLE_IN_TEXT.test(text)) return badText("The message has no visible character.");
  return { ok: true };
}

const LONE_SURROGATE = "The message contains a broken character (a lone UTF-16 surrogate).";

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (isHighSurrogate(unit)) {
      if (i + 1 >= s.length || !isLowSurrogate(s.charCodeAt(i + 1))) return true;
      i++;
    } else if (isLowSurrogate(unit)) {
      return true;
    }
  }
  return false;
}

const refuse = (reason: string): NameCheck => ({ ok: false, reason });
const tooLong = (max: number): NameCheck => refuse(`The name is longer than ${max} characters.`);
const badText = (reason: string): TextCheck => ({ ok: false, code: "bad_text", reason });
const textTooLong = (max: number): TextCheck => ({
  ok: false,
  code: "text_too_long",
  reason: `A message is 1 to ${max} characters long.`,
});
