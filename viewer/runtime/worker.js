/**
 * Worker scopes (dedicated, shared, service). The worker runs from Tandem's
 * wrapper, so its own location is the wrapper's; the site's code must see the
 * real script's upstream URL instead, and relative URLs resolve against the real
 * script (env.realBase). In a service worker, requests for Tandem's reserved
 * paths never reach the site's fetch handlers: the browser fetches them itself.
 */

import { wrap } from "./hooks.js";

export function installWorker(win, env, h, natives) {
  const { apply, method, accessor } = h;
  const { proxy, upstream } = env;
  const real = upstream(env.realBase);

  // self.location: a WorkerLocation whose getters answer for the real script
  const WL = win.WorkerLocation;
  if (WL) {
    const fake = Object.create(WL.prototype);
    const parsed = new URL(real);
    for (const name of ["href", "origin", "protocol", "host", "hostname", "port", "pathname", "search", "hash"]) {
      accessor(WL.prototype, name, (get) => wrap((self) => (self === fake ? parsed[name] : apply(get, self, []))));
    }
    method(WL.prototype, "toString", (nat) => wrap((self) => (self === fake ? parsed.href : apply(nat, self, []))));
    accessor(win, "location", (get) => wrap((self) => (self === win ? fake : apply(get, self, []))));
  }
  accessor(win, "origin", (get) => wrap((self) => (self === win ? env.upstreamOrigin : apply(get, self, []))));

  method(win, "importScripts", (nat) => wrap((self, a) => apply(nat, self, a.map(proxy))));

  // Service worker: Tandem's own paths bypass the site's fetch handlers
  const SWGS = win.ServiceWorkerGlobalScope;
  if (!SWGS || !(win instanceof SWGS)) return;
  const FetchEvent = win.FetchEvent;
  const requestOf = FetchEvent && Object.getOwnPropertyDescriptor(FetchEvent.prototype, "request").get;
  const isOurs = (event) => {
    try {
      if (!(event instanceof FetchEvent)) return false;
      return env.isReserved(apply(natives.requestUrl, apply(requestOf, event, []), []));
    } catch {
      return false;
    }
  };
  const wrapped = new WeakMap();
  const guard = (listener) => {
    if (typeof listener !== "function" && !(listener && typeof listener.handleEvent === "function")) return listener;
    if (!wrapped.has(listener)) {
      wrapped.set(listener, function (event) {
        if (isOurs(event)) return undefined;
        return typeof listener === "function" ? apply(listener, this, [event]) : listener.handleEvent(event);
      });
    }
    return wrapped.get(listener);
  };
  const ET = win.EventTarget.prototype;
  for (const name of ["addEventListener", "removeEventListener"]) {
    method(ET, name, (nat) => wrap((self, a) => {
      if (self === win && a[0] === "fetch") a[1] = guard(a[1]);
      return apply(nat, self, a);
    }));
  }
  const onfetch = new WeakMap();
  accessor(
    win,
    "onfetch",
    (get) => wrap((self) => (self === win && onfetch.has(win) ? onfetch.get(win) : apply(get, self, []))),
    (set) => wrap((self, [value]) => {
      if (self !== win) return apply(set, self, [value]);
      onfetch.set(win, typeof value === "function" ? value : null);
      return apply(set, self, [typeof value === "function" ? guard(value) : value]);
    }),
  );
}
