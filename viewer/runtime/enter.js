/**
 * Entering a proxied host of the session before a credentialed request to it.
 *
 * Each proxied host holds its own HttpOnly credential, set by the entry hand-off
 * (proxy/entry.py) that navigations and no-cors requests follow. A credentialed CORS
 * fetch cannot follow it, so to a host this browser has not entered yet it would
 * arrive without a credential (and without the session's cookie jar). Before the
 * first one to another origin, a no-cors GET to that origin's `/__tandem/hello`
 * enters it (a 204 once the host holds a credential); once per origin and realm, and
 * requests that come meanwhile wait for the same one.
 *
 * WebSocket and EventSource constructors are synchronous and cannot wait: they go
 * through the page's own host instead (network.js, proxy/tunnel.py).
 */

/** `enter(url)`: a promise while `url`'s origin is being entered, else a falsy value (entered, this realm's, opaque). */
export function makeEnter(win, env, apply, natFetch, NativeURL, base) {
  const entered = { [env.origin]: 1, null: 1 };
  return (url) => {
    let o;
    try {
      o = new NativeURL(url, base()).origin;
    } catch {
      return;
    }
    const e = entered[o];
    if (e) return e !== 1 && e; // entered, or being entered: wait for that one
    const fin = () => (entered[o] = 1);
    return (entered[o] = apply(natFetch, win, [o + "/__tandem/hello", { mode: "no-cors", credentials: "include" }]).then(fin, fin));
  };
}
