import { createPublicKey, type KeyObject } from "node:crypto";
import { errors, jwtVerify } from "jose";
import { CloseCode } from "../../protocol/close-codes.js";
import type { AuthMode, AuthResult } from "./identity.js";

export type JwtKey =
  /** HS256 with a shared secret (at least 32 bytes). */
  | { secret: string | Uint8Array }
  /** EdDSA (Ed25519), ES256 (P-256) or RS256, from a PEM public key (SPKI). */
  | { publicKeyPem: string };

const MAX_ROOM_PATTERNS = 256;
const MAX_CLAIM_LENGTH = 256;
/** Clocks of the token issuer and this server may disagree a little. */
const CLOCK_TOLERANCE_S = 30;

/**
 * Token mode: the deployer's login issues a JWT; the client puts it in `hello` (browsers
 * cannot set headers on a WebSocket, and a URL ends up in logs). Claims: `sub` (the userId,
 * required), `name` (the nickname, optional), `rooms` (an allow-list, optional), `write` (the
 * rooms it may send to, optional: see Identity.write), `exp`.
 */
export function jwtAuth(key: JwtKey): AuthMode {
  const { verifyKey, algorithms } = resolveKey(key);
  const refuse = (reason: string): AuthResult => ({ refuse: { code: CloseCode.Unauthorized, reason } });
  return {
    async authenticate(_request, hello) {
      if (!hello.token) return refuse("this server needs a token in hello");
      let payload;
      try {
        ({ payload } = await jwtVerify(hello.token, verifyKey, { algorithms, clockTolerance: CLOCK_TOLERANCE_S }));
      } catch (err) {
        return refuse(err instanceof errors.JWTExpired ? "token expired" : "token not valid");
      }
      const { sub, name, rooms, write, exp } = payload;
      if (typeof sub !== "string" || sub.length === 0 || sub.length > MAX_CLAIM_LENGTH) return refuse("token has no usable sub claim");
      if (name !== undefined && (typeof name !== "string" || name.length > MAX_CLAIM_LENGTH)) return refuse("token's name claim is not a short string");
      if (rooms !== undefined && !isRoomList(rooms)) return refuse(`token's rooms claim must be a list of at most ${MAX_ROOM_PATTERNS} room names`);
      if (write !== undefined && !isRoomList(write)) return refuse(`token's write claim must be a list of at most ${MAX_ROOM_PATTERNS} room names`);
      // Verified above: a number when present. It ends the connection as it would end a new hello.
      const expiresAt = exp !== undefined ? (exp + CLOCK_TOLERANCE_S) * 1000 : undefined;
      return { userId: sub, ...(name !== undefined ? { name } : {}), ...(rooms !== undefined ? { rooms } : {}), ...(write !== undefined ? { write } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
    },
  };
}

function isRoomList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length <= MAX_ROOM_PATTERNS && value.every((r) => typeof r === "string" && r.length > 0 && r.length <= MAX_CLAIM_LENGTH);
}

function resolveKey(key: JwtKey): { verifyKey: Uint8Array | KeyObject; algorithms: string[] } {
  if ("secret" in key) {
    const secret = typeof key.secret === "string" ? new TextEncoder().encode(key.secret) : key.secret;
    // RFC 7518 3.2: an HS256 key shorter than the hash is guessable.
    if (secret.length < 32) throw new Error("the JWT secret must be at least 32 bytes");
    return { verifyKey: secret, algorithms: ["HS256"] };
  }
  const publicKey = createPublicKey(key.publicKeyPem);
  // One algorithm per key type: a token cannot pick a weaker one (no "alg confusion").
  switch (publicKey.asymmetricKeyType) {
    case "ed25519":
      return { verifyKey: publicKey, algorithms: ["EdDSA", "Ed25519"] };
    case "ec":
      if (publicKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new Error("an EC public key must be P-256 (ES256)");
      return { verifyKey: publicKey, algorithms: ["ES256"] };
    case "rsa":
      return { verifyKey: publicKey, algorithms: ["RS256"] };
    default:
      throw new Error(`unsupported public key type ${publicKey.asymmetricKeyType}: use Ed25519, P-256 or RSA`);
  }
}
