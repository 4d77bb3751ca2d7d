/**
 * The recording half of the co-browsing recorder (`/__tandem/record.js`): rrweb, masking,
 * control input and Tandem's own fidelity events. It is big, so the bootstrap
 * (`./index.js`, injected into every proxied page) loads it only when someone watches
 * and hands it the page's settings; it never runs on a page nobody watches.
 *
 * The bootstrap sets `tandemBoot` on the <script> element it inserts; this script
 * calls it with `{ start }`. `start()` begins a recording (a full snapshot first) and
 * returns its handle; `stop()` ends it, and the next `start()` snapshots afresh.
 */

import { record } from "rrweb";
import { makeMasking } from "./mask.js";
import { makeControl } from "./control.js";
import { makeExtras } from "./extras.js";

// Every keystroke shows live; pointer moves at most 20 per second. Scrolls at most one per frame
// (the browser fires scroll events once a frame anyway): at 50 ms a scroll in progress reached the
// mirror up to 50 ms late (the throttle's trailing call). 0 would mean rrweb's default, 100 ms.
const SAMPLING = { mousemove: 50, scroll: 16 };

let originFixInstalled = false;

/**
 * rrweb accepts a frame's events only when the message's origin equals the origin the frame
 * claims. Under the runtime, origins are shown to the page in their upstream form in some
 * places and not others, so the two may differ for our own frames. Messages from our own
 * <iframe>s are passed on claiming the origin the page sees (rrweb still checks the source).
 */
function installOriginFix(doc) {
  if (originFixInstalled) return;
  originFixInstalled = true;
  window.addEventListener("message", (ev) => {
    const d = ev.data;
    if (!ev.isTrusted || !d || d.type !== "rrweb" || typeof d.origin !== "string") return;
    const seen = ev.origin;
    if (d.origin === seen) return;
    const fromOurFrame = [...doc.querySelectorAll("iframe")].some((f) => f.contentWindow === ev.source);
    if (!fromOurFrame) return;
    ev.stopImmediatePropagation();
    window.dispatchEvent(new MessageEvent("message", { data: { ...d, origin: seen }, origin: seen, source: ev.source }));
  }, true);
}

/**
 * @param {{doc: Document, mask?: string, block?: string, top: boolean, emit: (e: object) => void}} opts
 * @returns {{stop(): void, snapshot(): void, perform(i: object): ({code: string, text: string} | null)} | null}
 *   null when rrweb would not record here (it then says why on the console)
 */
function start({ doc, mask, block, top, emit }) {
  const masking = makeMasking(doc, mask, block);
  installOriginFix(doc);
  // Tandem's own events go through rrweb (Custom events), so a frame's reach the top with its node ids mapped.
  const extras = makeExtras({ doc, mirror: record.mirror, custom: (tag, payload) => record.addCustomEvent(tag, payload) });
  const stop = record({
    ...masking.options,
    recordCrossOriginIframes: true,
    recordAfter: "DOMContentLoaded",
    inlineStylesheet: true,
    collectFonts: false,
    sampling: SAMPLING,
    // In a frame rrweb posts its events to the parent itself and never calls this.
    emit: top ? emit : undefined,
    // The full snapshot is taken in slices (recorder/slice-patch.mjs): what it cannot carry
    // follows each one once it is out, never earlier (the nodes have no ids before).
    tandemAfterSnapshot: () => extras.snapshot(),
  });
  if (typeof stop !== "function") return null;
  const performInput = makeControl({ mirror: record.mirror, doc });
  let running = true;
  return {
    stop() {
      if (!running) return;
      running = false;
      extras.stop();
      stop();
    },
    snapshot() {
      if (!running) return;
      record.takeFullSnapshot(true);
    },
    perform(i) {
      return performInput(i);
    },
  };
}

const script = document.currentScript;
const boot = script && script.tandemBoot;
if (typeof boot === "function") boot({ start });
