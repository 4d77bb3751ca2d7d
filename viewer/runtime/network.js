/**
 * Network APIs, in windows and workers alike: every URL argument goes through
 * `env.proxy`, every URL the browser reports back through `env.upstream`.
 *
 * Workers (dedicated, shared, service) are started from a wrapper on the page's
 * own proxied origin, `/__tandem/worker.js` or `/__tandem/sw.js`, which loads
 * this runtime and then the real script (importScripts or a static import), so
 * the runtime runs before any of the worker's code. The worker's runtime reads
 * the real script URL from its own location.
 */

import { dropAll, HOLD } from "./cookies.js";
import { makeEnter } from "./enter.js";
import { SRI } from "./env.js";
import { wrap } from "./hooks.js";

export const WORKER_WRAPPER = "/__tandem/worker.js";
export const SW_WRAPPER = "/__tandem/sw.js";
export const OMIT_HEADER = "x-tandem-credentials";
const DATA_JS_RE = /^[\x00-\x20]*data:([^,]*?)(;base64)?,/i;
const WRAPPER_RE = /\/__tandem\/(?:worker|sw)\.js\?(?:[^#]*&)?src=([^&#]*)/;

/** The real script URL a wrapper URL names, or null. */
export function wrappedSource(url) {
  const m = WRAPPER_RE.exec(url);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

export function installNetwork(win, env, h, natives) {
  const { apply, method, accessor, ctor } = h;
  const { proxy, upstream } = env;
  const NativeRequest = win.Request;
  const NativeURL = natives.URL;
  const isRequest = (v) => {
    try {
      return !!NativeRequest && v instanceof NativeRequest;
    } catch {
      return false;
    }
  };
  const readUrl = h.up;
  const protoOf = (name) => win[name] && win[name].prototype; // undefined: method/accessor skip it
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const getter = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
  const baseForResolve = () => env.realBase || natives.baseURI();

  // credentials: "omit" would leave the participant credential behind too, and a
  // same-origin request has no Origin to be recognised by (proxy/cors.py): "same-origin"
  // sends cookies only where they are the page's own, which on the proxy is the credential.
  // A same-origin one carries OMIT_HEADER: the proxy then neither sends the jar's cookies
  // upstream nor stores the response's (proxy/decide.py). The page never sees the header.
  const HP = protoOf("Headers");
  const headersHas = HP && HP.has;
  const headersEntries = HP && HP.entries;
  const credentials = (input, init) => {
    if (!init || typeof init !== "object" || init.credentials !== "omit") return init;
    init = { ...init, credentials: "same-origin" };
    try {
      const url = isRequest(input) ? apply(natives.requestUrl, input, []) : input;
      if (new NativeURL(url, baseForResolve()).origin === env.origin) {
        // pairs, not a Headers: its iterator (which the native reads) hides the marker
        const headers = new win.Headers(init.headers !== undefined ? init.headers : isRequest(input) ? input.headers : undefined);
        const pairs = [...apply(headersEntries, headers, [])];
        pairs[pairs.length] = [OMIT_HEADER, "omit"];
        init.headers = pairs;
      }
    } catch {
      // an invalid URL: the native call reports it
    }
    return init;
  };
  const mapRequestArgs = (a) => {
    if (a.length && !isRequest(a[0])) a[0] = proxy(a[0]);
    if (a.length > 1) a[1] = credentials(a[0], a[1]);
    return a;
  };

  // blob: URLs read with the site's origin inside (env.proxy maps them back where they are used)
  method(NativeURL, "createObjectURL", h.up);
  method(NativeURL, "revokeObjectURL", h.arg());

  // fetch, Request, Response
  // a credentialed request to a host of the session not entered yet enters it first (enter.js)
  const enter = makeEnter(win, env, apply, win.fetch, NativeURL, baseForResolve);
  method(win, "fetch", (nat) => wrap((self, a) => {
    a = mapRequestArgs(a);
    const r = isRequest(a[0]);
    const c = a[1] && a[1].credentials;
    const p = (c || (r && a[0].credentials)) === "include" && enter(r ? apply(natives.requestUrl, a[0], []) : a[0]);
    return p ? p.then(() => apply(nat, self, a)) : apply(nat, self, a);
  }, true));
  if (NativeRequest) {
    ctor(win, "Request", mapRequestArgs);
    accessor(NativeRequest.prototype, "url", readUrl);
    accessor(NativeRequest.prototype, "referrer", readUrl);
    const headersOf = getter(NativeRequest.prototype, "headers");
    accessor(NativeRequest.prototype, "credentials", (get) => wrap((self) => {
      const v = apply(get, self, []);
      return v === "same-origin" && apply(headersHas, apply(headersOf, self, []), [OMIT_HEADER]) ? "omit" : v;
    }));
  }
  accessor(protoOf("Response"), "url", readUrl);
  method(win.Response, "redirect", h.arg());

  // XMLHttpRequest
  const XP = protoOf("XMLHttpRequest");
  const openMapped = h.arg(1);
  // a synchronous request's response may set cookies: from its open() to the end of this run no
  // document.cookie read is kept (cookies.js). open, not send: a wrapped send would make the
  // browser name this file, not the page's line, for what the request logs (a 404, a CORS error).
  method(XP, "open", (nat) => {
    const mapped = openMapped(nat);
    if (!natives.document) return mapped;
    return wrap((self, a) => {
      if (a.length > 2 && !a[2]) dropAll(win, natives, HOLD);
      return apply(mapped, self, a);
    });
  });
  accessor(XP, "responseURL", readUrl);

  // WebSocket, WebSocketStream, EventSource: to another host of the session they go through this
  // realm's own host (/__tandem/tunnel/HOST/path, proxy/tunnel.py): a constructor cannot wait to
  // enter that host, whose credential may not be here yet. An EventSource without credentials needs none.
  const host = new NativeURL(env.origin).host;
  const untunnel = (get, self) => upstream(apply(get, self, []).replace(/\/\/[^/]+\/__tandem\/tunnel\//, "//"));
  const gets = [];
  for (const name of ["WebSocket", "WebSocketStream", "EventSource"]) {
    const Native = ctor(win, name, (a) => {
      try {
        const u = new NativeURL(h.arg0(a)[0], baseForResolve());
        if (u.host != host && env.isOurs(u.hostname) && (name[0] > "E" || (a[1] && a[1].withCredentials))) {
          a[0] = `${u.protocol}//${host}/__tandem/tunnel/${u.href.slice(u.protocol.length + 2)}`;
        }
      } catch {
        // not a URL: the native throws its own error
      }
      return a;
    });
    if (Native) gets.push(accessor(Native.prototype, "url", (get) => wrap((self) => untunnel(get, self))).get);
  }
  // a socket's or event stream's messages come from its URL's origin
  const target = getter(win.Event.prototype, "target");
  accessor(protoOf("MessageEvent"), "origin", (get) => wrap((self) => {
    for (const g of gets) {
      try {
        return new NativeURL(untunnel(g, apply(target, self, []))).origin;
      } catch {
        // not a socket's message
      }
    }
    return apply(get, self, []);
  }));

  // navigator.sendBeacon
  method(protoOf("Navigator"), "sendBeacon", h.arg());

  // Worklets (audio, paint, ...): module URLs
  method(protoOf("Worklet"), "addModule", h.arg());

  // new Audio(url)
  ctor(win, "Audio", h.arg0);

  // FontFace("name", "url(...)")
  if (win.FontFace) {
    ctor(win, "FontFace", (a) => {
      if (typeof a[1] === "string") a[1] = env.css(a[1]);
      return a;
    });
  }

  // Cache API keys are URLs
  const mapKey = (v) => (isRequest(v) ? v : proxy(v));
  const CP = protoOf("Cache");
  for (const name of ["add", "match", "matchAll", "put", "delete", "keys"]) method(CP, name, h.arg(0, mapKey));
  method(CP, "addAll", (nat) => wrap((self, a) => {
    if (a.length && a[0] && typeof a[0][Symbol.iterator] === "function") a[0] = [...a[0]].map(mapKey);
    return apply(nat, self, a);
  }));
  method(protoOf("CacheStorage"), "match", h.arg(0, mapKey));

  // Workers: started from the wrapper on our own origin
  const absolute = (url) => new NativeURL(proxy(url), baseForResolve()).href;
  const wrapperUrl = (path, src, options) => {
    const type = options && typeof options === "object" && options.type === "module" ? "module" : "classic";
    return `${env.origin}${path}?v=${encodeURIComponent(env.version)}&t=${type}&src=${encodeURIComponent(src)}`;
  };
  /** Wrapper URL for a worker script, or null when the native should see the URL itself (its own error). */
  const workerUrl = (path, url, options) => {
    let abs;
    try {
      abs = absolute(url);
    } catch {
      return null;
    }
    const sameOrigin = abs.startsWith(`${env.origin}/`) || abs.startsWith(`blob:${env.origin}/`);
    return sameOrigin ? wrapperUrl(path, abs, options) : null;
  };
  // A data: worker would run in an opaque origin, without the runtime and without the
  // participant credential (nothing it fetched would load): it runs from a blob: of the
  // same code instead, which the wrapper can start.
  const dataToBlob = (value) => {
    const m = DATA_JS_RE.exec(`${value}`);
    if (!m) return value;
    try {
      const raw = `${value}`.slice(m[0].length);
      const code = m[2] ? natives.atob(decodeURIComponent(raw)) : decodeURIComponent(raw);
      return apply(natives.createObjectURL, NativeURL, [new natives.Blob([code], { type: "text/javascript" })]);
    } catch {
      return value;
    }
  };
  for (const name of ["Worker", "SharedWorker"]) {
    ctor(win, name, (a) => {
      if (!a.length) return a;
      a[0] = dataToBlob(a[0]);
      const url = workerUrl(WORKER_WRAPPER, a[0], a[1]);
      a[0] = url === null ? proxy(a[0]) : url;
      return a;
    });
  }
  if (win.ServiceWorkerContainer) {
    const proto = win.ServiceWorkerContainer.prototype;
    method(proto, "register", (nat) => wrap((self, a) => {
      if (!a.length) return apply(nat, self, a);
      const url = workerUrl(SW_WRAPPER, a[0], a[1]);
      if (url === null) {
        a[0] = proxy(a[0]);
        return apply(nat, self, a);
      }
      const options = a[1] && typeof a[1] === "object" ? { ...a[1] } : {};
      const src = wrappedSource(url);
      options.scope = options.scope === undefined ? new NativeURL("./", src).href : absolute(options.scope);
      return apply(nat, self, [url, options]);
    }));
    method(proto, "getRegistration", h.arg());
  }
  accessor(protoOf("ServiceWorker"), "scriptURL", (get) => wrap((self) => {
    const url = apply(get, self, []);
    return upstream(wrappedSource(url) || url);
  }));
  accessor(protoOf("ServiceWorkerRegistration"), "scope", readUrl);
  accessor(protoOf("Client"), "url", readUrl);
  method(protoOf("Clients"), "openWindow", h.arg());
  method(protoOf("WindowClient"), "navigate", h.arg());
  // Tandem's own loads (runtime, recorder, cookie and alias exchanges) are not the site's:
  // every list of performance entries the page can get leaves them out.
  const notOurs = (list) => {
    const out = [];
    for (let i = 0; i < list.length; i++) {
      const name = apply(natives.entryName, list[i], []);
      if (typeof name !== "string" || !env.isReserved(name)) out[out.length] = list[i];
    }
    return out;
  };
  for (const iface of ["Performance", "PerformanceObserverEntryList"]) {
    const proto = protoOf(iface);
    for (const name of ["getEntries", "getEntriesByType", "getEntriesByName"]) {
      method(proto, name, (nat) => wrap((self, a) => {
        if (name === "getEntriesByName" && a.length) a[0] = proxy(a[0]);
        return notOurs(apply(nat, self, a));
      }));
    }
  }
  // Subresource integrity is checked by the proxy on the upstream bytes (proxy/sri.py): an element
  // reads back the site's value (carried in its URL), and a refused load says so in the console
  // as the browser does (a message of the browser's, so it names no script of ours; asked of the
  // proxy again: a failed stylesheet leaves no resource timing entry to carry it)
  for (const [iface, attr] of [["Script", "src"], ["Link", "href"]]) {
    accessor(protoOf(`HTML${iface}Element`), "integrity", (get) => wrap((self) => {
      const m = RegExp(`[?&]${SRI}([^&#]*)`).exec(apply(natives.getAttribute, self, [attr]));
      // unescape, not decodeURIComponent: the marker is percent-encoded ASCII, and a page's own
      // malformed one must not make a property read throw
      return apply(get, self, []) || (m ? unescape(m[1]) : "");
    }));
  }
  win.addEventListener("error", (e) => {
    const t = e.target;
    const u = t.localName && (apply(natives.getAttribute, t, ["src"]) || apply(natives.getAttribute, t, ["href"]));
    if (u && u.includes(SRI)) {
      win.fetch(u).then((r) => {
        const m = r.headers.get("x-tandem-sri");
        if (m) win.setTimeout(win.console.error, 0, m);
      }, () => {});
    }
  }, true);
  // Response headers that carry URLs (Location, Content-Location, Link, Refresh) read upstream
  // (and Tandem's credentials marker is not there)
  const URL_HEADERS = /^(?:location|content-location|link|refresh)$/i;
  const see = (k, v) => (URL_HEADERS.test(k) ? upstream(v) : v);
  const ours = (k) => `${k}`.toLowerCase() === OMIT_HEADER;
  if (HP) {
    method(HP, "get", (nat) => wrap((self, a) => {
      const v = ours(a[0]) ? null : apply(nat, self, a);
      return typeof v === "string" ? see(`${a[0]}`, v) : v;
    }));
    method(HP, "has", (nat) => wrap((self, a) => !ours(a[0]) && apply(nat, self, a)));
    // iteration: the native iterator's pairs, URL headers' values mapped
    for (const name of ["entries", "keys", "values", Symbol.iterator]) {
      method(HP, name, () => wrap((self) => {
        const out = [];
        for (const [k, v] of apply(headersEntries, self, [])) {
          if (!ours(k)) out[out.length] = name === "keys" ? k : name === "values" ? see(k, v) : [k, see(k, v)];
        }
        return out.values();
      }));
    }
    method(HP, "forEach", (nat) => wrap((self, a) => {
      const fn = a[0];
      if (typeof fn !== "function") return apply(nat, self, a);
      const thisArg = a[1];
      return apply(nat, self, [function (value, key, headers) {
        return ours(key) ? undefined : apply(fn, thisArg, [see(key, value), key, headers]);
      }]);
    }));
  }
  method(XP, "getResponseHeader", (nat) => wrap((self, a) => {
    const v = apply(nat, self, a);
    return typeof v === "string" && URL_HEADERS.test(`${a[0]}`) ? upstream(v) : v;
  }));
  method(XP, "getAllResponseHeaders", h.up);
  accessor(protoOf("PerformanceEntry"), "name", (get) => wrap((self) => {
    const v = apply(get, self, []);
    return typeof v === "string" && v.includes("://") ? upstream(v) : v;
  }));
  // entry.toJSON() (each entry interface has its own) and the URLs of LCP and element timing
  for (const iface of Object.getOwnPropertyNames(win)) {
    const P = /^Performance|^LargestContentfulPaint$/.test(iface) && protoOf(iface);
    if (!P) continue;
    if (own(P, "url")) accessor(P, "url", readUrl);
    if (own(P, "toJSON")) {
      method(P, "toJSON", (nat) => wrap((self, a) => {
        const o = apply(nat, self, a);
        for (const k of ["name", "url"]) if (typeof o[k] === "string") o[k] = upstream(o[k]);
        return o;
      }));
    }
  }
}
