/**
 * The view's half of Tandem's own events (shared/protocol.js, CUSTOM): what rrweb does not
 * replay, applied to the mirror from this (control-plane) page's code. The mirror document
 * itself never runs a script: canvases show the tab owner's image of them (canvas.js),
 * popovers opened with the DOM's own method.
 * The replayer applies custom events in stream order, so the nodes they name exist.
 */

import { CUSTOM } from "../shared/protocol.js";
import { makeCanvases } from "./canvas.js";

// Canvases keep their box and show Tandem's images of them: mirror/canvas.js (a replayer plugin).
export const canvases = makeCanvases();

/** Rules the replayer puts first in every mirror document (lowest specificity: the page's own rules win). */
export const MIRROR_CSS = [
  // with scripting off the mirror would show <noscript> content the page never shows
  "noscript { display: none !important; }",
];

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
      canvases.paint(node(p.id), p.id, p.url);
      break;
    case CUSTOM.toplayer:
      toplayer(node(p.id), p.open === true);
      break;
    default:
      break;
  }
}
