/**
 * What rrweb does not record and a mirror needs, as Tandem's own Custom events
 * (shared/protocol.js, CUSTOM), replayed by the mirror's view (mirror/custom.js) without
 * running anything in the mirror document:
 *
 *  - canvas (2D and WebGL): the canvas's pixels as an image, at most CANVAS_FPS times a
 *    second and only when they changed, captured in an animation frame (after the page has
 *    drawn and before the browser clears a WebGL drawing buffer). A canvas the page has
 *    tainted with another origin's pixels cannot be read, here as anywhere: it stays blank
 *    in the mirror (reported once on the console).
 *  - popovers: shown and hidden (`toggle` events; rrweb sees no attribute change).
 *
 * (Hover from the controller's input needs nothing here: the control input dispatches mouse
 * events on the target, rrweb records them, and its replayer hovers what they hit.)
 */

import { CUSTOM } from "../shared/protocol.js";

const CANVAS_FPS = 2; // canvas images a second, at most: bounded bytes and main-thread time
const CANVAS_MAX_SIDE = 1280; // larger canvases are sent scaled down to this many pixels on their longer side
const CANVAS_MAX_PER_TICK = 8; // canvases read per tick; more wait for the next
const IMAGE_TYPE = "image/webp";
const IMAGE_QUALITY = 0.7;

export function makeExtras({ doc, mirror, custom }) {
  const win = doc.defaultView;
  const last = new WeakMap(); // canvas -> last image sent
  const tainted = new WeakSet();
  let timer = 0;
  let stopped = false;
  let scratch = null;

  function image(canvas) {
    const w = canvas.width;
    const h = canvas.height;
    if (!w || !h) return null;
    const scale = Math.min(1, CANVAS_MAX_SIDE / Math.max(w, h));
    if (scale === 1) return canvas.toDataURL(IMAGE_TYPE, IMAGE_QUALITY);
    scratch = scratch || doc.createElement("canvas");
    scratch.width = Math.round(w * scale);
    scratch.height = Math.round(h * scale);
    const ctx = scratch.getContext("2d");
    ctx.clearRect(0, 0, scratch.width, scratch.height);
    ctx.drawImage(canvas, 0, 0, scratch.width, scratch.height);
    return scratch.toDataURL(IMAGE_TYPE, IMAGE_QUALITY);
  }

  function capture(force) {
    let read = 0;
    for (const canvas of doc.getElementsByTagName("canvas")) {
      if (read >= CANVAS_MAX_PER_TICK) break;
      const id = mirror.getId(canvas);
      if (id < 0 || tainted.has(canvas)) continue;
      let url;
      try {
        url = image(canvas);
      } catch (err) {
        if (!err || err.name !== "SecurityError") throw err;
        tainted.add(canvas); // the page drew another origin's pixels: unreadable, as without Tandem
        console.info("Tandem: a canvas holds another site's pixels and cannot be shown to followers");
        continue;
      }
      read += 1;
      if (!url || (!force && last.get(canvas) === url)) continue;
      last.set(canvas, url);
      custom(CUSTOM.canvas, { id, url });
    }
  }

  function tick(force) {
    if (stopped) return;
    // In an animation frame: after the page's own rAF drawing, before a WebGL buffer is cleared.
    win.requestAnimationFrame(() => {
      if (!stopped) capture(force);
    });
  }
  timer = win.setInterval(() => tick(false), 1000 / CANVAS_FPS);

  const onToggle = (ev) => {
    const el = ev.target;
    if (!el || el.nodeType !== 1 || !el.hasAttribute || !el.hasAttribute("popover")) return;
    const id = mirror.getId(el);
    if (id > 0) custom(CUSTOM.toplayer, { id, open: ev.newState === "open" });
  };
  doc.addEventListener("toggle", onToggle, true);

  function popovers() {
    for (const el of doc.querySelectorAll("[popover]")) {
      let open = false;
      try {
        open = el.matches(":popover-open");
      } catch (_) {
        return; // a browser without popovers has none open
      }
      const id = mirror.getId(el);
      if (open && id > 0) custom(CUSTOM.toplayer, { id, open: true });
    }
  }

  return {
    /** After each full snapshot: everything the snapshot cannot carry, as it is now. */
    snapshot() {
      tick(true);
      popovers();
    },
    stop() {
      stopped = true;
      win.clearInterval(timer);
      doc.removeEventListener("toggle", onToggle, true);
    },
  };
}
