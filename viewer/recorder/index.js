/**
 * The co-browsing recorder's bootstrap, injected into every proxied HTML page after the
 * runtime (`/__tandem/recorder.js`, deferred). It is small on purpose: the recording itself
 * (rrweb, control input; `./record.js`, served as `/__tandem/record.js`) is loaded only while
 * someone other than the tab owner watches, and stopped when the last one leaves.
 *
 * In the top document it:
 *  - embeds the session panel (control plane, `data-panel`) once the page has loaded, so the
 *    panel never delays the page's own load. The panel holds the session socket and talks
 *    to this script by postMessage (shared/protocol.js, PAGE_TO_PANEL / PANEL_TO_PAGE),
 *    origin and source checked both ways;
 *  - records while this tab is the stream source (`snapshot`) and someone watches (`watch`),
 *    streaming rrweb's events to the panel; otherwise tells the server its snapshot is stale
 *    (`idle`);
 *  - performs control input the panel relays, and draws the other participants' pointers.
 *
 * In a frame it records only when its parent tells it to (FRAME_MESSAGES), and only where
 * rrweb records a frame by itself: a frame whose parent is cross-origin. A same-origin frame
 * is recorded by its parent's rrweb directly.
 */

import { makeOverlay } from "./overlay.js";
import { EV, SRC, FRAME_MESSAGES, PANEL_TO_PAGE, msg, nameOf } from "../shared/protocol.js";

/* global __TANDEM_RECORD_VERSION__ */
const RECORD_URL = `/__tandem/record.js?v=${typeof __TANDEM_RECORD_VERSION__ === "string" ? __TANDEM_RECORD_VERSION__ : "dev"}`;
const PAGE_CHECK_MS = 500; // how often the URL and title are compared for SPA navigations
const PANEL_AFTER_DOMREADY_MS = 3000; // the panel waits for the page's load event, but no longer than this

/** Loads record.js once; resolves to its API ({start}). */
function makeLoader(doc) {
  let loading = null;
  return () => {
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        const s = doc.createElement("script");
        s.tandemBoot = (api) => {
          s.remove();
          resolve(api);
        };
        s.onerror = () => {
          s.remove();
          loading = null; // a later watcher tries again
          reject(new Error(`Tandem recorder could not load ${RECORD_URL}`));
        };
        s.async = true;
        s.src = RECORD_URL;
        (doc.head || doc.documentElement).appendChild(s);
      });
    }
    return loading;
  };
}

/** Our own <iframe>s' windows: the only ones the frame leg talks to. */
function childWindows(doc) {
  const out = [];
  for (const f of doc.querySelectorAll("iframe, frame")) {
    if (f.contentWindow) out.push(f.contentWindow);
  }
  return out;
}

function tellFrames(doc, on, only) {
  for (const w of only ? [only] : childWindows(doc)) {
    try {
      w.postMessage(msg("rec", { on }), "*");
    } catch (_) {
      /* a frame that is going away */
    }
  }
}

/** The frame leg's receiving half, in every document: answer children that ask whether to record. */
function answerFrames(doc, recordingNow) {
  window.addEventListener("message", (ev) => {
    if (nameOf(ev.data, FRAME_MESSAGES) !== "rec?") return;
    if (!childWindows(doc).includes(ev.source)) return;
    tellFrames(doc, recordingNow(), ev.source);
  });
}

function startFrame(doc, data) {
  const load = makeLoader(doc);
  let parentOn = false;
  let rec = null;
  let sameOriginParent = false;
  try {
    sameOriginParent = !!window.parent.document; // the parent's rrweb records this document itself
  } catch (_) {
    sameOriginParent = false;
  }
  answerFrames(doc, () => parentOn && (sameOriginParent || !!rec));
  const apply = async () => {
    if (sameOriginParent) {
      tellFrames(doc, parentOn);
      return;
    }
    if (parentOn && rec) {
      rec.snapshot();
      tellFrames(doc, true);
    } else if (parentOn) {
      const api = await load();
      if (!parentOn || rec) return;
      rec = api.start({ doc, mask: data.mask, block: data.block, top: false, emit() {} });
      if (rec) tellFrames(doc, true);
    } else if (rec) {
      rec.stop();
      rec = null;
      tellFrames(doc, false);
    }
  };
  window.addEventListener("message", (ev) => {
    if (ev.source !== window.parent || nameOf(ev.data, FRAME_MESSAGES) !== "rec") return;
    parentOn = ev.data.on === true;
    apply().catch((err) => console.warn(String(err)));
  });
  window.parent.postMessage(msg("rec?"), "*");
}

