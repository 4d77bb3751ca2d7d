/**
 * What the page learns about where it is: document.URL, documentURI, baseURI,
 * referrer, domain, window.origin, MessageEvent.origin and postMessage target
 * origins show the upstream values. `location` and `document.location` are
 * [LegacyUnforgeable]: no script can redefine them, so their reads stay proxied
 * (the probe suite lists them as failing; only JS source rewriting can reach them).
 */

import { wrap } from "./hooks.js";

export function installIdentity(win, env, h) {
  const { apply, method, accessor } = h;
  const { upstream } = env;
  const D = win.Document.prototype;
  const read = (get) => wrap((self) => {
    const v = apply(get, self, []);
    return typeof v === "string" ? upstream(v) : v;
  });
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

  // postMessage(message, targetOrigin | {targetOrigin}) on this realm's windows
  const mapTarget = (t) => (t === "*" || t === "/" ? t : env.proxyOrigin(t));
  method(win, "postMessage", (nat) => wrap((self, a) => {
    if (typeof a[1] === "string") a[1] = mapTarget(a[1]);
    else if (a[1] && typeof a[1] === "object" && typeof a[1].targetOrigin === "string") {
      a[1] = { ...a[1], targetOrigin: mapTarget(a[1].targetOrigin) };
    }
    return apply(nat, self, a);
  }));
}
