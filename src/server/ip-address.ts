/**
 * IP addresses as bytes: parsed once at the edge (the socket's peer address, an
 * `X-Forwarded-For` entry, a configured proxy range), then compared and masked as numbers, never
 * as text. The parser is a single left-to-right pass over at most MAX_ADDRESS_TEXT characters
 * (no regular expressions), and refuses anything that is not an address rather than guessing.
 */

/** An address. IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is IPv4: it is the same host. */
export type IpAddress =
  | { readonly family: 4; readonly bytes: Uint8Array; readonly zone: "" }
  /**
   * `zone`: the interface of a link-local address (`fe80::1%eth0`), "" for none. Node reports
   * it in `remoteAddress` for a link-local peer; the same address on two links is two hosts.
   */
  | { readonly family: 6; readonly bytes: Uint8Array; readonly zone: string };

/** Bits in an address of each family. */
export const ADDRESS_BITS = { 4: 32, 6: 128 } as const;

/**
 * Longer text is not an address: the longest IPv6 spelling is 45 characters
 * (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`), plus `%` and a zone of MAX_ZONE_LENGTH.
 */
const MAX_ADDRESS_TEXT = 45 + 1 + 32;
const MAX_ZONE_LENGTH = 32;

/** The address written in `text`, or null when it is not exactly one IPv4 or IPv6 address. */
export function parseIp(text: string): IpAddress | null {
  if (text.length === 0 || text.length > MAX_ADDRESS_TEXT) return null;
  if (!text.includes(":")) {
    const bytes = parseIpv4(text, 0, text.length);
    return bytes && { family: 4, bytes, zone: "" };
  }
  const percent = text.indexOf("%");
  const zone = percent < 0 ? "" : text.slice(percent + 1);
  if (percent >= 0 && !validZone(zone)) return null;
  const bytes = parseIpv6(percent < 0 ? text : text.slice(0, percent));
  if (!bytes) return null;
  if (isIpv4Mapped(bytes)) return { family: 4, bytes: bytes.slice(12), zone: "" };
  return { family: 6, bytes, zone };
}

/**
 * One spelling per address: IPv4 dotted, IPv6 in the RFC 5952 form (lower case, no leading
 * zeros, the first longest run of two or more zero groups written `::`), then `%zone`.
 */
export function formatIp(address: IpAddress): string {
  const b = address.bytes;
  if (address.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const text = formatIpv6(b, 128);
  return address.zone ? `${text}%${address.zone}` : text;
}

/** `bytes` with every bit after the first `bits` cleared (a copy). */
export function maskBytes(bytes: Uint8Array, bits: number): Uint8Array {
  const masked = bytes.slice();
  for (let i = 0; i < masked.length; i++) masked[i]! &= byteMask(i, bits);
  return masked;
}

/** The bits of byte `i` that lie within the first `bits` bits of an address. */
export const byteMask = (i: number, bits: number): number => (0xff00 >> Math.min(8, Math.max(0, bits - i * 8))) & 0xff;

/**
 * The prefix of `address` that the per-address limits count by. IPv4: the whole address (one
 * IPv4 address is one host or one NAT). IPv6: the first `ipv6PrefixBits`, written
 * `2001:db8:1:2::/64` (`fe80::%eth0/64` with a zone), since one host usually holds a whole /64
 * and can pick a new source address in it for every connection; at 128, the whole address.
 */
export function prefixKey(address: IpAddress, ipv6PrefixBits: number): string {
  if (address.family === 4 || ipv6PrefixBits >= ADDRESS_BITS[6]) return formatIp(address);
  const prefix = formatIpv6(address.bytes, ipv6PrefixBits);
  return `${prefix}${address.zone ? `%${address.zone}` : ""}/${ipv6PrefixBits}`;
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Zones are interface names or numbers: letters, digits, `.`, `_`, `-`. */
function validZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > MAX_ZONE_LENGTH) return false;
  for (let i = 0; i < zone.length; i++) {
    const c = zone.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2e || c === 0x5f || c === 0x2d;
    if (!ok) return false;
  }
  return true;
}

/** Four decimal parts of 0..255 in text[start, end), no leading zeros (`010` is octal to some parsers). */
function parseIpv4(text: string, start: number, end: number): Uint8Array | null {
  const bytes = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 0x2e : text.charCodeAt(i); // the end closes the last part like a dot
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return null;
      bytes[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return null; // a leading zero
      value = value * 10 + (c - 0x30);
      if (++digits > 3 || value > 255) return null;
    } else {
      return null;
    }
  }
  return part === 4 ? bytes : null;
}

/**
 * Eight groups of 1-4 hex digits, at most one `::` standing for one or more zero groups, and
 * optionally an IPv4 address as the last two groups. One pass, no intermediate strings.
 */
function parseIpv6(text: string): Uint8Array | null {
  const n = text.length;
  const groups: number[] = [];
  let gapAt = -1; // groups before the "::"
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return null;
    gapAt = 0;
    i = 2;
  }
  while (i < n) {
    let j = i;
    let value = 0;
    for (let digit = hexDigit(text.charCodeAt(j)); digit >= 0 && j < n; digit = hexDigit(text.charCodeAt(++j))) value = value * 16 + digit;
    if (text.charCodeAt(j) === DOT) {
      // The last two groups written as IPv4: it runs to the end of the text.
      const v4 = groups.length <= 6 ? parseIpv4(text, i, n) : null;
      if (!v4) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      break;
    }
    if (j === i || j - i > 4 || groups.push(value) > 8) return null;
    if (j === n) break;
    if (text.charCodeAt(j) !== COLON) return null;
    if (text.charCodeAt(j + 1) === COLON) {
      if (gapAt >= 0) return null;
      gapAt = groups.length;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === n) return null; // a trailing single colon
    }
  }
  if (gapAt < 0 ? groups.length !== 8 : groups.length > 7) return null;
  const bytes = new Uint8Array(16); // zeros: what "::" stands for
  const tail = gapAt < 0 ? 0 : groups.length - gapAt;
  for (let g = 0; g < groups.length; g++) {
    const at = g < groups.length - tail ? g : 8 - (groups.length - g);
    bytes[2 * at] = groups[g]! >> 8;
    bytes[2 * at + 1] = groups[g]! & 0xff;
  }
  return bytes;
}

const COLON = 0x3a;
const DOT = 0x2e;

/** The value of a hex digit's character code, or -1 (also for NaN, past the end). */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** The first `bits` bits of `bytes` (the rest as zeros) in the RFC 5952 form. */
function formatIpv6(bytes: Uint8Array, bits: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! & byteMask(i, bits)) << 8) | (bytes[i + 1]! & byteMask(i + 1, bits)));
  // The first longest run of two or more zero groups becomes "::" (RFC 5952, 4.2).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
    } else {
      text += text === "" || text.endsWith(":") ? groups[i]!.toString(16) : `:${groups[i]!.toString(16)}`;
    }
  }
  return text;
}
