/**
 * Register the service worker that keeps a copy of the page, so a reload while the server is
 * down still shows the page, its queued messages and the honest indicator. Browsers allow
 * service workers only in secure contexts (https, or http on localhost / 127.0.0.1); elsewhere
 * the page simply works without an offline copy.
 */
export function registerOfflineShell(): void {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("sw.js").catch(() => {
    // No offline copy; the page itself works the same.
  });
}
