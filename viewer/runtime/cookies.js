/**
 * `document.cookie` backed by the session's server-side cookie jar.
 *
 * The accessor on `Document.prototype` is replaced; every read and write is one
 * synchronous XMLHttpRequest to the page's own proxied host (synchronous because
 * `document.cookie` is):
 *
 *   GET  /__tandem/cookies?path=<pathname>  -> 200 text/plain, the cookie string
 *   POST /__tandem/cookies?path=<pathname>  body: the string assigned -> 204
 *
 * Nothing is cached. Errors never reach the page: a failed read gives "" and a
 * failed write is dropped. What the page can observe is what the native accessor
 * does: TypeError on a non-Document receiver, ToString on the value assigned, ""
 * for a document without a browsing context.
 */

export const COOKIE_ENDPOINT = "/__tandem/cookies";

export function installCookies(win, natives, disguise) {
  const { apply, location, XMLHttpRequest, xhrOpen, xhrSend, xhrStatus, xhrResponseText } = natives;
  const { encodeURIComponent, documentDefaultView } = natives;
  const proto = win.Document && win.Document.prototype;
  const native = proto && natives.getOwnPropertyDescriptor(proto, "cookie");
  if (!native || !native.get || !native.set || !XMLHttpRequest || !xhrOpen || !xhrSend) return false;

  // Absolute URL: a relative one would resolve against the page's (rewritten) <base href>.
  const endpoint = () =>
    `${location.origin}${COOKIE_ENDPOINT}?path=${encodeURIComponent(location.pathname)}`;

  const exchange = (method, body) => {
    const xhr = new XMLHttpRequest();
    apply(xhrOpen, xhr, [method, endpoint(), false]);
    apply(xhrSend, xhr, [body]);
    return xhr;
  };

  // Throws TypeError for a receiver that is not a Document, as the native does.
  const hasBrowsingContext = (doc) => !documentDefaultView || apply(documentDefaultView, doc, []) !== null;

  const accessors = {
    get cookie() {
      if (!hasBrowsingContext(this)) return "";
      try {
        const xhr = exchange("GET", null);
        const status = apply(xhrStatus, xhr, []);
        return status >= 200 && status < 300 ? `${apply(xhrResponseText, xhr, [])}` : "";
      } catch {
        return "";
      }
    },
    set cookie(value) {
      if (!hasBrowsingContext(this)) return;
      const text = `${value}`;
      try {
        exchange("POST", text);
      } catch {
        // dropped: a failed write must not break the page
      }
    },
  };
  const ours = natives.getOwnPropertyDescriptor(accessors, "cookie");
  natives.defineProperty(proto, "cookie", {
    get: disguise(ours.get, native.get),
    set: disguise(ours.set, native.set),
    enumerable: native.enumerable,
    configurable: native.configurable,
  });
  return true;
}

/**
 * `cookieStore` backed by the same jar, through the document.cookie accessor above: get/getAll
 * parse what it reads, set/delete assign a cookie string, and a `change` event follows each write
 * made here. Without this the browser would keep cookies in its own jar for LABEL.BASE, unseen by
 * document.cookie and the site, and `set({domain})` could plant a cookie on BASE itself.
 */
export function installCookieStore(win, natives, h, host) {
  const CS = win.CookieStore;
  const d = natives.getOwnPropertyDescriptor(win.Document.prototype, "cookie");
  if (!CS || !d || !d.get) return;
  const doc = natives.document;
  const item = (name, value) => ({ name, value, path: "/" });
  const all = () => `${natives.apply(d.get, doc, [])}`.split(";").filter((p) => p.trim()).map((p) => {
    const eq = p.indexOf("=");
    return eq < 0 ? item("", p.trim()) : item(p.slice(0, eq).trim(), p.slice(eq + 1));
  });
  const options = (a) => (a[0] && typeof a[0] === "object" ? a[0] : { name: a[0], value: a[1] });
  const write = (self, o, value, kind) => {
    if (o.name === undefined) throw new win.TypeError("name required");
    // as the native: a domain must be the site's host or a parent of it, without a leading dot
    const domain = o.domain == null ? "" : `${o.domain}`.toLowerCase();
    if (domain && (domain[0] === "." || (host !== domain && !host.endsWith(`.${domain}`)))) {
      throw new win.TypeError("Cookie domain must domain-match current host");
    }
    let s = `${o.name}=${value}; path=${o.path || "/"}`;
    if (kind === "deleted") s += "; max-age=0";
    else if (o.expires != null) s += `; expires=${new Date(o.expires).toUTCString()}`;
    if (o.domain) s += `; domain=${o.domain}`;
    if (o.sameSite) s += `; samesite=${o.sameSite}`;
    natives.apply(d.set, doc, [s]);
    try {
      self.dispatchEvent(new win.CookieChangeEvent("change", { [kind]: [item(`${o.name}`, kind === "deleted" ? undefined : value)] }));
    } catch {
      // no CookieChangeEvent in this browser
    }
  };
  const async = (body) => h.wrap((self, a) => win.Promise.resolve().then(() => body(self, a)));
  const find = (a, many) => {
    const o = options(a);
    const list = all().filter((c) => o.name === undefined || c.name === `${o.name}`);
    return many ? list : list[0] || null;
  };
  h.method(CS.prototype, "get", () => async((self, a) => find(a, false)));
  h.method(CS.prototype, "getAll", () => async((self, a) => find(a, true)));
  h.method(CS.prototype, "set", () => async((self, a) => write(self, options(a), `${options(a).value ?? ""}`, "changed")));
  h.method(CS.prototype, "delete", () => async((self, a) => write(self, options(a), "", "deleted")));
}
