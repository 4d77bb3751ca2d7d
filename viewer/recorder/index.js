/**
 * The co-browsing recorder, injected into every proxied HTML page after the runtime
 * (`/__tandem/recorder.js`, deferred). In the top document it:
 *
 *  - records the DOM with rrweb (masking applied here, before anything is sent);
 *  - embeds the session panel (control plane, `data-panel`), which holds the session
 *    socket, and talks to it by postMessage, checking origin and source both ways;
 *  - holds events until the panel says this tab is the stream source (`snapshot`),
 *    then streams them; `paused` stops it (another tab of the leader is active);
 *  - performs control input the panel relays, and draws the other participants' pointers.
 *
 * In a frame, rrweb passes its events up to the parent document's recorder
 * (cross-origin frames included), which merges them into the one stream.
 */

import { record, EventType } from "rrweb";
import { makeMasking } from "./mask.js";
import { makeControl } from "./control.js";
import { makeOverlay } from "./overlay.js";

const MAX_HELD_EVENTS = 20000; // events held before the panel is ready; past it they are dropped and a fresh snapshot taken
const PAGE_CHECK_MS = 500; // how often the URL and title are compared for SPA navigations

function start() {
  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  const doc = document;
  const masking = makeMasking(doc, data.mask, data.block);
  const common = {
    ...masking.options,
    recordCrossOriginIframes: true,
    recordAfter: "DOMContentLoaded",
    inlineStylesheet: true,
    collectFonts: false,
    sampling: { mousemove: 50, scroll: 50 }, // every keystroke shows live; pointer and scroll at most 20 per second
  };
  const top = window.parent === window;
  // rrweb accepts a frame's events only when the message's origin equals the origin the frame
  // claims. Under the runtime, origins are shown to the page in their upstream form in some
  // places and not others, so the two may differ for our own frames. Messages from our own
  // <iframe>s are passed on claiming the origin the page sees (rrweb still checks the source).
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
  // Frames re-send their snapshot when the parent takes one: a frame's first snapshot can
  // reach the parent before the parent has recorded the <iframe>, and would be lost.
  const askFrames = () => {
    for (const f of doc.querySelectorAll("iframe")) {
      try {
        if (f.contentWindow) f.contentWindow.postMessage({ tandem: "resnapshot" }, "*");
      } catch (_) {
        /* a frame that is going away */
      }
    }
  };
  if (!top) {
    record({ ...common, emit() {} });
    window.addEventListener("message", (ev) => {
      if (ev.source !== window.parent || !ev.data || ev.data.tandem !== "resnapshot") return;
      record.takeFullSnapshot(true);
      askFrames();
    });
    return;
  }
  if (!data.panel) return;
  const panelUrl = new URL(data.panel);
  const panelOrigin = panelUrl.origin;

  let streaming = false;
  let paused = false;
  let held = [];
  let heldComplete = false; // held[] starts with the initial Meta + FullSnapshot and nothing was dropped
  let batch = null;
  let stopped = false;
  let lastHref = "";
  let lastTitle = "";

  const overlay = makeOverlay(doc, panelUrl.href);
  // Browsers without location.ancestorOrigins learn who embeds the panel from this hello.
  overlay.frame.addEventListener("load", () => toPanel({ t: "hello" }));
  const toPanel = (msg) => {
    const w = overlay.frame.contentWindow;
    if (w) w.postMessage({ tandem: msg.t, ...msg }, panelOrigin);
  };

  function sendPage() {
    const href = location.href;
    const title = doc.title || "";
    if (href === lastHref && title === lastTitle) return;
    lastHref = href;
    lastTitle = title;
    if (streaming) toPanel({ t: "page", url: href, title: title.slice(0, 300) });
  }

  function flush() {
    const events = batch;
    batch = null;
    if (events && streaming && !stopped) toPanel({ t: "ev", e: events });
    sendPage();
  }

  // The mirror has no scrollbar; give it the width the page is laid out in (without the
  // leader's scrollbar), so lines wrap alike and coordinates mean the same element.
  const layoutSize = () => ({ width: doc.documentElement.clientWidth || window.innerWidth,
                              height: doc.documentElement.clientHeight || window.innerHeight });
  let lastSize = null;
  function fixSize(event) {
    const resize = event.type === EventType.IncrementalSnapshot && event.data && event.data.source === 4;
    if (event.type === EventType.Meta || resize) {
      lastSize = layoutSize();
      event.data.width = lastSize.width;
      event.data.height = lastSize.height;
    }
  }
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(() => {
      const now = layoutSize();
      if (lastSize && (now.width !== lastSize.width || now.height !== lastSize.height)) {
        emit({ type: EventType.IncrementalSnapshot, data: { source: 4, ...now }, timestamp: Date.now() });
      }
    }).observe(doc.documentElement);
  }

  function emit(event) {
    if (stopped) return;
    fixSize(event);
    if (event.type === EventType.FullSnapshot) setTimeout(askFrames, 0);
    if (streaming) {
      if (!batch) {
        batch = [];
        queueMicrotask(flush);
      }
      batch.push(event);
      return;
    }
    if (paused) return;
    if (event.type === EventType.Meta && held.length === 0) heldComplete = true;
    if (held.length >= MAX_HELD_EVENTS) {
      held = [];
      heldComplete = false;
    }
    held.push(event);
  }

  const stopRecording = record({ ...common, emit });

  function beginStream() {
    paused = false;
    streaming = true;
    lastHref = "";
    if (heldComplete && held.length) {
      const events = held;
      held = [];
      toPanel({ t: "ev", e: events });
      sendPage();
    } else {
      held = [];
      record.takeFullSnapshot(true);
    }
    heldComplete = false;
  }

  const performInput = makeControl({ mirror: record.mirror, doc });

  window.addEventListener("message", (ev) => {
    if (ev.origin !== panelOrigin || ev.source !== overlay.frame.contentWindow) return;
    const msg = ev.data;
    if (!msg || typeof msg !== "object" || typeof msg.tandem !== "string") return;
    switch (msg.tandem) {
      case "snapshot":
        if (doc.readyState === "loading") {
          doc.addEventListener("DOMContentLoaded", () => setTimeout(beginStream, 0), { once: true });
        } else beginStream();
        break;
      case "paused":
        streaming = false;
        paused = true;
        held = [];
        break;
      case "input": {
        const problem = performInput(msg.i);
        if (problem) toPanel({ t: "notice", p: msg.p, code: problem.code, text: problem.text });
        break;
      }
      case "ptr":
        overlay.pointer(msg);
        break;
      case "state":
        overlay.setState(msg.state);
        break;
      case "notice":
        overlay.notice(String(msg.text || ""));
        break;
      case "layout":
        overlay.layout(Number(msg.w), Number(msg.h));
        break;
      case "navigate":
        // This tab stops being the tab owner's: stop recording and go to the session page.
        stopped = true;
        streaming = false;
        if (typeof stopRecording === "function") stopRecording();
        if (typeof msg.url === "string" && msg.url.startsWith(panelOrigin + "/")) location.href = msg.url;
        break;
      default:
        break;
    }
  });

  doc.addEventListener("visibilitychange", () => {
    if (doc.visibilityState === "visible") toPanel({ t: "active" });
  });
  setInterval(sendPage, PAGE_CHECK_MS);
}

try {
  start();
} catch (err) {
  // Never break the page: without the recorder the tab still works, only unshared.
  if (typeof console !== "undefined") console.warn("Tandem recorder could not start:", err);
}
