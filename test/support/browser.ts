import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/**
 * Which Chromium the browser tests drive:
 * - PULSE_CHROMIUM=/path/to/chromium: that binary, when it exists;
 * - PULSE_CHROMIUM=packaged: skip the system one, use the npm package's;
 * - unset: Debian's /usr/bin/chromium when installed, else the npm package's.
 * The packaged one is `@sparticuz/chromium` (a devDependency): a compressed Chromium inside
 * the package, inflated into the temp directory on first use. Nothing is downloaded at run time.
 */
export const SYSTEM_CHROMIUM = "/usr/bin/chromium";
const PACKAGED = "packaged";

export const HEADLESS_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];

/** Where the Chromium came from, for a test log line or a failure message. */
export interface ChromiumChoice {
  path: string;
  source: "PULSE_CHROMIUM" | "system" | "@sparticuz/chromium";
}

let packagedPath: Promise<string> | null = null;

/** Inflate the packaged Chromium once per process (the package skips it when already there). */
async function packagedChromium(): Promise<string> {
  packagedPath ??= (async () => {
    let mod: { default: { executablePath(): Promise<string>; setGraphicsMode: boolean } };
    try {
      mod = (await import("@sparticuz/chromium")) as typeof mod;
    } catch (error) {
      throw new Error(
        `No Chromium for the browser tests: ${SYSTEM_CHROMIUM} is not installed and the npm package ` +
          `@sparticuz/chromium could not be loaded (${(error as Error).message}). Run \`npm install\` ` +
          `(it is a devDependency), or install Debian's package (apt-get install chromium), or point ` +
          `PULSE_CHROMIUM at a Chromium binary.`,
      );
    }
    // No WebGL needed: skips inflating the software GL library.
    mod.default.setGraphicsMode = false;
    return mod.default.executablePath();
  })();
  return packagedPath;
}

export async function chooseChromium(env: NodeJS.ProcessEnv = process.env): Promise<ChromiumChoice> {
  const wanted = env.PULSE_CHROMIUM?.trim();
  if (wanted && wanted !== PACKAGED && existsSync(wanted)) return { path: wanted, source: "PULSE_CHROMIUM" };
  if (!wanted && existsSync(SYSTEM_CHROMIUM)) return { path: SYSTEM_CHROMIUM, source: "system" };
  return { path: await packagedChromium(), source: "@sparticuz/chromium" };
}

/**
 * Launch a headless Chromium (see chooseChromium). The tests never download a browser and never
 * skip: without a usable one they fail with a message that says what to install.
 */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  const choice = await chooseChromium();
  try {
    return await chromium.launch({ executablePath: choice.path, args: [...HEADLESS_ARGS, ...extraArgs] });
  } catch (error) {
    throw new Error(
      `Chromium from ${choice.source} (${choice.path}) did not start: ${(error as Error).message.split("\n")[0]}. ` +
        `Install Debian's package (apt-get install chromium; .ci/run does this), or run \`npm install\` for ` +
        `the packaged @sparticuz/chromium, or point PULSE_CHROMIUM at a working Chromium binary.`,
    );
  }
}
