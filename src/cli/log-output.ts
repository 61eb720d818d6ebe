import { destination, pino, stdTimeFunctions, type Logger } from "pino";
import { ConfigError } from "./config.js";

/**
 * The CLI's log output: pino JSON lines on stdout (one event per line), or lines for people
 * through pino-pretty, which is loaded only when asked for: it is not a dependency of the
 * package, so a production install stays small.
 */
export async function createLogOutput(level: string, format: "json" | "pretty"): Promise<Logger> {
  const options = { level, base: { pid: process.pid }, timestamp: stdTimeFunctions.isoTime };
  if (format === "json") return pino(options, destination({ dest: 1, sync: true }));
  let pretty: (options: object) => NodeJS.WritableStream;
  try {
    const name = "pino-pretty"; // a variable, so bundlers and tsc don't require it
    pretty = ((await import(name)) as { default: typeof pretty }).default;
  } catch {
    throw new ConfigError("log-format pretty needs the pino-pretty package: npm install pino-pretty (or use --log-format json)");
  }
  return pino(options, pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: "SYS:HH:MM:ss.l" }));
}
