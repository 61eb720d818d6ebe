// Bundles the chat page (src/web) into dist/web with esbuild: the page, and its service worker.
import { build } from "esbuild";
import { chmodSync, cpSync, existsSync, mkdirSync } from "node:fs";

const bundles = [
  { entry: "src/web/main.ts", out: "dist/web/app.js", format: "esm" },
  // A classic script: module service workers are not supported everywhere yet.
  { entry: "src/web/sw.ts", out: "dist/web/sw.js", format: "iife" },
];
if (existsSync(bundles[0].entry)) {
  mkdirSync("dist/web", { recursive: true });
  for (const { entry, out, format } of bundles) {
    await build({
      entryPoints: [entry],
      bundle: true,
      format,
      target: "es2020",
      minify: true,
      sourcemap: true,
      outfile: out,
      logLevel: "warning",
    });
  }
  for (const file of ["index.html", "style.css"]) {
    if (existsSync(`src/web/${file}`)) cpSync(`src/web/${file}`, `dist/web/${file}`);
  }
}

// The client library as one ES module for browsers (no bundler needed):
// <script type="module">import { PulseClient } from "/pulse-client.js"</script>
await build({
  entryPoints: ["src/client/index.ts"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  sourcemap: true,
  outfile: "dist/browser/pulse-client.js",
  logLevel: "warning",
});

// The `pulse` bin runs as a program from a checkout too (npm also sets this bit when it links bins).
if (existsSync("dist/cli/pulse.js")) chmodSync("dist/cli/pulse.js", 0o755);
