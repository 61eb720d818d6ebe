import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CONFIG_SCHEMA, markdownTable, usage } from "../../src/cli/config-schema.js";
import { ConfigError, effectiveConfig, loadConfig, toServerOptions } from "../../src/cli/config.js";
import { resolveOptions } from "../../src/server/options.js";
import { DEFAULT_RETAIN_BYTES_PER_ROOM, DEFAULT_RETAIN_BYTES_TOTAL, DEFAULT_RETAIN_PER_ROOM } from "../../src/store/index.js";

/** Settings the store applies itself when the server leaves them out. */
const STORE_DEFAULTS: Record<string, unknown> = { retainPerRoom: DEFAULT_RETAIN_PER_ROOM, retainBytesPerRoom: DEFAULT_RETAIN_BYTES_PER_ROOM, retainBytesTotal: DEFAULT_RETAIN_BYTES_TOTAL };

const files = (map: Record<string, string>) => (path: string) => {
  if (!(path in map)) throw new Error(`ENOENT: ${path}`);
  return map[path]!;
};

/** The ConfigError message for this input; fails the test when it loads. */
function refusal(argv: string[], env: Record<string, string> = {}, fs: Record<string, string> = {}): string {
  try {
    loadConfig(argv, env, files(fs));
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify({ argv, env, fs })}`);
}

describe("configuration", () => {
  it("takes flags over environment over the config file", () => {
    const fs = { "/etc/pulse.json": JSON.stringify({ port: 1000, host: "10.0.0.1", intervalMs: 4000, allowedHosts: ["a.example"] }) };
    const env = { PULSE_CONFIG: "/etc/pulse.json", PULSE_PORT: "2000", PULSE_ALLOWED_HOSTS: "b.example, c.example" };
    const c = loadConfig(["--port", "3000"], env, files(fs));
    assert.equal(c.values.port, 3000);
    assert.equal(c.origins.port, "flag");
    assert.equal(c.values.host, "10.0.0.1");
    assert.equal(c.origins.host, "file");
    assert.deepEqual(c.values.allowedHosts, ["b.example", "c.example"]);
    assert.equal(c.origins.allowedHosts, "env");
    assert.deepEqual(toServerOptions(c.values), { port: 3000, host: "10.0.0.1", liveness: { intervalMs: 4000 }, allowedHosts: ["b.example", "c.example"] });
  });

  it("repeats list flags", () => {
    const c = loadConfig(["--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example"], {});
    assert.deepEqual(c.values.allowedOrigins, ["https://a.example", "https://b.example"]);
  });

  it("refuses unknown flags and keys, naming them", () => {
    assert.match(refusal(["--prot", "80"]), /unknown flag '--prot' \(did you mean 'port'\?\)/);
    assert.match(refusal(["--config", "p.json"], {}, { "p.json": '{"hots": "x"}' }), /p\.json: unknown key 'hots' \(did you mean 'host'\?\)/);
    assert.match(refusal(["--config", "p.json"], {}, { "p.json": '{"config": "other.json"}' }), /unknown key 'config'/);
    assert.match(refusal(["serve"]), /takes only flags/);
  });

  it("refuses bad values with a sentence naming the setting and where it came from", () => {
    assert.match(refusal(["--port", "70000"]), /^--port: '70000' is not a whole number from 0 to 65535$/);
    assert.match(refusal(["--port", "12abc"]), /^--port: /);
    assert.match(refusal([], { PULSE_INTERVAL_MS: "1.5" }), /^PULSE_INTERVAL_MS: '1\.5' is not a whole number/);
    assert.match(refusal([], { PULSE_QUIET: "yes" }), /^PULSE_QUIET: 'yes' is not true, false, 1 or 0$/);
    assert.match(refusal(["--log-level", "loud"]), /^--log-level: expected one of debug, info, warn, error, got 'loud'$/);
    assert.match(refusal(["--config", "p.json"], {}, { "p.json": '{"port": "8080"}' }), /^p\.json key 'port': expected a number, got '8080'$/);
    assert.match(refusal(["--config", "p.json"], {}, { "p.json": '{"allowedHosts": "a.example"}' }), /^p\.json key 'allowedHosts': expected a list of strings/);
    assert.match(refusal(["--config", "p.json"], {}, { "p.json": "[1]" }), /must hold one JSON object/);
    assert.match(refusal(["--config", "p.json"], {}, { "p.json": "{port: 1}" }), /p\.json is not valid JSON/);
    assert.match(refusal(["--config", "missing.json"]), /config file missing\.json cannot be read/);
    assert.match(refusal(["--jwt-secret", "x".repeat(32), "--jwt-public-key", "k.pem"]), /jwtSecret and jwtPublicKey/);
    assert.match(refusal(["--allowed-host", "x".repeat(300)]), /^--allowed-host: each item is 1-255 characters/);
  });

  it("masks secrets in the effective configuration and says where each value came from", () => {
    const c = loadConfig(["--stats-token", "tok-123456", "--port", "0"], { PULSE_JWT_SECRET: "s".repeat(40) });
    const shown = effectiveConfig(c);
    assert.deepEqual(shown.statsToken, { value: "***", from: "flag" });
    assert.deepEqual(shown.jwtSecret, { value: "***", from: "env" });
    assert.deepEqual(shown.port, { value: 0, from: "flag" });
    assert.deepEqual(shown.intervalMs, { value: 5000, from: "default" });
    assert.ok(!JSON.stringify(shown).includes("tok-123456"));
    assert.ok(!JSON.stringify(shown).includes("sssss"));
  });

  it("states the server's own defaults", () => {
    const resolved = resolveOptions({ log: () => {} }) as unknown as Record<string, unknown>;
    let compared = 0;
    for (const e of CONFIG_SCHEMA) {
      if (e.to === null || e.default === undefined) continue;
      const path = (e.to ?? e.key).split(".");
      const actual = path.reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], resolved) ?? STORE_DEFAULTS[e.key];
      assert.deepEqual(actual, e.default, `${e.key}: the schema says ${String(e.default)}, the server uses ${String(actual)}`);
      compared++;
    }
    assert.ok(compared >= 10);
  });

  it("takes frame ancestors as bare http(s) origins and refuses anything that could add to the page's CSP header", () => {
    const ancestors = (list: string[]) => resolveOptions({ log: () => {}, frameAncestors: list }).frameAncestors;
    assert.deepEqual(ancestors(["https://Example.com", "http://127.0.0.1:8080/"]), ["https://example.com", "http://127.0.0.1:8080"]);
    for (const bad of ["https://example.com; script-src *", "https://example.com/chat", "https://a@example.com", "https://example.com?x", "javascript:alert(1)", "*", "example.com", "'unsafe-inline'"]) {
      assert.throws(() => ancestors([bad]), /frameAncestors: .* is not an http\(s\) origin/, bad);
    }
  });

  it("takes read-only rooms as room names or prefixes with *, in the form rooms are kept (NFKC), and refuses anything else", () => {
    const c = loadConfig(["--read-only-room", "news", "--read-only-room", "ann*"], {});
    assert.deepEqual(toServerOptions(c.values).readOnlyRooms, ["news", "ann*"]);
    const patterns = (list: string[]) => resolveOptions({ log: () => {}, readOnlyRooms: list }).readOnlyRooms;
    assert.deepEqual(patterns(["ｎｅｗｓ", "*", "a*"]), ["news", "*", "a*"]);
    assert.deepEqual(patterns([]), []);
    for (const bad of ["", "x".repeat(65), "tab\there*", "**".repeat(40)]) {
      assert.throws(() => patterns([bad]), /readOnlyRooms: .* is not a room name/, JSON.stringify(bad));
    }
    // A look-alike * is not a prefix, as in a token's patterns.
    assert.throws(() => patterns(["team＊"]), /readOnlyRooms: "team＊" ends in a character NFKC reads as \*/);
    assert.deepEqual(patterns(["team＊*"]), ["team**"], "after an ASCII * it is part of the prefix");
  });

  it("takes the log budget from --log-burst and --log-per-second", () => {
    const c = loadConfig(["--log-burst", "5", "--log-per-second", "2"], {});
    assert.deepEqual(resolveOptions({ log: () => {}, ...toServerOptions(c.values) }).logBudget, { burst: 5, perSecond: 2, reportMs: 10_000 });
    assert.throws(() => loadConfig(["--log-burst", "0"], {}));
  });

  it("generates help with every flag and environment variable", () => {
    const help = usage();
    for (const e of CONFIG_SCHEMA) {
      assert.ok(help.includes(`--${e.flag}`), e.flag);
      if (e.env) assert.ok(help.includes(e.env), e.env);
    }
  });

  it("README's configuration table is the schema's (npm run docs:config rewrites it)", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const block = /<!-- config-table:[^>]*-->\n([\s\S]*?)\n<!-- \/config-table -->/.exec(readme);
    assert.ok(block, "README.md has no config-table block");
    assert.equal(block[1], markdownTable());
  });
});
