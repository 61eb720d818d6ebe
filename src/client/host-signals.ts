/** What the host environment tells the client about the network and about sleeping. */
export interface HostSignals {
  online(): void;
  offline(): void;
  /** The page became visible again or was restored: timers may have slept, re-check now. */
  resumed(): void;
}

interface EventHost {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

/**
 * In a browser, listens to online/offline, visibilitychange and pageshow; elsewhere does
 * nothing. Returns the function that stops listening.
 */
export function watchHost(signals: HostSignals): () => void {
  const g = globalThis as { window?: EventHost; document?: EventHost & { visibilityState?: string }; navigator?: { onLine?: boolean } };
  const win = g.window;
  const doc = g.document;
  if (!win || typeof win.addEventListener !== "function") return () => {};
  const onVisibility = () => {
    if (doc?.visibilityState === "visible") signals.resumed();
  };
  const pairs: Array<[EventHost, string, () => void]> = [
    [win, "online", () => signals.online()],
    [win, "offline", () => signals.offline()],
    [win, "pageshow", () => signals.resumed()],
  ];
  if (doc) pairs.push([doc, "visibilitychange", onVisibility]);
  for (const [target, type, fn] of pairs) target.addEventListener(type, fn);
  if (g.navigator?.onLine === false) queueMicrotask(() => signals.offline());
  return () => {
    for (const [target, type, fn] of pairs) target.removeEventListener(type, fn);
  };
}
