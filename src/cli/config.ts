import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CONFIG_SCHEMA, entryByKey, type ConfigEntry } from "./config-schema.js";

/** A setting that cannot be used; the message is a sentence that names the setting. */
export class ConfigError extends Error {
  readonly code = "bad_config";
}

export type Origin = "flag" | "env" | "file" | "default";

export interface LoadedConfig {
  /** Settings given (flags, environment, file); absent ones are left to the server's defaults. */
  values: Record<string, unknown>;
  /** Where each given setting came from. */
  origins: Record<string, Origin>;
  help: boolean;
}

/** A config file bigger than this is not a config file. */
const MAX_CONFIG_FILE_BYTES = 64 * 1024;

/**
 * Reads flags, environment and the optional --config JSON file against the schema. Precedence:
 * flags, then environment, then the file. Unknown flags and file keys, and values of the wrong
 * type or out of range, are refused with a ConfigError naming the setting.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): LoadedConfig {
  const flags = parseFlags(argv);
  const values: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  const set = (e: ConfigEntry, value: unknown, origin: Origin) => {
    values[e.key] = value;
    origins[e.key] = origin;
  };

  const configEntry = entryByKey.get("config")!;
  const configPath = (flags.config as string | undefined) ?? nonEmpty(env[configEntry.env!]);
  if (configPath !== undefined) {
    for (const [key, raw] of Object.entries(readConfigFile(configPath, readFile))) {
      const e = entryByKey.get(key);
      if (!e || e.key === "config") throw new ConfigError(`${configPath}: unknown key '${key}'${suggest(key)}; the known keys are listed by pulse serve --help and in the README`);
      set(e, fromJson(e, raw, `${configPath} key '${key}'`), "file");
    }
    set(configEntry, configPath, flags.config !== undefined ? "flag" : "env");
  }
  for (const e of CONFIG_SCHEMA) {
    const raw = e.env ? nonEmpty(env[e.env]) : undefined;
    if (raw !== undefined && e.key !== "config") set(e, fromText(e, raw, e.env!), "env");
  }
  for (const e of CONFIG_SCHEMA) {
    const raw = flags[e.flag];
    if (raw === undefined || e.key === "config") continue;
    set(e, e.type.kind === "boolean" ? raw : e.type.kind === "list" ? checkList(e, raw as string[], `--${e.flag}`) : fromText(e, raw as string, `--${e.flag}`), "flag");
  }
  if (values.jwtSecret !== undefined && values.jwtPublicKey !== undefined) {
    throw new ConfigError("jwtSecret and jwtPublicKey: give one of them, not both");
  }
  return { values, origins, help: flags.help === true };
}

function parseFlags(argv: string[]): Record<string, unknown> {
  const options = Object.fromEntries(
    CONFIG_SCHEMA.map((e) => [e.flag, { type: e.type.kind === "boolean" ? "boolean" : "string", multiple: e.type.kind === "list" }] as const),
  );
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as { code?: string; message: string };
    const flag = /'(-[^']*)'/.exec(e.message)?.[1];
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new ConfigError(`unknown flag '${flag}'${suggest(flag?.replace(/^-+/, "") ?? "")}; pulse serve --help lists them`);
    if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new ConfigError(`flag '${flag}' needs a value; pulse serve --help says which`);
    if (e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") throw new ConfigError(`unexpected argument: pulse serve takes only flags (${e.message.split(".")[0]})`);
    throw new ConfigError(e.message);
  }
}

function readConfigFile(path: string, readFile: (path: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new ConfigError(`config file ${path} cannot be read: ${(err as Error).message}`);
  }
  if (text.length > MAX_CONFIG_FILE_BYTES) throw new ConfigError(`config file ${path} is over ${MAX_CONFIG_FILE_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${path} must hold one JSON object of settings`);
  return parsed as Record<string, unknown>;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s === "" ? undefined : s);

/** A value given as text (flag or environment). */
function fromText(e: ConfigEntry, raw: string, where: string): unknown {
  const t = e.type;
  switch (t.kind) {
    case "integer":
    case "number": {
      const n = /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
      return checkNumber(e, n, raw, where);
    }
    case "boolean":
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw new ConfigError(`${where}: '${clip(raw)}' is not true, false, 1 or 0`);
    case "list":
      return checkList(e, raw.split(",").map((s) => s.trim()).filter((s) => s !== ""), where);
    default:
      return fromJson(e, raw, where);
  }
}

