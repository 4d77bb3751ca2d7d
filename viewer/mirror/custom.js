/**
 * The view's half of Tandem's own events (shared/protocol.js, CUSTOM): what rrweb does not
 * replay, applied to the mirror from this (control-plane) page's code. The mirror document
 * itself never runs a script: canvases are painted here from the tab owner's image of them,
 * popovers opened with the DOM's own method.
 * The replayer applies custom events in stream order, so the nodes they name exist.
 */

import { CUSTOM } from "../shared/protocol.js";

const painted = new WeakMap(); // canvas -> number of the latest image asked for (older loads are dropped)

function paint(canvas, url) {
  if (!canvas || canvas.nodeName !== "CANVAS" || typeof url !== "string" || !url.startsWith("data:image/")) return;
  const n = (painted.get(canvas) || 0) + 1;
  painted.set(canvas, n);
  const img = new Image();
  img.onload = () => {
    if (painted.get(canvas) !== n) return;
    const ctx = canvas.getContext("2d");
    if (!ctx) return; // a canvas the mirror already gave another context: nothing to paint on
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  };
  img.src = url;
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
      paint(node(p.id), p.url);
      break;
    case CUSTOM.toplayer:
      toplayer(node(p.id), p.open === true);
      break;
    default:
      break;
  }
}
