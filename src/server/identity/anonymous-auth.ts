import { randomBytes } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import type { AuthMode, Identity } from "./identity.js";

const ISSUER = "pulse:anonymous";
/** Resume tokens are refreshed in every `welcome`, so this only ends identities left unused. */
const RESUME_TOKEN_LIFETIME = "400d";
const ANON_ID = /^anon-[A-Za-z0-9_-]{16,64}$/;
/** A presented token younger than this is handed back as it is instead of signing a new one. */
const REISSUE_AFTER_S = 24 * 60 * 60;

/**
 * Anonymous mode, the default: anyone may chat, but who they are is still the server's word.
 * A first `hello` gets a fresh random userId; `welcome` carries a resume token (an HS256 JWT
 * signed with a key kept in the store) that proves that userId on every later `hello`. The
 * nickname holds are keyed on the userId, so only the token's holder gets a name back.
 * A token that does not verify (another server's, tampered, expired) is ignored, not refused:
 * the client simply becomes someone new.
 */
export function anonymousAuth(secret: Uint8Array): AuthMode {
  // Identities whose presented token is fresh: signing one per welcome cost a reconnect storm
  // thousands of signatures in a second for nothing.
  const fresh = new WeakMap<Identity, string>();
  return {
    async authenticate(_request, hello) {
      if (hello.token) {
        const proven = await verifyResumeToken(secret, hello.token);
        if (proven) {
          const identity: Identity = { userId: proven.userId };
          if (Date.now() / 1000 - proven.issuedAtS < REISSUE_AFTER_S) fresh.set(identity, hello.token);
          return identity;
        }
      }
      return { userId: `anon-${randomBytes(16).toString("base64url")}` };
    },
    issueResumeToken: async (identity: Identity, nick: string) =>
      fresh.get(identity) ??
      new SignJWT({ name: nick })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(ISSUER)
        .setSubject(identity.userId)
        .setIssuedAt()
        .setExpirationTime(RESUME_TOKEN_LIFETIME)
        .sign(secret),
  };
}

async function verifyResumeToken(secret: Uint8Array, token: string): Promise<{ userId: string; issuedAtS: number } | null> {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], issuer: ISSUER });
    return typeof payload.sub === "string" && ANON_ID.test(payload.sub) ? { userId: payload.sub, issuedAtS: payload.iat ?? 0 } : null;
  } catch {
    return null;
  }
}
