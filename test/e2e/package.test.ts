import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { waitFor } from "../support/wait.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * `npm pack`, then a fresh project that uses the packed package the way a user would: imports
 * through the `exports` map, types from the shipped .d.ts, the `pulse` bin, the browser file.
 *
 * How the fresh project gets its dependencies, and why: a real `npm install <tarball>` needs the
 * registry's metadata (npm's cache holds tarballs, not always the metadata, so `--offline`
 * fails with ENOTCACHED) and compiles better-sqlite3 from source on this machine (no prebuilt
 * binary can be downloaded), which took minutes (docs/deploy.md gives the measured figure).
 * So the test unpacks the tarball into node_modules/pulse itself, as npm would, and links
 * ONLY the dependencies that the packed package.json declares to the project's own installed
 * copies (same versions, already compiled). An import of a package that is not declared
 * fails here as it would for a user; what this does not check is npm's own resolution.
 */
describe("the npm package", () => {
  it("installs into a fresh project: server, client, protocol, types, bin and browser file work", { timeout: 240_000 }, async () => {
    assert.ok(existsSync(join(ROOT, "dist/server/index.js")), "dist is missing: run `npm run build` first (npm test does)");
    const tmp = mkdtempSync(join(tmpdir(), "pulse-pack-"));
    try {
      const packed = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" })) as { filename: string; files: { path: string }[] }[];
      const files = packed[0]!.files.map((f) => f.path);
      assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("bench/") || f.startsWith("src/")), "tests, benches or sources were packed");

      const app = join(tmp, "app");
      const modules = join(app, "node_modules");
      mkdirSync(modules, { recursive: true });
      execFileSync("tar", ["xzf", join(tmp, packed[0]!.filename), "-C", tmp]);
      renameSync(join(tmp, "package"), join(modules, "pulse"));
      const manifest = JSON.parse(readFileSync(join(modules, "pulse/package.json"), "utf8")) as { dependencies: Record<string, string>; bin: Record<string, string> };
      const link = (name: string) => {
        mkdirSync(dirname(join(modules, name)), { recursive: true });
        symlinkSync(join(ROOT, "node_modules", name), join(modules, name), "dir");
      };
      for (const dep of Object.keys(manifest.dependencies)) link(dep);
      link("@types/node"); // the user's own dev dependency, for the type check
      link("@types/ws");
      writeFileSync(join(app, "package.json"), JSON.stringify({ name: "fresh-app", version: "1.0.0", type: "module", private: true }));

      // Runtime: a SQLite-backed server and a client, both from the installed package.
      writeFileSync(join(app, "main.mjs"), `
        import { startServer } from "pulse/server";
        import { PulseClient } from "pulse/client";
        import { PROTOCOL_VERSION, CloseCode } from "pulse/protocol";
        import WebSocket from "ws";
        const server = await startServer({ port: 0, host: "127.0.0.1", store: "./chat.db", log: () => {} });
        const client = new PulseClient({ url: server.url, nick: "ada", WebSocket });
        const got = new Promise((resolve) => client.on("message", resolve));
        client.on("state", (s) => { if (s.kind === "open") client.send("lobby", "hello from a fresh project"); });
        client.join("lobby");
        client.connect();
        const message = await got;
        client.close();
        await server.close();
        console.log(JSON.stringify({ protocol: PROTOCOL_VERSION, restart: CloseCode.ServerRestart, message }));
      `);
      const run = execFileSync(process.execPath, ["main.mjs"], { cwd: app, encoding: "utf8", timeout: 60_000 });
      const result = JSON.parse(run.trim().split("\n").pop()!) as { protocol: number; restart: number; message: { text: string; seq: number; from: string } };
      assert.equal(result.protocol, 1);
      assert.equal(result.restart, 4001);
      assert.deepEqual({ text: result.message.text, seq: result.message.seq, from: result.message.from }, { text: "hello from a fresh project", seq: 1, from: "ada" });
      assert.ok(existsSync(join(app, "chat.db")), "the SQLite store was not used");

      // Types: the shipped .d.ts, found through the exports map, accept good use and refuse bad.
      writeFileSync(join(app, "check.ts"), `
        import { startServer, type ServerOptions, type PulseServer } from "pulse/server";
        import { PulseClient, type ConnectionState } from "pulse/client";
        import { parseClientMessage, type ServerMessage } from "pulse/protocol";
        const options: ServerOptions = { port: 0, metricsPort: 0, liveness: { intervalMs: 1000 } };
        const server: Promise<PulseServer> = startServer(options);
        const state: ConnectionState["kind"] = "open";
        const parsed = parseClientMessage("{}");
        let m: ServerMessage | undefined;
        // @ts-expect-error port is a number
        const bad: ServerOptions = { port: "8080" };
        export { server, state, parsed, m, bad, PulseClient };
      `);
      writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, types: ["node"], lib: ["ES2022", "DOM"] }, files: ["check.ts"] }));
      execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: app, encoding: "utf8", timeout: 120_000 });

      // The bin: an executable file with a shebang, as `npm install -g` links it.
      const bin = join(modules, "pulse", manifest.bin.pulse!);
      assert.match(readFileSync(bin, "utf8"), /^#!\/usr\/bin\/env node\n/);
      assert.ok(statSync(bin).mode & 0o111, "the bin is not executable in the package");
      assert.match(execFileSync(bin, ["serve", "--help"], { encoding: "utf8" }), /--metrics-port/);
      const child = spawn(bin, ["serve", "--port", "0", "--host", "127.0.0.1", "--store", "memory"], { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      try {
        await waitFor(() => out.includes('"msg":"listening on http://127.0.0.1:'), "the installed bin to listen", 30_000);
      } finally {
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }

      // The browser file: one ES module, no bare imports left for a bundler to resolve.
      const browser = readFileSync(join(modules, "pulse/dist/browser/pulse-client.js"), "utf8");
      assert.match(browser, /export\{[^}]*as PulseClient/);
      assert.doesNotMatch(browser, /\bfrom\s*["'][^./]/);
      assert.doesNotMatch(browser, /\bimport\s*\(?\s*["'][^./]/);
      // And it loads where Node's globals are absent (a browser has no Buffer).
      const loaded = execFileSync(process.execPath, ["--input-type=module", "-e", `
        delete globalThis.Buffer;
        const m = await import(${JSON.stringify(pathToFileURL(join(modules, "pulse/dist/browser/pulse-client.js")).href)});
        console.log(typeof m.PulseClient, typeof m.backoffMs);
      `], { encoding: "utf8" });
      assert.equal(loaded.trim(), "function function");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
