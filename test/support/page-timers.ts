import type { Page } from "playwright-core";

/**
 * An init script that lets a test throttle the page's timers the way a browser does in a
 * background tab: while throttled, a timer that comes due is held, and the held callbacks run
 * together when the throttle ends (Chrome runs them about once a minute). The wall clock keeps
 * going and network events keep arriving, as they do in a real hidden tab. Headless Chromium
 * never hides a page by itself, so this is how the test gets that condition on demand.
 */
export const THROTTLE_TIMERS = `(() => {
  let throttled = false;
  const held = new Map();
  // Wrap a set/clear pair: a callback that comes due while throttled waits in \`held\`. A held
  // interval runs once when released, however many periods it missed, as in Chrome.
  const hold = (set, clear) => [
    (fn, ms, ...args) => {
      const run = typeof fn === "function" ? () => fn(...args) : () => {};
      const id = set(() => (throttled ? held.set(id, run) : run()), ms);
      return id;
    },
    (id) => {
      held.delete(id);
      clear(id);
    },
  ];
  [window.setTimeout, window.clearTimeout] = hold(window.setTimeout.bind(window), window.clearTimeout.bind(window));
  [window.setInterval, window.clearInterval] = hold(window.setInterval.bind(window), window.clearInterval.bind(window));
  window.__pulseThrottle = (on) => {
    throttled = on;
    if (on) return 0;
    const due = [...held.values()];
    held.clear();
    for (const run of due) run();
    return due.length;
  };
})();`;

/**
 * Hold (true) or release (false) the page's timers; needs THROTTLE_TIMERS installed.
 * Returns how many held callbacks a release ran, so a test can show the throttle bit.
 */
export async function setThrottled(page: Page, on: boolean): Promise<number> {
  return page.evaluate((value) => {
    return (window as unknown as { __pulseThrottle: (on: boolean) => number }).__pulseThrottle(value);
  }, on);
}

/**
 * Report the page as hidden or visible and fire `visibilitychange`, as switching tabs does.
 * Headless pages are always visible, so the document's getters are overridden.
 */
export async function setVisibility(page: Page, state: "hidden" | "visible"): Promise<void> {
  // A string, not a function: tsx would wrap the getters in a helper the page does not have.
  const value = JSON.stringify(state);
  await page.evaluate(`(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => ${value} });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => ${value} === "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  })()`);
}
