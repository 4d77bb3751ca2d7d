/**
 * Installs the runtime into a window or worker scope, once. Runs before any page
 * script; leaves no global behind but the non-enumerable
 * `Symbol.for("tandem.runtime")` marker.
 *
 * Where it runs decides what it knows: a proxied document reads the session and
 * upstream origin from its own origin (LABEL.BASE); a same-origin child window is
 * installed by its parent with the parent's origin; a data: document (opaque
 * origin) reads it from the runtime script's `o` parameter; a worker reads the
 * real script URL from the wrapper it was started from.
 */

import { apply, dropHere, HOLD, hasOwn, installCookies, installCookieStore } from "./cookies.js";
import { installDom } from "./dom.js";
import { makeEnv } from "./env.js";
import { installFrames } from "./frames.js";
import { makeHooks, wrap } from "./hooks.js";
import { installHtml } from "./html.js";
import { installIdentity } from "./identity.js";
import { captureNatives, installToStringDisguise } from "./native.js";
import { installNavigation } from "./navigation.js";
import { installNetwork, wrappedSource } from "./network.js";
import { mapCss } from "./rewrite.js";
import { installWorker } from "./worker.js";

export const MARKER = Symbol.for("tandem.runtime");

const param = (url, name) => {
  const m = new RegExp(`[?&]${name}=([^&#]*)`).exec(url || "");
  try {
    return m ? decodeURIComponent(m[1]) : null;
  } catch {
    return null;
  }
};

/** `{origin, version, realBase}` for `win`, or null when it is not on a proxied origin. */
function whereAmI(win, natives, parent) {
  if (parent) return { origin: parent.origin, version: parent.version };
  const script = natives.document && natives.currentScript && natives.apply(natives.currentScript, natives.document, []);
  const src = script && script.src;
  if (natives.document) {
    const origin = natives.origin && natives.origin !== "null" ? natives.origin : param(src, "o") || natives.location.origin;
    return { origin, version: param(src, "v") || "" };
  }
  const href = `${natives.location}`;
  const real = wrappedSource(href);
  return { origin: natives.origin, version: param(href, "v") || "", realBase: real };
}

/** A step that fails (an API this browser lacks in an odd shape) must not stop the others. */
function step(fn) {
  try {
    fn();
  } catch {
    // skipped: the rest of the runtime still protects the page
  }
}

/**
 * error.stack names the site's script URLs: V8 formats a stack (lazily, on first read) through
 * `Error.prepareStackTrace` when there is one. Ours writes what V8 writes by default (the error's
 * toString, then each call site's own text) with proxied origins mapped upstream and Tandem's own
 * frames left out. A page that sets its own gets V8's call sites, as without Tandem.
 */
function installStack(win, env) {
  const E = win.Error;
  const errorToString = E.prototype.toString;
  if (!E.captureStackTrace || "prepareStackTrace" in E) return;
  const format = (err, sites) => {
    let s;
    try {
      s = `${Reflect.apply(errorToString, err, [])}`;
    } catch {
      s = "<error>";
    }
    for (const site of sites) if (!env.isReserved(`${site.getFileName()}`)) s += `\n    at ${site}`;
    return env.upstream(s);
  };
  Object.defineProperty(E, "prepareStackTrace", { value: format, writable: true, configurable: true });
}

/** Returns false when the runtime was already installed in `win`. */
export function install(win, parent = null) {
  // checked before taking the natives: frames.js asks again for every frame it sees inserted
  if (apply(hasOwn, win, [MARKER])) {
    const again = win[MARKER];
    if (typeof again === "function") again(win.document);
    return false;
  }
  const natives = captureNatives(win);
  const documents = new natives.WeakMap();
  let observe = null;
  let env = null;
  const setupDocument = (doc) => {
    if (observe && doc && !natives.apply(natives.weakMapHas, documents, [doc])) {
      natives.apply(natives.weakMapSet, documents, [doc, true]);
      observe(doc);
    }
  };
  // The marker's value: a new document in this window (a second copy of the runtime
  // calls it), or the code of a javascript: URL the runtime rewrote (frames.js).
  const marker = (arg) => {
    if (arg === undefined || arg === HOLD) return dropHere(arg); // a cookie written, or a synchronous request opened, in another copy of the runtime (cookies.js)
    if (typeof arg !== "string") return setupDocument(arg);
    const result = (0, eval)(arg);
    return typeof result === "string" && env ? env.srcdoc(result) : result;
  };
  natives.defineProperty(win, MARKER, { value: natives.document ? marker : true, enumerable: false, writable: false, configurable: false });
  const disguise = installToStringDisguise(win, natives);
  installCookies(win, natives, disguise);

  try {
    env = makeEnv(natives, whereAmI(win, natives, parent));
  } catch {
    return true; // not a proxied origin: nothing to map
  }
  env.css = (text) => mapCss(`${text}`, env.proxy);
  env.frameUrl = env.proxy;
  env.srcdoc = (html) => html;
  env.isOurBlob = () => false;
  const h = { ...makeHooks(disguise), wrap };
  // a getter or method whose string results read upstream (most URL reads are this)
  h.up = (nat) => wrap((self, a) => {
    const v = h.apply(nat, self, a);
    return typeof v === "string" ? env.upstream(v) : v;
  });
  // a method whose argument `i` is mapped with `f` (a URL by default) unless null or undefined
  h.arg = (i = 0, f = env.proxy) => (nat) => wrap((self, a) => {
    if (a[i] != null) a[i] = f(a[i]);
    return h.apply(nat, self, a);
  });
  h.arg0 = (a) => {
    if (a[0] != null) a[0] = env.proxy(a[0]);
    return a;
  };
  step(() => installNetwork(win, env, h, natives));
  step(() => installStack(win, env));
  if (!natives.document) {
    if (env.realBase) step(() => installWorker(win, env, h, natives));
    return true;
  }
  const child = { origin: env.origin, version: env.version };
  step(() => installDom(win, env, h, natives));
  step(() => installHtml(win, env, h, natives));
  step(() => installFrames(win, env, h, natives, (w) => install(w, child)));
  step(() => installIdentity(win, env, h));
  step(() => installCookieStore(win, natives, h, env.upstreamHost));
  step(() => installNavigation(win, env, h, natives));
  observe = env.observe || null;
  setupDocument(natives.document);
  return true;
}
