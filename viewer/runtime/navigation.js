/**
 * Navigation. Links, forms, frames and window.open are covered where their URLs
 * are written (dom.js, frames.js); history.pushState/replaceState take upstream
 * URLs; the Navigation API is the last line: a navigation of this window about
 * to leave *.BASE is cancelled before any request and started again through the
 * proxy (same history behaviour, form data kept). Reads of navigation entries
 * and destinations give upstream URLs.
 */

import { wrap } from "./hooks.js";

export function installNavigation(win, env, h, n) {
  const { apply, method, accessor } = h;
  const { proxy, upstream } = env;

  if (win.History) {
    for (const name of ["pushState", "replaceState"]) {
      method(win.History.prototype, name, h.arg(2));
    }
  }
  const read = h.up;
  if (win.NavigationHistoryEntry) accessor(win.NavigationHistoryEntry.prototype, "url", read);
  if (win.NavigationDestination) accessor(win.NavigationDestination.prototype, "url", read);
  if (win.Navigation) {
    method(win.Navigation.prototype, "navigate", h.arg(0, (v) => env.frameUrl(v)));
  }

  const nav = win.navigation;
  if (!nav || !n.destinationUrl) return;
  /** Where a navigation to `url` must really go, or null when it may proceed. */
  const reroute = (url) => {
    let u;
    try {
      u = new n.URL(url);
    } catch {
      return null;
    }
    if (u.protocol === "blob:") return env.isOurBlob(url) ? null : env.frameUrl(url);
    if (u.protocol === "data:") return null;
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
    if (env.isOurs(u.hostname)) return null;
    return proxy(url);
  };
  const submit = (url, formData, replace) => {
    const doc = win.document;
    const form = apply(n.createElement, doc, ["form"]);
    apply(n.setAttribute, form, ["method", "post"]);
    apply(n.setAttribute, form, ["action", url]);
    apply(n.setAttribute, form, ["enctype", "multipart/form-data"]);
    apply(n.setAttribute, form, ["hidden", ""]);
    for (const [name, value] of formData) {
      const input = apply(n.createElement, doc, ["input"]);
      apply(n.setAttribute, input, ["name", name]);
      if (typeof value === "string") {
        apply(n.setAttribute, input, ["type", "hidden"]);
        input.value = value;
      } else {
        apply(n.setAttribute, input, ["type", "file"]);
        const dt = new win.DataTransfer();
        dt.items.add(value);
        input.files = dt.files;
      }
      apply(n.appendChild, form, [input]);
    }
    apply(n.appendChild, doc.documentElement, [form]);
    void replace;
    apply(n.formSubmit, form, []);
  };
  apply(n.addEventListener, nav, ["navigate", (event) => {
    const url = apply(n.destinationUrl, apply(n.navDestination, event, []), []);
    const target = reroute(url);
    if (target === null || !apply(n.navCancelable, event, [])) return;
    apply(n.preventDefault, event, []);
    const formData = apply(n.navFormData, event, []);
    const replace = apply(n.navType, event, []) === "replace";
    if (formData) submit(target, formData, replace);
    else if (replace) apply(n.locationReplace, win.location, [target]);
    else apply(n.locationAssign, win.location, [target]);
  }]);
}
