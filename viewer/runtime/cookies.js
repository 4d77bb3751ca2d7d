/**
 * `document.cookie` backed by the session's server-side cookie jar.
 *
 * The accessor on `Document.prototype` is replaced; a read or write is one synchronous
 * XMLHttpRequest to the page's own proxied host (synchronous because `document.cookie` is):
 *
 *   GET  /__tandem/cookies?path=<pathname>  -> 200 text/plain, the cookie string, and
 *        X-Tandem-Cookie-Ttl: ms until the first cookie of the jar expires (at most 60 000)
 *   POST /__tandem/cookies?path=<pathname>  body: the string assigned -> 204
 *
 * A read is kept only until the script that made it returns (the next microtask checkpoint),
 * never past the TTL (counted from before the request) nor 100 ms after the answer, so a page
 * that reads document.cookie ten times in one run asks once. It can never show what the jar would not, because within one synchronous
 * run nothing the page can observe may have changed the jar, except what drops the kept reads:
 * - a cookie written here or by any same-origin window's runtime (cookieStore too): every
 *   window of the frame trees of this window's top and its openers' is told (`dropAll`);
 * - a synchronous XMLHttpRequest of the page (its response may set cookies): from its open()
 *   to the end of the run nothing is kept, in any of those windows (network.js; open, not send,
 *   is wrapped, so the browser still names the page's own line for what the request logs);
 * - time: a cookie expiring (the TTL), and anything a person or another tab did while an
 *   alert() or a long loop held the run (100 ms).
 * Set-Cookie on any other response (images, scripts, frames, other tabs, fetch) can only be
 * seen by the page after an event, which runs after the checkpoint. What a read returns is
 * what the jar answered: HttpOnly cookies are never in it. Without the TTL header nothing is
 * kept.
 *
 * Errors never reach the page: a failed read gives "" and a failed write is dropped. What the
 * page can observe is what the native accessor does: TypeError on a non-Document receiver,
 * ToString on the value assigned, "" for a document without a browsing context.
 */

import { MARKER } from "./install.js";

export const COOKIE_ENDPOINT = "/__tandem/cookies";
// taken before any page script runs
export const { apply } = Reflect;
export const hasOwn = Object.prototype.hasOwnProperty;
let epoch = 0; // a kept read is good only while this is what it was
let held = false; // a synchronous request was opened in this run: nothing is kept until its end
let holdEnds = null; // () => schedules `held = false` at this window's next microtask checkpoint
export const HOLD = Symbol.for("tandem.cookies.hold");

/** Drop the reads this copy of the runtime keeps (every window it is installed in); with HOLD,
 * keep none for the rest of this run either (a synchronous request's answer is still to come). */
export const dropHere = (hold) => {
  epoch++;
  if (hold === HOLD && !held && holdEnds) {
    held = true;
    holdEnds();
  }
};

// `w` and every window in its frame tree: each copy of the runtime there drops its kept reads
const tell = (w, hold) => {
  try {
    const m = apply(hasOwn, w, [MARKER]) && w[MARKER];
    if (typeof m == "function") m(hold === HOLD ? HOLD : undefined); // its runtime marker (install.js)
  } catch {
    // another origin: its reads of its own jar cookies are not kept across this run
  }
  try {
    for (let i = 0, f; (f = w[i]); i++) tell(f, hold);
  } catch {
    // no frames to reach
  }
};

/**
 * The jar may have changed (a write, a synchronous request): every same-origin window that may
 * have run in this same run drops its kept reads: the frame trees of `win`'s top and of its
 * openers' tops. `n.opener` is the native getter (a page may shadow `opener`).
 */
export function dropAll(win, n, hold) {
  dropHere(hold);
  for (let w = win, i = 9; w && i--;) {
    try {
      tell(w.top, hold);
      w = apply(n.opener, w, []);
    } catch {
      w = null;
    }
  }
}

export function installCookies(win, natives, disguise) {
  const { location, XMLHttpRequest, xhrOpen, xhrSend, xhrStatus, xhrResponseText, xhrGetResponseHeader } = natives;
  const { encodeURIComponent, documentDefaultView } = natives;
  const proto = win.Document && win.Document.prototype;
  const native = proto && natives.getOwnPropertyDescriptor(proto, "cookie");
  if (!native || !native.get || !native.set || !XMLHttpRequest || !xhrOpen || !xhrSend) return false;
  const perf = win.performance;
  const now = perf && perf.now;
  const later = win.queueMicrotask;
  const keeps = xhrGetResponseHeader && now && later;
  let kept = null; // [endpoint, value, epoch, until]
  if (later) holdEnds = () => apply(later, win, [() => (held = false)]);

  // Absolute URL: a relative one would resolve against the page's (rewritten) <base href>.
  const endpoint = () =>
    `${location.origin}${COOKIE_ENDPOINT}?path=${encodeURIComponent(location.pathname)}`;

  const exchange = (method, url, body) => {
    const xhr = new XMLHttpRequest();
    apply(xhrOpen, xhr, [method, url, false]);
    apply(xhrSend, xhr, [body]);
    return xhr;
  };

  // Throws TypeError for a receiver that is not a Document, as the native does.
  const hasBrowsingContext = (doc) => !documentDefaultView || apply(documentDefaultView, doc, []) !== null;

  const accessors = {
    get cookie() {
      if (!hasBrowsingContext(this)) return "";
      const url = endpoint();
      if (kept && kept[0] === url && kept[2] === epoch && apply(now, perf, []) < kept[3]) return kept[1];
      try {
        const t = keeps && apply(now, perf, []);
        const xhr = exchange("GET", url, null);
        const status = apply(xhrStatus, xhr, []);
        if (status < 200 || status > 299) return "";
        const value = `${apply(xhrResponseText, xhr, [])}`;
        const ttl = keeps ? +apply(xhrGetResponseHeader, xhr, ["X-Tandem-Cookie-Ttl"]) : 0;
        if (ttl > 0 && !held) {
          const cap = apply(now, perf, []) + 100; // from the answer: a slow one still counts
          kept = [url, value, epoch, t + ttl < cap ? t + ttl : cap];
          apply(later, win, [() => (kept = null)]); // the end of this run
        }
        return value;
      } catch {
        return "";
      }
    },
    set cookie(value) {
      if (!hasBrowsingContext(this)) return;
      const text = `${value}`;
      try {
        exchange("POST", endpoint(), text);
      } catch {
        // dropped: a failed write must not break the page
      }
      dropAll(win, natives); // even a failed one: the server may have stored it
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