function startTop(doc, data) {
  const panelUrl = new URL(data.panel);
  const panelOrigin = panelUrl.origin;
  const load = makeLoader(doc);

  let source = false; // this tab is the stream source (the server said `snapshot`)
  let watching = false; // someone other than the tab owner is here
  let stopped = false; // this tab is no longer the tab owner's
  let rec = null; // the running recording
  let starting = false;
  let idleSent = false;
  let batch = null;
  let lastHref = "";
  let lastTitle = "";
  let overlay = null;

  const toPanel = (m) => {
    const w = overlay && overlay.frame.contentWindow;
    if (w) w.postMessage(msg(m.t, m), panelOrigin);
  };

  function sendPage() {
    if (!source) return;
    const href = location.href;
    const title = doc.title || "";
    if (href === lastHref && title === lastTitle) return;
    lastHref = href;
    lastTitle = title;
    toPanel({ t: "page", url: href, title: title.slice(0, 300) });
  }

  // A full snapshot goes to the panel in a task of its own (postMessage's structured clone of a
  // big tree costs about as much as the masking pass before it): the page's tasks run in between.
  let later = null;
  const nextTask = (fn) => {
    if (!later) {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => later.fn();
      later = { port: ch.port2, fn };
    }
    later.fn = fn;
    later.port.postMessage(0);
  };

  function flush() {
    const events = batch;
    if (events && events.ownTask) {
      events.ownTask = false;
      nextTask(flush);
      return;
    }
    batch = null;
    if (events && rec && !stopped) toPanel({ t: "ev", e: events });
    sendPage();
  }

  // The mirror has no scrollbar; give it the size of the viewport the page is laid out in
  // (without the leader's scrollbar), so lines wrap alike and coordinates mean the same element.
  // That is the scrolling element's client size: <html> in standards mode, but <body> in quirks
  // mode (no doctype), where <html>'s client height is the whole document's and a mirror that
  // tall never scrolls.
  const layoutSize = () => {
    const el = doc.scrollingElement || doc.documentElement;
    return { width: el.clientWidth || window.innerWidth, height: el.clientHeight || window.innerHeight };
  };
  let lastSize = null;
  function fixSize(event) {
    const resize = event.type === EV.Incremental && event.data && event.data.source === SRC.ViewportResize;
    if (event.type === EV.Meta || resize) {
      lastSize = layoutSize();
      event.data.width = lastSize.width;
      event.data.height = lastSize.height;
    }
  }
  const sizeWatch = typeof ResizeObserver === "function" ? new ResizeObserver(() => {
    const now = layoutSize();
    if (rec && lastSize && (now.width !== lastSize.width || now.height !== lastSize.height)) {
      emit({ type: EV.Incremental, data: { source: SRC.ViewportResize, ...now }, timestamp: Date.now() });
    }
  }) : null;

  function emit(event) {
    if (stopped) return;
    fixSize(event);
    if (event.type === EV.FullSnapshot) setTimeout(() => rec && tellFrames(doc, true), 0);
    if (!batch) {
      batch = [];
      queueMicrotask(flush);
    }
    batch.push(event);
    if (event.type === EV.FullSnapshot) batch.ownTask = true;
  }

  async function begin() {
    starting = true;
    try {
      const api = await load();
      if (rec || !(source && watching && !stopped)) return;
      rec = api.start({ doc, mask: data.mask, block: data.block, top: true, emit });
      if (rec && sizeWatch) sizeWatch.observe(doc.documentElement);
      idleSent = false;
    } finally {
      starting = false;
    }
  }

  function end() {
    if (!rec) return;
    rec.stop();
    rec = null;
    batch = null;
    if (sizeWatch) sizeWatch.disconnect();
    tellFrames(doc, false);
  }

  /** Record exactly while this tab is the source and someone watches. */
  function sync() {
    const want = source && watching && !stopped;
    if (want && !rec && !starting) {
      begin().catch((err) => console.warn(String(err)));
    } else if (!want && rec) {
      end();
    }
    if (source && !watching && !stopped && !idleSent) {
      idleSent = true;
      toPanel({ t: "idle" });
    }
  }

  answerFrames(doc, () => !!rec);

  function onPanel(ev) {
    if (!overlay || ev.origin !== panelOrigin || ev.source !== overlay.frame.contentWindow) return;
    const name = nameOf(ev.data, PANEL_TO_PAGE);
    const m = ev.data;
    switch (name) {
      case "snapshot":
        source = true;
        lastHref = "";
        sendPage();
        if (rec) rec.snapshot();
        else idleSent = false;
        sync();
        break;
      case "paused":
        source = false;
        sync();
        break;
      case "watch":
        if (watching !== (m.on === true)) {
          watching = m.on === true;
          idleSent = false;
          sync();
        }
        break;
      case "input": {
        const problem = rec ? rec.perform(m.i) : { code: "not_ready", text: "The page is not being shared yet: try again in a moment." };
        if (problem) toPanel({ t: "notice", p: m.p, code: problem.code, text: problem.text });
        break;
      }
      case "ptr":
        overlay.pointer(m);
        break;
      case "state":
        overlay.setState(m.state);
        break;
      case "notice":
        overlay.notice(String(m.text || ""));
        break;
      case "layout":
        overlay.layout(Number(m.w), Number(m.h));
        break;
      case "navigate":
        // This tab stops being the tab owner's: stop recording and go to the session page.
        stopped = true;
        end();
        if (typeof m.url === "string" && m.url.startsWith(panelOrigin + "/")) location.href = m.url;
        break;
      default:
        break;
    }
  }
  window.addEventListener("message", onPanel);

  function mountPanel() {
    if (overlay) return;
    overlay = makeOverlay(doc, panelUrl.href);
    // Browsers without location.ancestorOrigins learn who embeds the panel from this hello.
    overlay.frame.addEventListener("load", () => toPanel({ t: "hello" }));
  }
  if (doc.readyState === "complete") mountPanel();
  else {
    window.addEventListener("load", () => setTimeout(mountPanel, 0), { once: true });
    setTimeout(mountPanel, PANEL_AFTER_DOMREADY_MS);
  }

  doc.addEventListener("visibilitychange", () => {
    if (doc.visibilityState === "visible") toPanel({ t: "active" });
  });
  setInterval(sendPage, PAGE_CHECK_MS);
}

function start() {
  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  if (window.parent !== window) startFrame(document, data);
  else if (data.panel) startTop(document, data);
}

try {
  start();
} catch (err) {
  // Never break the page: without the recorder the tab still works, only unshared.
  if (typeof console !== "undefined") console.warn("Tandem recorder could not start:", err);
}
