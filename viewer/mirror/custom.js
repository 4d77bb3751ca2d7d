/**
 * The view's half of Tandem's own events (shared/protocol.js, CUSTOM): what rrweb does not
 * replay, applied to the mirror from this (control-plane) page's code. The mirror document
 * itself never runs a script: canvases show the tab owner's image of them as their background,
 * popovers opened with the DOM's own method.
 * The replayer applies custom events in stream order, so the nodes they name exist.
 */

import { CUSTOM } from "../shared/protocol.js";

// The mirror runs no script, and a <canvas> in a document without scripting shows its fallback
// content instead of pixels (HTML: "the canvas element"): whatever is painted on it is never seen.
// So Tandem's canvas images are the canvas's background, from a stylesheet of our own in the
// mirror (the page's own style attribute changes do not wipe it out), and MIRROR_CSS (below) keeps
// the canvas's box the size a live canvas would have.
const IMAGE_URL = /^data:image\/(webp|png|jpeg);base64,[A-Za-z0-9+/=]+$/;
const ATTR = "data-tandem-canvas";
const images = new WeakMap(); // mirror document -> {style element, Map(canvas id -> image URL)}

/** Rules the replayer puts first in every mirror document (lowest specificity: the page's own rules win). */
export const MIRROR_CSS = [
  // a canvas keeps its intrinsic size (width/height attributes, default 300x150) and ratio
  ":where(canvas) { display: inline-block; overflow: hidden; width: attr(width px, 300px);" +
    " aspect-ratio: attr(width type(<number>), 300) / attr(height type(<number>), 150); }",
  // with scripting off the mirror would show <noscript> content the page never shows
  "noscript { display: none !important; }",
];

function paint(canvas, id, url) {
  if (!canvas || canvas.nodeName !== "CANVAS" || typeof url !== "string" || !IMAGE_URL.test(url)) return;
  const doc = canvas.ownerDocument;
  let entry = images.get(doc);
  if (!entry) {
    entry = { style: doc.createElement("style"), urls: new Map() };
    images.set(doc, entry);
  }
  if (canvas.getAttribute(ATTR) !== String(id)) canvas.setAttribute(ATTR, String(id));
  entry.urls.set(id, url);
  for (const k of entry.urls.keys()) {
    if (!doc.querySelector(`canvas[${ATTR}="${k}"]`)) entry.urls.delete(k); // canvases gone from the page
  }
  entry.style.textContent = [...entry.urls].map(([k, u]) =>
    `canvas[${ATTR}="${k}"] { background-image: url("${u}") !important; background-size: 100% 100% !important;` +
    " background-repeat: no-repeat !important; }").join("\n");
  if (!entry.style.isConnected) (doc.head || doc.documentElement).appendChild(entry.style);
}

function toplayer(el, open) {
  if (!el || typeof el.showPopover !== "function" || !el.hasAttribute("popover")) return;
  const shown = el.matches(":popover-open");
  if (open && !shown) el.showPopover();
  else if (!open && shown) el.hidePopover();
}

/** @param replayer rrweb's Replayer @param ev a Custom event (type 5) */
export function onCustom(replayer, ev) {
  const d = ev && ev.data;
  const p = d && d.payload;
  if (!p || typeof p !== "object") return;
  const node = (id) => (typeof id === "number" ? replayer.getMirror().getNode(id) : null);
  switch (d.tag) {
    case CUSTOM.canvas:
      paint(node(p.id), p.id, p.url);
      break;
    case CUSTOM.toplayer:
      toplayer(node(p.id), p.open === true);
      break;
    default:
      break;
  }
}
