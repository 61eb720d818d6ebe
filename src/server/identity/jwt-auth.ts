import { createPublicKey, type KeyObject } from "node:crypto";
import { errors, jwtVerify } from "jose";
import { CloseCode } from "../../protocol/close-codes.js";
import { identityProblem, type AuthMode, type AuthResult, type Identity } from "./identity.js";

export type JwtKey =
  /** HS256 with a shared secret (at least 32 bytes). */
  | { secret: string | Uint8Array }
  /** EdDSA (Ed25519), ES256 (P-256) or RS256, from a PEM public key (SPKI). */
  | { publicKeyPem: string };

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
      // Verified above: a number when present. It ends the connection as it would end a new hello.
      const expiresAt = exp !== undefined ? (exp + CLOCK_TOLERANCE_S) * 1000 : undefined;
      // The claims are checked as any identity is (identityProblem); their types are not known yet.
      const identity = { userId: sub, ...(name !== undefined ? { name } : {}), ...(rooms !== undefined ? { rooms } : {}), ...(write !== undefined ? { write } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) } as Identity;
      const problem = identityProblem(identity);
      return problem === null ? identity : refuse(`token not usable: ${problem}`);
    },
  };
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
