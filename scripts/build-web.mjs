// Bundles the chat page (src/web) into dist/web with esbuild.
import { build } from "esbuild";
import { chmodSync, cpSync, existsSync, mkdirSync } from "node:fs";

const entry = "src/web/main.ts";
if (existsSync(entry)) {
  mkdirSync("dist/web", { recursive: true });
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    target: "es2020",
    minify: true,
    sourcemap: true,
    outfile: "dist/web/app.js",
    logLevel: "warning",
  });
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
