// Bundles the chat page (src/web) into dist/web with esbuild: the page, and its service worker.
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync } from "node:fs";

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
