import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { IncomingMessage, ServerResponse } from "node:http";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

const FILES = ["index.html", "app.js", "app.js.map", "style.css", "sw.js", "sw.js.map"];

/**
 * The built chat page: dist/web, which is ../web from dist/server and ../../dist/web from
 * src/server (run through tsx). src/web holds the sources, not a build: it has no app.js.
 */
export function defaultWebRoot(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, "../web"), join(here, "../../dist/web")]) {
    if (existsSync(join(candidate, "index.html")) && existsSync(join(candidate, "app.js"))) return candidate;
  }
  return null;
}

/**
 * The Content-Security-Policy header of the page's files: the page's own meta policy, word for
 * word (a test holds them together), plus frame-ancestors, which a meta cannot carry. The header
 * was looser than the meta (any ws: or wss: host, no base-uri, form-action or object-src): the
 * meta decided for the page, but the service worker and scripts get only the header.
 */
export function pagePolicy(frameAncestors: readonly string[]): string {
  const page = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";
  return `${page}; frame-ancestors ${["'self'", ...frameAncestors].join(" ")}`;
}

/**
 * Serves the chat page's few files from memory. Only a fixed list of names is served, so no
 * request path ever reaches the file system.
 *
 * `frameAncestors`: the origins (besides this server) whose pages may show the page in a frame.
 * A page's own meta CSP cannot say that; without the header any site could lay the chat under
 * its own page, invisible, and have the user click in it (clickjacking).
 */
export function staticFiles(root: string | null, frameAncestors: readonly string[]): (req: IncomingMessage, res: ServerResponse) => boolean {
  const policy = pagePolicy(frameAncestors);
  const files = new Map<string, { body: Buffer; type: string }>();
  if (root) {
    for (const name of FILES) {
      const path = join(root, name);
      if (!existsSync(path)) continue;
      const ext = name.slice(name.lastIndexOf("."));
      files.set(`/${name}`, { body: readFileSync(path), type: TYPES[ext] ?? "application/octet-stream" });
    }
  }
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const file = files.get(path === "/" ? "/index.html" : path);
    if (!file || (req.method !== "GET" && req.method !== "HEAD")) return false;
    res.writeHead(200, {
      "content-type": file.type,
      "content-length": file.body.length,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy": policy,
    });
    res.end(req.method === "HEAD" ? undefined : file.body);
    return true;
  };
}
