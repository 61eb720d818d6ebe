// Bundles the chat page (src/web) into dist/web with esbuild.
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync } from "node:fs";

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
