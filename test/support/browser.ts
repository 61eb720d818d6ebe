import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's package; `.ci/run` installs it when missing. Override with PULSE_CHROMIUM. */
export const CHROMIUM_PATH = process.env.PULSE_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Launch the system's headless Chromium. The tests never download a browser; without one they
 * fail with a message that says what to install, rather than skipping and looking green.
 */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. Install Debian's package (apt-get install chromium; ` +
        `.ci/run does this) or point PULSE_CHROMIUM at a Chromium binary. The browser tests never download one.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", ...extraArgs],
  });
}
