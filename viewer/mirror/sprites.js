/**
 * External SVG `<use>` references in the mirror (icon sprites: `<use href="/sprite.svg#icon">`).
 *
 * In the tab owner's page the sprite is on the page's own (proxied) origin, so the browser loads
 * it and shows the symbol. The mirror is a document of the control plane, `BASE`, and the sprite's
 * proxied URL is on `LABEL.BASE`: browsers refuse an external `<use>` reference to another origin
 * (no CORS for it), so every such icon was missing from the mirror.
 *
 * So the session page loads the sprite itself and gives the mirror a same-document copy:
 *
 * - urls.js rewrites each external `<use>` reference (href and xlink:href; in the snapshot, in
 *   added nodes, in later attribute changes; light DOM, shadow roots and frames alike) to a local
 *   fragment, `#tandem-use-<sprite hash>-<id hash>` ({@link makeSprites} `ref`), before rrweb
 *   builds the node: the mirror never asks for a cross-origin reference the browser would refuse.
 * - This module (a replayer plugin) sees every `<use>` built or changed, fetches the sprite
 *   through Tandem — the proxied URL, with the follower's own credential, like any image of the
 *   mirror: the proxy's follower wall decides (only what is an image, only a URL the mirror was
 *   sent, the allowlist and the address guard as for every follower load, answered from the
 *   session's cache first) — and copies the referenced element, with what it references inside
 *   the sprite (gradients, clip paths, other symbols), into a hidden `<svg><defs>` of the tree
 *   scope the `<use>` is in (its document or shadow root: a fragment reference resolves there).
 *   Ids in the copy are renamed into the `tandem-use-` space, so they never meet the page's own.
 *   The copy runs nothing: scripts, styles (a copied `<style>` would apply to the whole page),
 *   frames and event handler attributes are dropped; its resource URLs go through the proxy.
 * - As in the page: a reference to a sprite on another origin than the tab owner's page shows
 *   nothing (the page's browser refuses it too), for `<use>` in the top document; in frames
 *   (whose URL the stream does not carry) it is resolved.
 *
 * rrweb also sets a later change of an `xlink:href` attribute without its namespace, which SVG
 * ignores; the plugin sets it in the XLink namespace (every SVG element, local references too).
 */

