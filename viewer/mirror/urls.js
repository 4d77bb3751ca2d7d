/**
 * Points the mirror's resources at the proxy. The leader's runtime shows the page its
 * upstream URLs, so rrweb records `https://cdn.example/...`; a follower must load the
 * proxied `LABEL.BASE` form instead (with its own credential; the proxy answers from
 * the session's cache). URLs already on the base domain and non-http ones stay as
 * they are. The CSP of the session page blocks anything that would still slip out.
 *
 * It also drops what could only try to run in the mirror (which the sandbox would refuse, noisily):
 * event handler attributes, `javascript:` URLs, `autofocus` and a refresh `<meta>`'s target.
 *
 * It loads what the page shows without asking for CORS: `crossorigin` is dropped (but on a preload,
 * which must match the font or module load it warms). The mirror is a document of the control plane,
 * so such a request would leave without the follower's credential, from an origin the proxy does not
 * admit credential-less requests from; without it the follower's credential goes along and the
 * follower wall decides, as for every other resource (github.com's stylesheets are all
 * `crossorigin=anonymous`).
 *
 * An external SVG `<use>` reference (`href` / `xlink:href` to `sprite.svg#icon`) would be on another
 * origin than the mirror, which browsers refuse for `<use>`: with `uses` (sprites.js) it becomes a
 * local fragment the session page fills with a copy of the symbol; a reference to the tab owner's
 * page itself becomes the plain fragment it is there.
 */

import { UrlMapper } from "../runtime/urls.js";

