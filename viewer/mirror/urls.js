/**
 * Points the mirror's resources at the proxy. The leader's runtime shows the page its
 * upstream URLs, so rrweb records `https://cdn.example/...`; a follower must load the
 * proxied `LABEL.BASE` form instead (with its own credential; the proxy answers from
 * the session's cache). URLs already on the base domain and non-http ones stay as
 * they are. The CSP of the session page blocks anything that would still slip out.
 *
 * It also drops what could only try to run in the mirror (which the sandbox would refuse, noisily):
 * event handler attributes, `javascript:` URLs, `autofocus` and a refresh `<meta>`'s target.
 */

import { UrlMapper } from "../runtime/urls.js";

const URL_ATTRS = new Set(["src", "href", "poster", "data", "background", "xlink:href", "action", "formaction"]);
const CSS_URL = /url\(\s*(['"]?)((?:https?:)?\/\/[^'")\s]+)\1\s*\)/gi;
const SRCSET_URL = /(^|,\s*)(\S+)/g;
const INERT_ATTRS = /^(on[a-z]|autofocus$)/i; // event handler attributes, autofocus
const JS_URL = /^[\x00-\x20]*javascript:/i;

export function makeProxify({ scheme, sid, baseDomain }) {
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
      if (URL_ATTRS.has(k)) a[k] = url(v);
      else if (k === "srcset") a[k] = srcset(v);
      else if (k === "style" || k === "_cssText") {
        if (typeof v === "string") a[k] = css(v);
        else if (v && typeof v === "object") for (const p of Object.keys(v)) if (Array.isArray(v[p])) v[p][0] = css(v[p][0]); else v[p] = css(v[p]);
      }
    }
  }

  function node(n) {
    if (!n || typeof n !== "object") return;
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
  return function proxifyEvent(ev) {
    const d = ev && ev.data;
    if (!d) return ev;
    if (ev.type === 2) node(d.node);
    else if (ev.type === 3) {
      switch (d.source) {
        case 0: // mutation
          if (Array.isArray(d.adds)) for (const a of d.adds) node(a.node);
          if (Array.isArray(d.attributes)) for (const a of d.attributes) attrs(a.attributes);
          break;
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
  };
}
