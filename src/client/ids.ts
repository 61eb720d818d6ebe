/** Random id from the platform's CSPRNG; crypto.getRandomValues works in insecure contexts too. */
export function randomId(bytes = 12): string {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  let out = "";
  for (const b of buf) out += b.toString(36).padStart(2, "0");
  return out;
}