const SVG_NS = "http://www.w3.org/2000/svg";
const XLINK_NS = "http://www.w3.org/1999/xlink";
export const PREFIX = "tandem-use-";
const MAX_SPRITE_BYTES = 4 * 1024 * 1024; // the largest icon sheets on real sites are a few hundred KB
const MAX_SPRITES = 64; // sprite documents kept parsed (across pages of the session)
const MAX_REFS = 20_000; // (sprite, id) pairs named on one page
const MAX_COPY = 2_000; // elements copied for one reference (the element and what it references)
const DROPPED = new Set(["script", "style", "link", "iframe", "object", "embed", "audio", "video"]);
const HREFS = new Set(["href", "src"]);
const CSS_REF = /url\(\s*(['"]?)#([^'")\s]+)\1\s*\)/g;

/** A short, stable, id-safe hash of a string (two FNV-1a rounds, base 36). */
export function hash(s) {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
}

function decoded(fragment) {
  try {
    return decodeURIComponent(fragment);
  } catch (_) {
    return fragment;
  }
}

/** The local id standing for element `id` ("" for the root) of the sprite at `spriteUrl`. */
export function localId(spriteUrl, id) {
  return `${PREFIX}${hash(spriteUrl)}-${hash(id)}`;
}

export function isUse(node) {
  return !!node && node.nodeType === 1 && node.localName === "use" && node.namespaceURI === SVG_NS;
}

/** The reference a `<use>` follows: `href` wins over `xlink:href` (SVG 2). */
function hrefOf(el) {
  const plain = el.getAttribute("href");
  return plain !== null ? plain : el.getAttributeNS(XLINK_NS, "href");
}

/** Every local id an attribute value references: `#id` in a link, `url(#id)` anywhere. */
function refsIn(attr) {
  const v = attr.value;
  const out = [];
  if (HREFS.has(attr.localName) && v.startsWith("#")) out.push(decoded(v.slice(1)));
  if (v.includes("url(")) for (const m of v.matchAll(CSS_REF)) out.push(decoded(m[2]));
  return out;
}

/** The referenced element and, transitively, what it references in its sprite (gradients, clips, symbols). */
export function closure(spriteDoc, target) {
  const out = [target];
  for (let i = 0; i < out.length && out.length < MAX_COPY; i++) {
    for (const el of [out[i], ...out[i].querySelectorAll("*")]) {
      for (const attr of el.attributes) {
        for (const id of refsIn(attr)) {
          const t = spriteDoc.getElementById(id);
          if (t && !out.some((o) => o.contains(t) || t.contains(o))) out.push(t);
        }
      }
    }
  }
  return out;
}

export function makeSprites({ mapUrl = (u) => u, fetchImpl = (...a) => fetch(...a) } = {}) {
  const refs = new Map(); // local id -> {url: proxied sprite URL, origin: the sprite's upstream origin, id}
  const sprites = new Map(); // proxied sprite URL -> Promise<Document | null> (insertion order: oldest first)
  const ready = new Map(); // proxied sprite URL -> Document | null, once loaded
  const warmed = new Map(); // proxied origin -> Promise: this browser holds the host's credential
  const scopes = new WeakMap(); // document or shadow root -> {svg, defs, placed: Set(local id), ids: Set}
  const stats = { refs: 0, fetched: 0, failed: 0, placed: 0, missing: 0, crossOrigin: 0 };
  let pageOrigin = null;
  let replayer = null;

  /** The tab owner's page (a Meta event): its upstream origin. A new page names its sprites anew. */
  function page(origin) {
    pageOrigin = origin;
    refs.clear();
  }

  /** urls.js: the local fragment id for an external reference (sprite given proxied and by its upstream origin). */
  function ref(proxiedSprite, upstreamOrigin, fragment) {
    const id = decoded(fragment);
    const local = localId(proxiedSprite, id);
    if (!refs.has(local)) {
      if (refs.size >= MAX_REFS) return null;
      refs.set(local, { url: proxiedSprite, origin: upstreamOrigin, id });
      stats.refs += 1;
    }
    return local;
  }

  async function warm(origin) {
    // A proxied host gets the follower's credential through the entry hand-off, which only
    // requests that follow redirects with cookies take (a no-cors load, as an image would be).
    if (!warmed.has(origin)) {
      warmed.set(origin, fetchImpl(`${origin}/__tandem/hello`, { mode: "no-cors", credentials: "include", cache: "no-store" })
        .catch(() => null));
    }
    await warmed.get(origin);
  }

  async function fetchSprite(url) {
    await warm(new URL(url).origin);
    // A CORS read with the follower's credential: the proxy answers the control plane's origin
    // (proxy/cobrowse.py), and only with what the follower wall lets a follower have.
    const resp = await fetchImpl(url, { mode: "cors", credentials: "include" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    if (Number(resp.headers.get("Content-Length") || 0) > MAX_SPRITE_BYTES) throw new Error("too large");
    const text = await resp.text();
    if (text.length > MAX_SPRITE_BYTES) throw new Error("too large");
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    if (!doc.documentElement || doc.documentElement.namespaceURI !== SVG_NS || doc.getElementsByTagName("parsererror").length) {
      throw new Error("not an SVG document");
    }
    return doc;
  }

  function load(url) {
    let p = sprites.get(url);
    if (!p) {
      if (sprites.size >= MAX_SPRITES) {
        const oldest = sprites.keys().next().value;
        sprites.delete(oldest);
        ready.delete(oldest);
      }
      p = fetchSprite(url).then(
        (doc) => {
          stats.fetched += 1;
          return doc;
        },
        () => {
          stats.failed += 1;
          return null;
        },
      ).then((doc) => {
        if (sprites.get(url) === p) ready.set(url, doc);
        return doc;
      });
      sprites.set(url, p);
    }
    return p;
  }

  /** The hidden defs of a tree scope; made again (with what it held) if a snapshot or the page dropped it. */
  function scope(root) {
    let s = scopes.get(root);
    const doc = root.nodeType === 9 ? root : root.ownerDocument;
    const parent = root.nodeType === 9 ? root.documentElement : root;
    if (!parent || !doc) return null;
    if (!s) {
      s = { svg: null, defs: null, placed: new Set(), ids: new Set() };
      scopes.set(root, s);
    }
    if (!s.svg || !s.svg.isConnected || s.svg.getRootNode() !== root) {
      s.svg = doc.createElementNS(SVG_NS, "svg");
      s.svg.setAttribute("aria-hidden", "true");
      s.svg.setAttribute("focusable", "false");
      s.svg.setAttribute("data-tandem", "sprites");
      s.svg.setAttribute("style", "position: absolute !important; top: 0 !important; left: 0 !important; width: 0 !important; height: 0 !important; "
        + "overflow: hidden !important; pointer-events: none !important; visibility: visible !important");
      s.defs = doc.createElementNS(SVG_NS, "defs");
      s.svg.appendChild(s.defs);
      parent.appendChild(s.svg);
      const again = [...s.placed];
      s.placed = new Set();
      s.ids = new Set();
      for (const local of again) place(root, local);
    }
    return s;
  }

  /** The copy of one element of the sprite, safe for the mirror, its ids renamed into our space. */
  function copyOf(doc, el, spriteUrl) {
    const copy = doc.importNode(el, true);
    const rename = (id) => localId(spriteUrl, id);
    for (const e of [copy, ...copy.querySelectorAll("*")]) {
      if (DROPPED.has(e.localName)) {
        e.remove();
        continue;
      }
      for (const attr of [...e.attributes]) {
        const name = attr.localName;
        if (/^on[a-z]/i.test(name)) {
          e.removeAttributeNode(attr);
        } else if (name === "id") {
          attr.value = rename(attr.value);
        } else if (HREFS.has(name) && attr.value.startsWith("#")) {
          attr.value = "#" + rename(decoded(attr.value.slice(1)));
        } else if (HREFS.has(name)) {
          // a resource of the sprite (an <image>): through the proxy, resolved against the sprite
          let abs = null;
          try {
            abs = /^[\x00-\x20]*javascript:/i.test(attr.value) ? null : new URL(attr.value, spriteUrl).href;
          } catch (_) {
            abs = null;
          }
          if (abs === null || !/^https?:/i.test(abs)) e.removeAttributeNode(attr);
          else attr.value = mapUrl(abs);
        }
        if (attr.ownerElement && attr.value.includes("url(")) {
          attr.value = attr.value.replace(CSS_REF, (m, q, id) => `url(${q}#${rename(decoded(id))}${q})`);
        }
      }
    }
    return copy;
  }

  /** Put the element `local` names (and what it references) into `root`'s defs, once. */
  function place(root, local) {
    const r = refs.get(local);
    const s = r && scope(root);
    if (!s || s.placed.has(local)) return;
    s.placed.add(local);
    const spriteDoc = ready.get(r.url);
    if (spriteDoc !== undefined) insert(s, root, r, local, spriteDoc);
    else load(r.url).then((d) => {
      const now = scope(root);
      if (now) insert(now, root, r, local, d);
    });
  }

  function insert(s, root, r, local, spriteDoc) {
    if (spriteDoc === null) return;
    const target = r.id ? spriteDoc.getElementById(r.id) : spriteDoc.documentElement;
    if (!target) {
      stats.missing += 1;
      return;
    }
    const doc = root.nodeType === 9 ? root : root.ownerDocument;
    let added = false;
    for (const el of closure(spriteDoc, target)) {
      const copy = copyOf(doc, el, r.url);
      if (el === target) copy.id = local; // (a whole-document reference: the root may have no id)
      if (!copy.id || s.ids.has(copy.id)) continue; // a gradient two icons share: once
      s.ids.add(copy.id);
      s.defs.appendChild(copy);
      added = true;
    }
    if (added) stats.placed += 1;
  }

  function resolve(use) {
    const href = hrefOf(use);
    if (!href || !href.startsWith("#" + PREFIX)) return;
    const local = href.slice(1);
    const r = refs.get(local);
    if (!r) return;
    const top = replayer && replayer.iframe && replayer.iframe.contentDocument;
    if (use.ownerDocument === top && pageOrigin && r.origin !== pageOrigin) {
      stats.crossOrigin += 1; // the tab owner's browser refuses it: so does the mirror
      return;
    }
    place(use.getRootNode(), local);
  }

  // rrweb builds a subtree's children before it attaches the subtree: `<use>`s are looked at once
  // the event that built them is applied (a microtask later), when their tree scope is known.
  let built = [];
  let scheduled = false;
  function later(use) {
    built.push(use);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  }
  function flush() {
    scheduled = false;
    const now = built;
    built = [];
    for (const use of now) if (use.isConnected) resolve(use);
  }

  /** rrweb's mutation set `xlink:href` without its namespace (SVG ignores that): set it in XLink's. */
  function xlink(el, value) {
    if (el.namespaceURI !== SVG_NS) return;
    for (const attr of [...el.attributes]) if (attr.name === "xlink:href" && attr.namespaceURI === null) el.removeAttributeNode(attr);
    if (typeof value === "string") el.setAttributeNS(XLINK_NS, "xlink:href", value);
  }

  /** rrweb replayer plugin: every `<use>` built (snapshot, added nodes, frames) or re-pointed later. */
  const plugin = {
    onBuild(node, ctx) {
      if (ctx && ctx.replayer) replayer = ctx.replayer;
      if (isUse(node) && typeof node.getRootNode === "function") later(node);
    },
    handler(event, isSync, ctx) {
      if (ctx && ctx.replayer) replayer = ctx.replayer;
      const d = event && event.data;
      if (!d || event.type !== 3 || d.source !== 0 || !Array.isArray(d.attributes) || !replayer) return;
      const mirror = replayer.getMirror();
      for (const a of d.attributes) {
        if (!a || !a.attributes) continue;
        const keys = Object.keys(a.attributes);
        if (!keys.includes("href") && !keys.includes("xlink:href")) continue;
        const el = mirror.getNode(a.id);
        if (!el || el.nodeType !== 1) continue;
        if (keys.includes("xlink:href")) xlink(el, a.attributes["xlink:href"]);
        if (isUse(el)) later(el);
      }
    },
  };

  return { page, ref, plugin, stats, isUse };
}
