/**
 * What the page learns about where it is: document.URL, documentURI, baseURI,
 * referrer, domain, window.origin, MessageEvent.origin and postMessage target
 * origins show the upstream values. `location` and `document.location` are
 * [LegacyUnforgeable]: no script can redefine them or their properties. The server's JS rewriter
 * (rewriter/jslocation.py) sends reads of `X.location.href/origin/host/hostname/port/protocol/
 * toString` through `globalThis[Symbol.for("tandem.location")](X.location)`, defined here: for a
 * real Location it returns a read-only view with the site's values, anything else unchanged.
 */

import { wrap } from "./hooks.js";

export const LOCATION_FN = Symbol.for("tandem.location");

export function installIdentity(win, env, h) {
  const { apply, method, accessor } = h;
  const { upstream } = env;
  installLocationView(win, env, h);
  const D = win.Document.prototype;
  const read = h.up;
  for (const name of ["URL", "documentURI"]) accessor(D, name, read);
  accessor(win.Node.prototype, "baseURI", read);
  accessor(D, "referrer", (get) => wrap((self) => {
    const v = apply(get, self, []);
    if (!v) return v;
    const out = upstream(v);
    // a referrer on Tandem that is not a page of this session (the control plane): none upstream
    try {
      return env.isOurs(new URL(out).hostname) ? "" : out;
    } catch {
      return out;
    }
  }));

  // document.domain: the upstream host; setting it is emulated (same-origin rules can't move)
  const domains = new WeakMap();
  accessor(
    D,
    "domain",
    (get) => wrap((self) => {
      apply(get, self, []); // the native's receiver check
      return domains.has(self) ? domains.get(self) : env.upstreamHost;
    }),
    (set) => wrap((self, [value]) => {
      const text = `${value}`.toLowerCase();
      const host = env.upstreamHost;
      if (text !== host && !host.endsWith(`.${text}`)) {
        throw new DOMException(`Failed to set the 'domain' property on 'Document': '${value}' is not a suffix of '${host}'.`, "SecurityError");
      }
      domains.set(self, text);
    }),
  );

  // window.origin
  accessor(win, "origin", (get) => wrap((self) => {
    const v = apply(get, self, []);
    return v === "null" ? v : upstream(v);
  }));

  // MessageEvent.origin (and the source of extendable/broadcast messages)
  for (const iface of ["MessageEvent", "ExtendableMessageEvent"]) {
    const proto = win[iface] && win[iface].prototype;
    accessor(proto, "origin", read);
  }

  // Events that report URLs: hash changes, script errors, storage, CSP violations
  for (const [iface, props] of [["HashChangeEvent", ["oldURL", "newURL"]], ["ErrorEvent", ["filename"]],
    ["StorageEvent", ["url"]], ["SecurityPolicyViolationEvent", ["documentURI", "blockedURI", "sourceFile", "referrer"]]]) {
    const proto = win[iface] && win[iface].prototype;
    for (const prop of props) accessor(proto, prop, read);
  }

  // postMessage(message, targetOrigin | {targetOrigin}) on this realm's windows
  const mapTarget = (t) => (t === "*" || t === "/" ? t : env.proxyOrigin(t));
  // The JS rewriter wraps the second argument of every X.postMessage(a, b) call in this
  // (rewriter/jslocation.py): cross-origin windows' postMessage is not ours to wrap.
  const target = (b) => {
    if (typeof b === "string") return mapTarget(b);
    if (b && typeof b === "object" && !Array.isArray(b) && typeof b.targetOrigin === "string") {
      return { ...b, targetOrigin: mapTarget(b.targetOrigin) };
    }
    return b;
  };
  Object.defineProperty(win, Symbol.for("tandem.target"), { value: target, enumerable: false, writable: false, configurable: false });
  // ... and the specifier of import(expr) (a literal one is mapped on the server)
  Object.defineProperty(win, Symbol.for("tandem.url"), { value: (x) => env.proxy(x) });
  Object.defineProperty(win, Symbol.for("tandem.up"), { value: upstream });
  method(win, "postMessage", (nat) => wrap((self, a) => {
    if (typeof a[1] === "string") a[1] = mapTarget(a[1]);
    else if (a[1] && typeof a[1] === "object" && typeof a[1].targetOrigin === "string") {
      a[1] = { ...a[1], targetOrigin: mapTarget(a[1].targetOrigin) };
    }
    return apply(nat, self, a);
  }));
}

/** The function the JS rewriter's location reads go through (see the top of this file). */
function installLocationView(win, env, h) {
  const { apply, accessor } = h;
  const { upstream } = env;
  const objectToString = Object.prototype.toString;
  const NativeURL = win.URL;
  const isLocation = (x) => {
    if (x === null || typeof x !== "object") return false;
    try {
      return x instanceof win.Location || apply(objectToString, x, []) === "[object Location]";
    } catch {
      return false; // a cross-origin Location: its reads throw as they would without Tandem
    }
  };
  let last = null; // [proxied href, proxied origin, view]
  const view = (loc) => {
    const href = loc.href;
    const origin = loc.origin;
    if (last && last[0] === href && last[1] === origin) return last[2];
    const site = upstream(href);
    let u;
    try {
      u = new NativeURL(site);
    } catch {
      // not parsable: the Location's own parts
    }
    // only what rewriter/jslocation.py sends here is read from it (a destructuring pattern may
    // also name pathname, search and hash)
    const v = { href: site, origin: origin === "null" ? origin : upstream(origin) };
    for (const k of ["protocol", "host", "hostname", "port", "pathname", "search", "hash"]) v[k] = u ? u[k] : loc[k];
    v.toString = () => site;
    const ancestors = loc.ancestorOrigins;
    if (ancestors) {
      // a DOMStringList of the site's origins
      const list = [...ancestors].map(upstream);
      v.ancestorOrigins = Object.assign({ length: list.length, item: (i) => list[i] ?? null, contains: (s) => list.includes(`${s}`), [Symbol.iterator]: () => list.values() }, list);
    }
    last = [href, origin, v];
    return v;
  };
  const fn = (x) => (isLocation(x) ? view(x) : x);
  Object.defineProperty(win, LOCATION_FN, { value: fn, enumerable: false, writable: false, configurable: false });

  // isSecureContext: as for the site (https, or a loopback host), never more than the browser's
  const trusted = /^https:|^http:\/\/(localhost|127\.|\[::1\]|[^/]*\.localhost(:|$))/.test(env.upstreamOrigin);
  accessor(win, "isSecureContext", (get) => wrap((self) => apply(get, self, []) && (self !== win || trusted)));
}
