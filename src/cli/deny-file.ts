import { readFileSync } from "node:fs";
import { ConfigError } from "./config.js";

/**
 * The entries of a deny file (`--deny-file`): one address, CIDR range or `user:<userId>` per
 * line; `#` starts a comment; blank lines are skipped. The server checks the entries
 * (DenyList.replace), so a typo is reported with the entry it is in.
 */
export function readDenyFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`denyFile: cannot read ${path}: ${(err as Error).message}`);
  }
  const entries: string[] = [];
  for (const line of text.split("\n")) {
    const hash = line.indexOf("#");
    const entry = (hash < 0 ? line : line.slice(0, hash)).trim();
    if (entry.length > 0) entries.push(entry);
  }
  return entries;
}
