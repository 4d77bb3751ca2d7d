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
