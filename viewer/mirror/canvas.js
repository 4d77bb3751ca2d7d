/**
 * Canvases in the mirror. The mirror document runs no script, and in a document without scripting
 * a <canvas> is not a replaced element: it "represents its fallback content" (HTML, the canvas
 * element), so it lays out as that content, or as nothing. A mirror shorter than the page stops
 * scrolling early and puts everything below the first canvas in the wrong place.
 *
 * So every canvas in the mirror is given, from a stylesheet of our own in its document, an image
 * as its content (`content: url(...)` makes an element a replaced element): an empty SVG with the
 * canvas's size (its width/height attributes as HTML reads them, 300x150 by default). It then lays
 * out as the canvas does in the page however the page sizes it (CSS width or height alone, max-width,
 * box-sizing, display, flex or grid item, inline in a line of text), and its fallback content stays
 * unseen as in the page. The canvas stays a <canvas>, so the page's own selectors keep matching it
 * and rrweb's node ids and later mutations keep working. Tandem's images of the canvas
 * (recorder/extras.js, at most 2 a second) are its background, in its content box.
 *
 * One rule per canvas (`canvas[data-tandem-canvas="<rrweb id>"]`), edited through the CSSOM when
 * the canvas's size attributes change or a new image arrives (never the whole sheet reparsed).
 */

const ATTR = "data-tandem-canvas";
const IMAGE_URL = /^data:image\/(webp|png|jpeg);base64,[A-Za-z0-9+/=]+$/;
const DEFAULT_WIDTH = 300;
const DEFAULT_HEIGHT = 150;

/** A canvas width/height attribute as HTML reads it (rules for parsing non-negative integers), else the default. */
export function dimension(value, fallback) {
  if (typeof value !== "string") return fallback;
  const m = /^[\t\n\f\r ]*\+?([0-9]+)/.exec(value);
  if (!m) return fallback;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : fallback;
}

/** The canvas's intrinsic size in CSS pixels: {w, h}. */
export function sizeOf(canvas) {
  return { w: dimension(canvas.getAttribute("width"), DEFAULT_WIDTH), h: dimension(canvas.getAttribute("height"), DEFAULT_HEIGHT) };
}

/** An empty image of w x h CSS pixels: the replaced content that gives the canvas its box. */
export function boxImage(w, h) {
  return "data:image/svg+xml," + encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"/>`);
}

/** The declarations of one canvas's rule. */
export function declarations(w, h, url) {
  const out = [["content", `url("${boxImage(w, h)}")`]];
  if (url) {
    out.push(["background-image", `url("${url}")`], ["background-size", "100% 100%"], ["background-repeat", "no-repeat"],
      ["background-origin", "content-box"]);
  }
  return out;
}

const SIZE_ATTRS = new Set(["width", "height"]);
const MUTATION = 0; // rrweb IncrementalSource.Mutation
const INCREMENTAL = 3; // rrweb EventType.IncrementalSnapshot

export function makeCanvases() {
  const docs = new WeakMap(); // mirror document -> {style, sheet, canvases: Map(id -> {el, w, h, url, rule})}

  function stateOf(doc) {
    let s = docs.get(doc);
    if (!s) {
      s = { style: doc.createElement("style"), sheet: null, canvases: new Map() };
      s.style.setAttribute("data-tandem", "canvases");
      docs.set(doc, s);
    }
    // Our sheet was dropped (a fresh snapshot rebuilt the document, or the page replaced <head>): put it back, rules again.
    if (!s.style.isConnected || s.style.sheet !== s.sheet) {
      if (!s.style.isConnected) (doc.head || doc.documentElement).appendChild(s.style);
      s.sheet = s.style.sheet;
      for (const c of s.canvases.values()) c.rule = null;
    }
    return s;
  }

  function rule(s, id, c) {
    if (!s.sheet) return;
    if (!c.rule) {
      const i = s.sheet.insertRule(`canvas[${ATTR}="${id}"] {}`, s.sheet.cssRules.length);
      c.rule = s.sheet.cssRules[i];
      c.drawn = { w: -1, h: -1, url: null };
    }
    const st = c.rule.style;
    if (c.drawn.w !== c.w || c.drawn.h !== c.h || c.drawn.url !== c.url) {
      for (const [k, v] of declarations(c.w, c.h, c.url)) st.setProperty(k, v, "important");
      c.drawn = { w: c.w, h: c.h, url: c.url };
    }
  }

  /** Give `el` (a canvas of the mirror, rrweb id `id`) its box; `url`: a new image of it. */
  function show(el, id, url) {
    if (!el || el.nodeName !== "CANVAS" || typeof id !== "number" || !el.ownerDocument) return;
    const s = stateOf(el.ownerDocument);
    let c = s.canvases.get(id);
    if (!c || c.el !== el) {
      c = { el, w: 0, h: 0, url: null, rule: null, drawn: null };
      s.canvases.set(id, c);
    }
    if (el.getAttribute(ATTR) !== String(id)) el.setAttribute(ATTR, String(id));
    const { w, h } = sizeOf(el);
    c.w = w;
    c.h = h;
    if (url !== undefined) c.url = url;
    rule(s, id, c);
  }

  /** Rules of canvases gone from a document are deleted (their images are big). */
  function forget(doc) {
    const s = docs.get(doc);
    if (!s) return;
    for (const [id, c] of s.canvases) {
      if (c.el.isConnected && c.el.ownerDocument === doc) continue;
      s.canvases.delete(id);
      if (c.rule && s.sheet) {
        const i = Array.prototype.indexOf.call(s.sheet.cssRules, c.rule);
        if (i >= 0) s.sheet.deleteRule(i);
      }
    }
  }

  // Canvases built while their subtree is not in the document yet (rrweb appends a subtree's
  // children before the subtree itself): given their box once the event that built them is applied.
  let built = [];

  /** rrweb replayer plugin: every canvas built (full snapshot or added later), every size change. */
  const plugin = {
    onBuild(node, { id }) {
      if (node && node.nodeName === "CANVAS") built.push([node, id]);
    },
    handler(event, isSync, { replayer }) {
      if (built.length) {
        const now = built;
        built = [];
        for (const [el, id] of now) if (el.isConnected) show(el, id);
      }
      if (!event || event.type !== INCREMENTAL || !event.data || event.data.source !== MUTATION) return;
      const d = event.data;
      const mirror = replayer.getMirror();
      for (const a of d.attributes || []) {
        if (!a || !a.attributes || !Object.keys(a.attributes).some((k) => SIZE_ATTRS.has(k))) continue;
        const el = mirror.getNode(a.id);
        if (el && el.nodeName === "CANVAS") show(el, a.id);
      }
      if (d.removes && d.removes.length) {
        const doc = replayer.iframe && replayer.iframe.contentDocument;
        if (doc) forget(doc);
      }
    },
  };

  return {
    plugin,
    /** A canvas image from the tab owner (CUSTOM.canvas). */
    paint(el, id, url) {
      if (typeof url !== "string" || !IMAGE_URL.test(url)) return;
      show(el, id, url);
    },
  };
}
