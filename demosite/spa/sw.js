// The SPA's service worker (scope /spa/): precaches the app shell, answers navigations
// inside the app with the shell when the network is gone, and keeps the last product
// list for offline use (network first).

const CACHE = "spa-v1";
const SHELL = "/spa/";

self.addEventListener("install", (event) => {
  // Absolute URLs built from the worker's own location, as bundlers' SW plugins do.
  const base = self.location.origin;
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll([`${base}${SHELL}`, `${base}/spa/assets/app.js`])).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && url.pathname.startsWith("/spa/")) {
    event.respondWith(fetch(event.request).catch(() => caches.match(`${self.location.origin}${SHELL}`)));
  } else if (url.pathname === "/api/products") {
    event.respondWith(
      fetch(event.request)
        .then((response) => {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(event.request, copy));
          return response;
        })
        .catch(() => caches.match(event.request)),
    );
  }
});

self.addEventListener("message", (event) => {
  if (event.data !== "status") return;
  caches.open(CACHE).then((cache) => cache.keys()).then((keys) => {
    event.source.postMessage({ scope: self.registration.scope, cached: keys.map((r) => r.url) });
  });
});