/** A value from the JSON config file (or text already split for strings and choices). */
function fromJson(e: ConfigEntry, raw: unknown, where: string): unknown {
  const t = e.type;
  switch (t.kind) {
    case "integer":
    case "number":
      if (typeof raw !== "number") throw new ConfigError(`${where}: expected a number, got ${describe(raw)}`);
      return checkNumber(e, raw, String(raw), where);
    case "boolean":
      if (typeof raw !== "boolean") throw new ConfigError(`${where}: expected true or false, got ${describe(raw)}`);
      return raw;
    case "list":
      if (!Array.isArray(raw) || raw.some((s) => typeof s !== "string")) throw new ConfigError(`${where}: expected a list of strings, got ${describe(raw)}`);
      return checkList(e, raw as string[], where);
    case "choice":
      if (typeof raw !== "string" || !t.choices.includes(raw)) throw new ConfigError(`${where}: expected one of ${t.choices.join(", ")}, got ${describe(raw)}`);
      return raw;
    case "string":
      if (typeof raw !== "string" || raw === "") throw new ConfigError(`${where}: expected a non-empty string, got ${describe(raw)}`);
      if (raw.length > t.maxLength) throw new ConfigError(`${where}: longer than ${t.maxLength} characters`);
      return raw;
  }
}

function checkNumber(e: ConfigEntry, n: number, raw: string, where: string): number {
  const t = e.type as { kind: "integer" | "number"; min: number; max: number };
  const whole = t.kind === "integer";
  if (!Number.isFinite(n) || (whole && !Number.isSafeInteger(n)) || n < t.min || n > t.max) {
    throw new ConfigError(`${where}: '${clip(raw)}' is not a ${whole ? "whole number" : "number"} from ${t.min} to ${t.max}`);
  }
  return n;
}

function checkList(e: ConfigEntry, items: string[], where: string): string[] {
  const t = e.type as { kind: "list"; maxItems: number; maxLength: number };
  if (items.length > t.maxItems) throw new ConfigError(`${where}: more than ${t.maxItems} items`);
  const bad = items.find((s) => s === "" || s.length > t.maxLength);
  if (bad !== undefined) throw new ConfigError(`${where}: each item is 1-${t.maxLength} characters ('${clip(bad)}' is not)`);
  return items;
}

const clip = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}...` : s);
const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "string" ? `'${clip(v)}'` : `${typeof v} ${clip(JSON.stringify(v) ?? "")}`);

/** " (did you mean 'port'?)" when a known key is one edit or a case change away. */
function suggest(given: string): string {
  const lower = given.toLowerCase().replaceAll("-", "");
  const near = CONFIG_SCHEMA.find((e) => [e.key, e.flag].some((k) => editDistance(k.toLowerCase().replaceAll("-", ""), lower) <= 1));
  return near ? ` (did you mean '${given.includes("-") || given === near.flag ? near.flag : near.key}'?)` : "";
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b; 2 means "2 or more". */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 1) return 2;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The settings headed for startServer(), placed at each entry's `to` path. */
export function toServerOptions(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const e of CONFIG_SCHEMA) {
    const value = values[e.key];
    if (value === undefined || e.to === null) continue;
    const path = (e.to ?? e.key).split(".");
    let node = out;
    for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]!] = value;
  }
  return out;
}

/** Every setting with its value (secrets as ***) and where it came from, for the start-up log. */
export function effectiveConfig(config: LoadedConfig): Record<string, { value: unknown; from: Origin }> {
  return Object.fromEntries(
    CONFIG_SCHEMA.map((e) => {
      const given = config.values[e.key];
      const value = given === undefined ? (e.default ?? null) : e.secret ? "***" : given;
      return [e.key, { value, from: config.origins[e.key] ?? "default" }];
    }),
  );
}