const URL_ATTRS = new Set(["src", "href", "poster", "data", "background", "xlink:href", "action", "formaction"]);
const CSS_URL = /url\(\s*(['"]?)((?:https?:)?\/\/[^'")\s]+)\1\s*\)/gi;
const SRCSET_URL = /(^|,\s*)(\S+)/g;
const INERT_ATTRS = /^(on[a-z]|autofocus$)/i; // event handler attributes, autofocus
const JS_URL = /^[\x00-\x20]*javascript:/i;
const PAGE_RELATIVE = new Set(["background", "poster"]); // URL attributes rrweb may leave relative

export function makeProxify({ scheme, sid, baseDomain, uses = null }) {
  const mapper = new UrlMapper({ scheme, sid, baseDomain });
  const url = (v) => {
    if (typeof v !== "string" || !/^\s*(https?:)?\/\//i.test(v)) return v;
    try {
      return mapper.toProxy(v);
    } catch (_) {
      return v;
    }
  };
  const css = (text) => (typeof text === "string" && text.includes("url(") ? text.replace(CSS_URL, (m, q, u) => `url(${q}${url(u)}${q})`) : text);
  const srcset = (v) => (typeof v === "string" ? v.replace(SRCSET_URL, (m, lead, u) => lead + url(u)) : v);

  function attrs(a) {
    if (!a) return;
    for (const k of Object.keys(a)) {
      const v = a[k];
      // The mirror runs nothing: what would only try to run (and fill the console) is dropped.
      if (INERT_ATTRS.test(k)) {
        delete a[k];
        continue;
      }
      if (URL_ATTRS.has(k) && typeof v === "string" && JS_URL.test(v)) {
        a[k] = "#";
        continue;
      }
      // rrweb makes `background` absolute on table, td and th only, and `poster` never: a relative
      // one (`<body background="images/bg.jpg">`, `<video poster="p.jpg">`) would resolve against
      // the session page, not the page's URL
      if (PAGE_RELATIVE.has(k) && page !== null && typeof v === "string" && v.trim() && !/^\s*[a-z][a-z0-9+.-]*:/i.test(v)) {
        try {
          a[k] = url(new URL(v.trim(), page).href);
          continue;
        } catch (_) {
          // not a URL: left as it is
        }
      }
      if (URL_ATTRS.has(k)) a[k] = url(v);
      else if (k === "srcset") a[k] = srcset(v);
      else if (k === "style" || k === "_cssText") {
        if (typeof v === "string") a[k] = css(v);
        else if (v && typeof v === "object") for (const p of Object.keys(v)) if (Array.isArray(v[p])) v[p][0] = css(v[p][0]); else v[p] = css(v[p]);
      }
    }
  }

  let page = null; // the tab owner's page, upstream and without its fragment (Meta events)
  // the stream's <use> elements: attribute changes do not carry the tag, and one may name a node
  // added earlier in the same frame, which the mirror has not built yet
  const useIds = new Set();

  /** The upstream form of a URL the recorder wrote (it writes upstream URLs; a proxied one is mapped back). */
  function upstream(v) {
    try {
      const u = new URL(v);
      if (!mapper.isOurs(u.hostname)) return u;
      const back = mapper.toUpstream(v);
      return back ? new URL(back) : null;
    } catch (_) {
      return null;
    }
  }

  /** A `<use>`'s href / xlink:href: an external reference becomes a local fragment (see sprites.js). */
  function useAttrs(a) {
    if (!uses) return;
    for (const k of ["href", "xlink:href"]) {
      const v = a[k];
      if (typeof v !== "string" || !/^\s*(https?:)?\/\//i.test(v)) continue;
      const u = upstream(v.trim());
      if (!u) continue;
      const fragment = u.hash.slice(1);
      u.hash = "";
      if (page !== null && u.href === page) {
        if (fragment) a[k] = `#${fragment}`; // the page itself: a same-document reference there too
        continue;
      }
      const local = uses.ref(url(u.href), u.origin, fragment);
      if (local) a[k] = `#${local}`;
    }
  }

  /** No CORS request from the mirror (see above): `crossorigin` goes, but on a preload (`tag` and
   * `rel` known: a node's; unknown: an attribute change, where a preload's loses it too, rarely). */
  function noCors(a, tag, rel) {
    if (a && "crossorigin" in a && !(tag === "link" && /(^|\s)(module)?preload(\s|$)/i.test(rel || ""))) delete a.crossorigin;
  }

  function node(n) {
    if (!n || typeof n !== "object") return;
    const a = n.attributes;
    noCors(a, n.tagName, a && a.rel);
    // a hint for the page's next navigation is nothing the mirror shows: not fetched (the follower
    // wall would refuse what the tab owner never loaded: scmp.com names 143 such stylesheets)
    if (a && n.tagName === "link" && typeof a.rel === "string" && /(^|\s)(prefetch|prerender)(\s|$)/i.test(a.rel)) delete a.href;
    if (n.tagName === "use" && n.isSVG) {
      useIds.add(n.id);
      if (n.attributes) useAttrs(n.attributes);
    }
    if (n.attributes) attrs(n.attributes);
    // a refresh <meta> would try to navigate the mirror
    if (n.tagName === "meta" && n.attributes && /^\s*refresh\s*$/i.test(n.attributes["http-equiv"] || "")) delete n.attributes.content;
    if (n.type === 3 && n.isStyle && typeof n.textContent === "string") n.textContent = css(n.textContent);
    if (Array.isArray(n.childNodes)) for (const c of n.childNodes) node(c);
  }

  function rules(list) {
    if (Array.isArray(list)) for (const r of list) if (r && typeof r.rule === "string") r.rule = css(r.rule);
  }

  /** Rewrites one rrweb event in place and returns it. */
  function proxifyEvent(ev) {
    const d = ev && ev.data;
    if (!d) return ev;
    if (ev.type === 4 && typeof d.href === "string") { // Meta: a new page
      const u = upstream(d.href);
      if (u) u.hash = "";
      page = u ? u.href : null;
      useIds.clear();
      if (uses) uses.page(u ? u.origin : null);
    } else if (ev.type === 2) node(d.node);
    else if (ev.type === 3) {
      switch (d.source) {
        case 0: { // mutation
          if (Array.isArray(d.adds)) for (const a of d.adds) node(a.node);
          if (Array.isArray(d.attributes)) {
            for (const a of d.attributes) {
              if (!a) continue;
              if (a.attributes && useIds.has(a.id)) useAttrs(a.attributes);
              noCors(a.attributes);
              attrs(a.attributes);
            }
          }
          break;
        }
        case 8: // stylesheet rule
          rules(d.adds);
          break;
        case 13: // style declaration
          if (d.set && typeof d.set.value === "string") d.set.value = css(d.set.value);
          break;
        case 15: // adopted stylesheets
          if (Array.isArray(d.styles)) for (const s of d.styles) rules(s.rules);
          break;
        case 10: // font
          if (typeof d.fontSource === "string") d.fontSource = css(d.fontSource).replace(/^(https?:)?\/\/\S+$/, url);
          break;
        default:
          break;
      }
    }
    return ev;
  }
  proxifyEvent.url = url;
  return proxifyEvent;
}
