/**
 * What one installed runtime knows about where it runs, and the two mappings
 * every hook uses:
 *
 *   proxy(value)    a URL the site gives an API -> the URL the browser must use
 *                   (absolute upstream URLs move to LABEL.BASE; relative ones stay,
 *                   except in workers, where they are resolved against the real
 *                   script URL first because the worker runs from a wrapper)
 *   upstream(text)  anything the browser hands back (a URL, serialised HTML, CSS)
 *                   -> the same text with every proxied origin of this session
 *                   replaced by its upstream origin
 *
 * Alias labels (hosts that can't be written in a label) are made and registered
 * by the server before a URL that needs one is used, and looked up when one is
 * read; both are synchronous XHRs to /__tandem/alias, at most once per origin.
 */

import { serializeOrigin, decode, directLabel, DEFAULT_PORTS } from "./labels.js";
import { unrewrite } from "./native.js";
import { UrlMapperCore } from "./urls.js";

export const ALIAS_ENDPOINT = "/__tandem/alias";
const RESERVED = "/__tandem/";
export const SRI = "__tandem_sri=";
const SRI_RE = /[?&](amp;)?__tandem_sri=[^&#"'\s<>]*/g;

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const ABSOLUTE_RE = /^[\x00-\x20]*(?:[a-zA-Z][a-zA-Z0-9+\-.]*:|[/\\][/\\])/;

/**
 * `origin` is the proxied origin of the realm (`http://LABEL.BASE:port`),
 * `realBase` the URL relative URLs resolve against when it is not the realm's
 * own (a worker started from the wrapper), `version` the runtime's cache key.
 */
export function makeEnv(natives, { origin, realBase = null, version = "" }) {
  const { apply, XMLHttpRequest, xhrOpen, xhrSend, xhrStatus, xhrResponseText, URL: NativeURL } = natives;
  const m = /^(https?):\/\/([^/]+)$/.exec(origin);
  if (!m) throw new TypeError("not a proxied origin");
  const aliases = new Map(); // hash -> origin (registered or looked up)
  const sync = (method, url, body) => {
    if (!XMLHttpRequest) return null;
    try {
      const xhr = new XMLHttpRequest();
      apply(xhrOpen, xhr, [method, url, false]);
      apply(xhrSend, xhr, [body]);
      return apply(xhrStatus, xhr, []) === 200 ? apply(xhrResponseText, xhr, []) : null;
    } catch {
      return null;
    }
  };
  const labels = new Map(); // serialised upstream origin -> alias label (from the server)
  const encodeLabel = (sid, upstreamOrigin) => {
    const direct = directLabel(sid, upstreamOrigin);
    if (direct !== null) return { label: direct, alias: false };
    const key = serializeOrigin(upstreamOrigin);
    if (!labels.has(key)) {
      // The server hashes and registers it; on failure the URL points nowhere rather than upstream.
      const label = sync("POST", `${origin}${ALIAS_ENDPOINT}`, key);
      labels.set(key, label && /^[a-z2-7]+-a-[a-z2-7]+$/.test(label) ? label : `${sid}-a-unregistered`);
      if (label) aliases.set(label.slice(label.lastIndexOf("-") + 1), upstreamOrigin);
    }
    return { label: labels.get(key), alias: true };
  };
  const mapper = UrlMapperCore.fromLocation({ host: m[2], protocol: `${m[1]}:` }, { encodeLabel });

  const lookupAlias = (hash) => {
    if (!aliases.has(hash)) {
      const text = sync("GET", `${origin}${ALIAS_ENDPOINT}?hash=${hash}`, null);
      let found = null;
      try {
        const u = text && new NativeURL(text);
        if (u) found = { scheme: u.protocol.slice(0, -1), host: u.hostname, port: Number(u.port) || DEFAULT_PORTS[u.protocol.slice(0, -1)] };
      } catch {
        found = null;
      }
      aliases.set(hash, found);
    }
    return aliases.get(hash);
  };

  /** Upstream origin of a label of this session, or null. */
  const originOfLabel = (label) => {
    let d;
    try {
      d = decode(label);
    } catch {
      return null;
    }
    if (d.sid !== mapper.sid) return null;
    return d.origin || lookupAlias(d.alias);
  };

  const base = mapper.baseDomain;
  const basePort = base.includes(":");
  // scheme://[userinfo@]LABEL.BASE, not followed by more host or port characters
  const PROXIED_RE = new RegExp(
    `\\b(https?|wss?)(:\\/\\/|:\\\\\\/\\\\\\/)([^\\s/?#@"'<>]*@)?([a-z0-9-]{1,63})\\.${escapeRe(base)}${basePort ? "(?![0-9])" : "(?![\\w.:-])"}`,
    "gi",
  );

  // any text read back: proxied origins mapped, and the JS rewriter's insertions taken out (a
  // serialised inline handler or script, rewriter/jslocation.py)
  const upstream = (text) => {
    text = unrewrite(`${text}`);
    // the page's integrity, carried to the proxy at the end of the query (rewriter/urls.py), is not the site's
    if (text.includes(SRI)) text = text.replace(SRI_RE, "");
    if (!text.includes(base)) return text; // the browser writes hosts in lower case
    return text.replace(PROXIED_RE, (all, scheme, sep, userinfo, label) => {
      const o = originOfLabel(label.toLowerCase());
      if (!o) return all;
      let s = o.scheme;
      if (/^wss?$/i.test(scheme)) s = s === "https" ? "wss" : "ws";
      const netloc = DEFAULT_PORTS[o.scheme] === o.port ? o.host : `${o.host}:${o.port}`;
      return `${s}${sep}${userinfo || ""}${netloc}`;
    });
  };

  const proxy = (value) => {
    let s = `${value}`;
    // blob: URLs read back with the site's origin inside (URL.createObjectURL) name the browser's
    const blob = /^([\x00-\x20]*blob:)([\s\S]*)$/i.exec(s);
    if (blob) return blob[1] + mapper.toProxy(blob[2]);
    if (realBase && !ABSOLUTE_RE.test(s)) {
      try {
        s = new NativeURL(s, realBase).href;
      } catch {
        return s;
      }
    }
    return mapper.toProxy(s);
  };

  const selfUpstream = originOfLabel(m[2].slice(0, m[2].indexOf(".")));
  return {
    origin, // proxied origin of this realm
    upstreamOrigin: selfUpstream ? serializeOrigin(selfUpstream) : origin,
    upstreamHost: selfUpstream ? selfUpstream.host : m[2],
    realBase,
    version,
    mapper,
    proxy,
    upstream,
    /** Is this absolute URL one of ours (any label, the control plane)? */
    isOurs: (host) => mapper.isOurs(host),
    isReserved: (url) => {
      try {
        const u = new NativeURL(url);
        return (u.origin === origin || mapper.isOurs(u.hostname)) && u.pathname.startsWith(RESERVED); // any host of ours: hello (enter.js)
      } catch {
        return false;
      }
    },
    /** The proxied origin for an upstream origin string like "https://x.com", or the value. */
    proxyOrigin: (value) => {
      const out = mapper.toProxy(`${value}/`);
      return out.endsWith("/") ? out.slice(0, -1) : `${value}`;
    },
    runtimeUrl: `${origin}/__tandem/runtime.js?v=${encodeURIComponent(version)}`,
  };
}
