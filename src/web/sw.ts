/**
 * The page's service worker: a copy of the page and its assets for when the server cannot be
 * reached. Network first, so a running server always serves the current build (and refreshes
 * the copy); the copy answers only when the network fails. Chat data never goes through here:
 * it travels on the WebSocket, which service workers do not see.
 */

// Only the few types used here, so this file needs no WebWorker library in tsconfig.
interface ExtendableEvent extends Event {
  waitUntil(work: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}
interface WorkerScope {
  addEventListener(type: "install" | "activate", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEvent) => void): void;
  skipWaiting(): Promise<void>;
  readonly clients: { claim(): Promise<void> };
  readonly registration: { readonly scope: string };
}
const worker = self as unknown as WorkerScope;

/** Bump when the list of files changes; older copies are deleted on activate. */
const CACHE = "pulse-shell-v1";
/** The page and what it loads; "./" is the page itself, as a reload asks for it. */
const SHELL = ["./", "index.html", "app.js", "style.css"];

worker.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => worker.skipWaiting()),
  );
});

worker.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      // Control the page that registered us, so its next reload is already covered.
      .then(() => worker.clients.claim()),
  );
});

/** Whether a request is for one of the shell's files (same origin, GET, a known path). */
function isShell(request: Request): boolean {
  if (request.method !== "GET") return false;
  const url = new URL(request.url);
  const scope = new URL(worker.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return false;
  const name = url.pathname.slice(scope.pathname.length);
  return name === "" || SHELL.includes(name);
}

worker.addEventListener("fetch", (event) => {
  const { request } = event;
  if (!isShell(request)) return;
  event.respondWith(
    fetch(request)
      .then(async (response) => {
        if (response.ok) {
          const copy = response.clone();
          await caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(async () => {
        const cached = (await caches.match(request, { ignoreSearch: true })) ?? (await caches.match(new URL("./", worker.registration.scope).href));
        return cached ?? Response.error();
      }),
  );
});

export {};
