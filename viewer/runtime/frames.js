/**
 * New windows and frames get the runtime before their content runs.
 *
 * Same-origin child windows (about:blank frames, `window.open()` results,
 * `javascript:` frames) share the page's origin, so the page could reach their
 * untouched natives: the runtime is installed into them from here the moment
 * they exist: after every DOM insertion API, on `contentWindow`/`contentDocument`
 * reads, for `window.open`, and from a MutationObserver for frames the parser
 * inserts. Documents that never come from the proxy (blob: and data: HTML) are
 * rebuilt with the runtime's script first before a frame or window loads them
 * (a data: document keeps its opaque origin and learns the session's from the
 * runtime script's URL).
 */

import { wrap } from "./hooks.js";
import { mapDocument } from "./rewrite.js";

const FRAME_SELECTOR = "iframe,frame,object,embed";
const BLOB_RE = /^\s*blob:/i;
const JS_RE = /^[\x00-\x20]*javascript:([\s\S]*)$/i;
const DATA_HTML_RE = /^\s*data:(text\/html|application\/xhtml\+xml)?([^,]*?)(;base64)?,/i;

export function installFrames(win, env, h, n, installInto) {
  const { apply, method, accessor } = h;
  const ours = new Set(); // blob: URLs we made, with the runtime inside

  const intoWindow = (w) => {
    if (!w) return;
    try {
      installInto(w);
    } catch {
      // cross-origin window: it loads from the proxy and injects the runtime itself
    }
  };
  const frameWindow = (el) => {
    try {
      const tag = apply(n.localName, el, []);
      if (tag === "iframe") return apply(n.iframeWindow, el, []);
      if (tag === "frame") return apply(n.frameWindow, el, []);
      if (tag === "object") return apply(n.objectWindow, el, []);
      if (tag === "embed") return null;
    } catch {
      return null;
    }
    return null;
  };
  // `node` and the frames in it; false when it has no elements inside
  const scan = (node) => {
    const t = node && node.nodeType;
    if (t !== 1 && t !== 11 && t !== 9) return false;
    if (t === 1) {
      intoWindow(frameWindow(node));
      if (!apply(n.firstElementChild, node, [])) return false;
    }
    const list = n.qsa(node, FRAME_SELECTOR);
    for (let i = 0; i < list.length; i++) intoWindow(frameWindow(list[i]));
    return true;
  };
  env.afterInsert = scan;

  const N = win.Node.prototype;
  const E = win.Element.prototype;
  const styleText = (parent, node) => {
    // text appended into a <style> is CSS
    if (node && node.nodeType === 3 && parent && env.isStyle(parent)) {
      const data = apply(n.textContentGet, node, []);
      const mapped = env.css(data);
      if (mapped !== data) apply(n.textContentSet, node, [mapped]);
    }
  };
  for (const [proto, name] of [[N, "appendChild"], [N, "insertBefore"], [N, "replaceChild"]]) {
    method(proto, name, (nat) => wrap((self, a) => {
      styleText(self, a[0]);
      const out = apply(nat, self, a);
      scan(a[0]);
      return out;
    }));
  }
  const D = win.Document.prototype;
  const F = win.DocumentFragment.prototype;
  for (const proto of [E, D, F, win.CharacterData && win.CharacterData.prototype]) {
    for (const name of ["append", "prepend", "before", "after", "replaceWith", "replaceChildren"]) {
      if (!proto || !Object.prototype.hasOwnProperty.call(proto, name)) continue;
      method(proto, name, (nat) => wrap((self, a) => {
        for (const node of a) styleText(name === "before" || name === "after" || name === "replaceWith" ? apply(n.parentElement, self, []) : self, node);
        const out = apply(nat, self, a);
        for (const node of a) scan(node);
        return out;
      }));
    }
  }
  method(E, "insertAdjacentElement", (nat) => wrap((self, a) => {
    const out = apply(nat, self, a);
    scan(a[1]);
    return out;
  }));

  for (const [iface, prop] of [["HTMLIFrameElement", "contentWindow"], ["HTMLIFrameElement", "contentDocument"],
    ["HTMLFrameElement", "contentWindow"], ["HTMLFrameElement", "contentDocument"],
    ["HTMLObjectElement", "contentWindow"], ["HTMLObjectElement", "contentDocument"]]) {
    const proto = win[iface] && win[iface].prototype;
    accessor(proto, prop, (get) => wrap((self) => {
      intoWindow(frameWindow(self));
      return apply(get, self, []);
    }));
  }
  // Frames the parser inserts (and any other path): install before their scripts run
  if (win.MutationObserver) {
    // The parser adds one node per record, in document order: scanning every subtree would walk
    // the document once per level of depth. A node inside the last subtree scanned in this batch
    // is skipped (its frames were in that scan: the batch's nodes are all in place by now).
    const contains = N.contains;
    const mo = new win.MutationObserver((records) => {
      let last = null;
      for (const r of records) {
        for (const node of r.addedNodes) if (!(last && apply(contains, last, [node])) && scan(node)) last = node;
      }
    });
    env.observe = (doc) => {
      try {
        mo.observe(doc, { childList: true, subtree: true });
      } catch {
        // no document to observe
      }
    };
  }

  // Documents from blob: and data: URLs: rebuilt with the runtime first
  const readBlob = (url) => {
    const xhr = new n.XMLHttpRequest();
    apply(n.xhrOpen, xhr, ["GET", url, false]);
    apply(n.xhrSend, xhr, [null]);
    return { text: apply(n.xhrResponseText, xhr, []), type: apply(n.xhrGetResponseHeader, xhr, ["Content-Type"]) || "" };
  };
  const withRuntime = (html, type) => {
    const tag = `<script src="${env.runtimeUrl}"></script>`;
    const blob = new n.Blob([mapDocument(html, (v) => env.proxy(v), tag)], { type });
    const url = apply(n.createObjectURL, n.URLCtor, [blob]);
    ours.add(url);
    return url;
  };
  /** The URL a frame or window should load for `value` the page gave. */
  env.frameUrl = (value) => {
    const text = `${value}`;
    const js = JS_RE.exec(text);
    if (js) {
      // The code runs in the frame's window (which has the runtime); markup it returns
      // becomes the frame's document, so the runtime rewrites it and goes first in it.
      let code = js[1];
      try {
        code = decodeURIComponent(code);
      } catch {
        // not percent-decodable: the browser would run it as written
      }
      return `javascript:self[Symbol.for("tandem.runtime")](${encodeURIComponent(JSON.stringify(code))})`;
    }
    if (BLOB_RE.test(text)) {
      const blob = env.proxy(text.trim());
      if (ours.has(blob)) return blob;
      try {
        const { text: body, type } = readBlob(blob);
        if (/^\s*(text\/html|application\/xhtml\+xml)/i.test(type)) return withRuntime(body, type);
      } catch {
        return blob;
      }
      return blob;
    }
    const m = DATA_HTML_RE.exec(text);
    if (m && m[1]) {
      // keeps its opaque origin: the runtime is told the session's origin in its URL
      try {
        const raw = text.slice(m[0].length);
        const body = m[3] ? n.atob(decodeURIComponent(raw)) : decodeURIComponent(raw);
        const tag = `<script src="${env.runtimeUrl}&o=${encodeURIComponent(env.origin)}"></script>`;
        return `data:${m[1]};charset=utf-8,${encodeURIComponent(mapDocument(body, (v) => env.proxy(v), tag))}`;
      } catch {
        return text;
      }
    }
    return env.proxy(text);
  };
  env.isOurBlob = (url) => ours.has(url);

  // window.open
  method(win, "open", (nat) => wrap((self, a) => {
    if (a.length && a[0] !== undefined && a[0] !== null && `${a[0]}` !== "") a[0] = env.frameUrl(a[0]);
    const out = apply(nat, self, a);
    intoWindow(out);
    return out;
  }));
}
