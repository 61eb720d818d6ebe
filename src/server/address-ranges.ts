import { ADDRESS_BITS, byteMask, formatIp, maskBytes, parseIp, type IpAddress } from "./ip-address.js";

/** A CIDR range: the addresses whose first `bits` bits are those of `bytes` (the rest are zero). */
export interface AddressRange {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/**
 * `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1` is `127.0.0.1/32`); or why not, as a
 * sentence. Refused: a prefix length that is not a plain decimal within the family's size,
 * bits set after the prefix (`10.0.0.1/8`: a typo for a host or for `10.0.0.0/8`?), a zone id
 * (a range holds addresses on every interface), and an IPv4-mapped prefix shorter than /96
 * (it would mix IPv4 and IPv6; write the IPv4 range instead).
 */
export function parseRange(text: string): AddressRange | string {
  const slash = text.indexOf("/");
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!address) return "is not an IP address or a CIDR range (address/prefix-length)";
  if (address.zone) return "has a zone id (%...); write the address alone, it matches on every interface";
  const mappedFrom = text.slice(0, slash < 0 ? text.length : slash).includes(":") && address.family === 4;
  // An IPv4-mapped address is written in IPv6's 128 bits.
  const max = mappedFrom ? 128 : ADDRESS_BITS[address.family];
  const written = slash < 0 ? max : prefixLength(text.slice(slash + 1), max);
  if (written === null) return `has a prefix length that is not a whole number from 0 to ${max}`;
  // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps (10.0.0.0/8).
  if (mappedFrom && written < 96) return "is an IPv4-mapped prefix shorter than /96; write the IPv4 range instead";
  const bits = mappedFrom ? written - 96 : written;
  const masked = maskBytes(address.bytes, bits);
  if (!masked.every((b, i) => b === address.bytes[i])) {
    const range = `${formatIp({ ...address, bytes: masked } as IpAddress)}/${bits}`;
    return `has bits set after the first ${bits}; the range is ${range}`;
  }
  return { family: address.family, bytes: masked, bits };
}

/** 0..max written in decimal without a sign or leading zeros, or null. */
function prefixLength(text: string, max: number): number | null {
  if (text.length === 0 || text.length > 3 || (text.length > 1 && text[0] === "0")) return null;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
    value = value * 10 + (c - 0x30);
  }
  return value <= max ? value : null;
}

/**
 * A set of ranges with a membership test that costs one lookup per distinct prefix length in
 * the set (at most 33 for IPv4 and 129 for IPv6, a handful in practice), however many ranges
 * it holds: ranges are kept by family and length, keyed by their prefix bytes.
 */
export class AddressRanges {
  /** family -> prefix length -> prefixes (see prefixOf). */
  private readonly byLength = { 4: new Map<number, Set<number | string>>(), 6: new Map<number, Set<number | string>>() };
  readonly size: number;

  constructor(ranges: readonly AddressRange[]) {
    for (const r of ranges) {
      const lengths = this.byLength[r.family];
      let prefixes = lengths.get(r.bits);
      if (!prefixes) lengths.set(r.bits, (prefixes = new Set()));
      prefixes.add(prefixOf(r.bytes, r.bits));
    }
    this.size = ranges.length;
  }

  /** Whether `address` is in one of the ranges (its zone, if any, plays no part). */
  has(address: IpAddress): boolean {
    for (const [bits, prefixes] of this.byLength[address.family]) {
      if (prefixes.has(prefixOf(address.bytes, bits))) return true;
    }
    return false;
  }
}

/**
 * The first `bits` bits of an address as a Set key, built without allocating a masked copy
 * (this runs for every hop of every upgrade): IPv4 as a number, IPv6 as a string of its
 * masked 16-bit groups.
 */
function prefixOf(bytes: Uint8Array, bits: number): number | string {
  if (bytes.length === 4) return (((bytes[0]! & byteMask(0, bits)) << 24) | ((bytes[1]! & byteMask(1, bits)) << 16) | ((bytes[2]! & byteMask(2, bits)) << 8) | (bytes[3]! & byteMask(3, bits))) >>> 0;
  let key = "";
  for (let i = 0; i < 16 && i * 8 < bits; i += 2) key += String.fromCharCode(((bytes[i]! & byteMask(i, bits)) << 8) | (bytes[i + 1]! & byteMask(i + 1, bits)));
  return key;
}
