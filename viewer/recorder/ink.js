/**
 * Drawings: strokes participants draw over the page, shown as an overlay canvas on the
 * tab owner's page and on every mirror (never part of the page or its recording).
 * Strokes come in as pointer messages with `d: true`; each segment fades after FADE_MS.
 */

const FADE_MS = 3000; // a drawing is a gesture ("here, this button"), not an annotation to keep
const WIDTH = 4;

export function makeInk(doc, container, colorOf) {
  const canvas = doc.createElement("canvas");
  canvas.setAttribute("aria-hidden", "true");
  canvas.style.cssText = "position:absolute;inset:0;width:100%;height:100%;pointer-events:none";
  container.append(canvas);
  const ctx = canvas.getContext("2d");
  const last = new Map(); // pid -> {x, y} of the stroke in progress
  let segments = []; // {x1, y1, x2, y2, color, at}
  let running = false;

  function frame() {
    const now = Date.now();
    segments = segments.filter((s) => now - s.at < FADE_MS);
    const w = container.clientWidth;
    const h = container.clientHeight;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = WIDTH;
    ctx.lineCap = "round";
    for (const s of segments) {
      ctx.globalAlpha = Math.max(0, 1 - (now - s.at) / FADE_MS);
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      ctx.moveTo(s.x1, s.y1);
      ctx.lineTo(s.x2, s.y2);
      ctx.stroke();
    }
    running = segments.length > 0;
    if (running) requestAnimationFrame(frame);
  }

  return {
    /** A pointer message: extends the stroke while `d` is set, ends it otherwise. */
    point(msg) {
      if (msg.hide || !msg.d) {
        last.delete(msg.p);
        return;
      }
      const prev = last.get(msg.p);
      last.set(msg.p, { x: msg.x, y: msg.y });
      if (!prev) return;
      segments.push({ x1: prev.x, y1: prev.y, x2: msg.x, y2: msg.y, color: colorOf(msg.p), at: Date.now() });
      if (!running) {
        running = true;
        requestAnimationFrame(frame);
      }
    },
  };
}
