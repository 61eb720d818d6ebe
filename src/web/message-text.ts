/**
 * Chat text as DOM nodes: plain text, with web addresses made into links. Built with
 * createElement and textContent only, so no chat text is ever parsed as HTML; only http and
 * https addresses become links, and a link never gets a handle on this page (rel).
 */

/**
 * A run of non-space characters that starts like a web address. Direction controls and
 * invisible characters end it: a right-to-left override inside a link made its text read as
 * another host than the one it went to ("https://\u202Emoc.elgoog@evil.example/" showed
 * google.com).
 */
const CANDIDATE = /\bhttps?:\/\/[^\s<>"'\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]+/gi;
/** Punctuation that usually ends the sentence rather than the address: "see https://x.org/." */
const TRAILING = /[.,;:!?)\]}]+$/;

/** The link's target when `raw` is a well-formed http(s) URL, else null. */
export function safeHref(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

/** Whether a link's host (as `new URL` wrote it: ASCII, IDNA-encoded) had characters beyond ASCII. */
const isInternationalHost = (href: string): boolean => new URL(href).hostname.split(".").some((label) => label.startsWith("xn--"));

/** Split text into plain strings and link targets, in order. Pure, for unit tests. */
export function splitLinks(text: string): Array<{ text: string; href?: string }> {
  const parts: Array<{ text: string; href?: string }> = [];
  let at = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const start = match.index ?? 0;
    let candidate = match[0];
    // Keep a closing bracket that belongs to the address: https://en.wikipedia.org/wiki/X_(Y)
    const trailing = TRAILING.exec(candidate)?.[0] ?? "";
    if (trailing !== "") candidate = candidate.slice(0, candidate.length - trailing.length);
    const href = safeHref(candidate);
    if (href === null) continue;
    if (start > at) parts.push({ text: text.slice(at, start) });
    // A host in another script reads as the one it imitates ("аpple.com" with a Cyrillic а):
    // such a link shows the address as the browser will reach it (xn--pple-43d.com).
    parts.push({ text: isInternationalHost(href) ? href : candidate, href });
    at = start + candidate.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

/** Fill `into` with the message text: text nodes and safe links. */
export function renderMessageText(into: HTMLElement, text: string): void {
  const nodes = splitLinks(text).map((part) => {
    if (part.href === undefined) return document.createTextNode(part.text);
    const link = document.createElement("a");
    link.href = part.href;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    // An address reads left to right whatever the text around it (dir isolates it).
    link.dir = "ltr";
    link.textContent = part.text;
    return link;
  });
  into.replaceChildren(...nodes);
}
