/**
 * The session page (BASE/s/{sid}). A follower sees the tab owner's page as an rrweb
 * replayer in live mode: a sandboxed iframe (scripts off), scaled to fit, with the
 * other participants' pointers on top. With control, clicks, wheel, keys and text
 * are captured on the mirror and sent; the tab owner's runtime performs them.
 * The tab owner is sent on to the page it shows (its proxied tab).
 *
 * Stream consistency: frames are numbered; a frame that starts where the last one
 * ended is applied, one already seen is skipped, a gap asks the server to resync.
 * On reconnect the page sends its resume point ({epoch, seq}) and gets only what it missed.
 */

import { Replayer, EventType } from "rrweb";
import "rrweb/dist/style.css";
import "./session.css";
import { connect } from "./conn.js";
import { h, config, participantList, toast, colorFor } from "./ui.js";
import { makeProxify } from "./urls.js";
import { makeSprites } from "./sprites.js";
import { makeInk } from "../recorder/ink.js";
import { initial, reduce, resumePoint } from "./stream.js";
import { onCustom, MIRROR_CSS, canvases } from "./custom.js";
import { makeChat } from "./chat.js";

const cfg = config();
const baseUrl = new URL(cfg.base);
// external <use> sprites: fetched through the proxy as the follower, copied into the mirror (sprites.js)
const sprites = makeSprites({ mapUrl: (u) => proxify.url(u) });
const proxify = makeProxify({ scheme: baseUrl.protocol.replace(":", ""), sid: cfg.sid, baseDomain: baseUrl.host, uses: sprites });
const app = document.getElementById("app");
let stream = initial(); // the stream's state: see stream.js (pure), applied to the replayer below
// Read-only figures for tests and troubleshooting.
const stats = {
  get applied() { return stream.counters.applied; },
  get frames() { return stream.counters.frames; },
  get dups() { return stream.counters.dups; },
  get gaps() { return stream.counters.gaps; },
  get resets() { return stream.counters.resets; },
  get lastSeq() { return stream.lastSeq; },
  get epoch() { return stream.epoch; },
};

let state = null;
let role = null;
let replayer = null;
let scale = 1;
let viewport = { width: 1024, height: 768 };
let connStatus = "connecting";
let requested = false;

// -- layout --------------------------------------------------------------------------------
const urlText = h("span", { class: "url", title: "" }, "");
const statusText = h("span", { class: "status", role: "status" }, "Connecting…");
const controlBtn = h("button", { type: "button", class: "primary", onclick: onControlButton }, "Request control");
const leaveBtn = h("button", { type: "button", class: "quiet", onclick: leave }, "Leave");
let drawing = false;
const drawBtn = h("button", { type: "button", "aria-pressed": "false", title: "Draw on the page for everyone (drawings fade)",
  onclick: () => {
    drawing = !drawing;
    drawBtn.setAttribute("aria-pressed", String(drawing));
    stage.classList.toggle("drawing", drawing);
  } }, "Draw");
const navBar = h("form", { class: "navbar", hidden: true, onsubmit: onGo },
  h("button", { type: "button", title: "Back", "aria-label": "Back", onclick: () => nav("back") }, "←"),
  h("button", { type: "button", title: "Forward", "aria-label": "Forward", onclick: () => nav("forward") }, "→"),
  h("button", { type: "button", title: "Reload", "aria-label": "Reload", onclick: () => nav("reload") }, "⟳"),
  h("input", { name: "url", type: "url", placeholder: "Go to address…", "aria-label": "Address", autocomplete: "off" }),
  h("button", { type: "submit" }, "Go"));
// -- chat: a pane beside the mirror (over it on narrow screens), with an unread count on its button
const chatCount = h("span", { class: "count", hidden: true });
const chatBtn = h("button", { type: "button", class: "chat-btn", "aria-expanded": "false", "aria-controls": "chat-pane",
  onclick: () => setChatOpen(chatPane.hidden) }, "Chat", chatCount);
const chat = makeChat({
  me: cfg.pid, sid: cfg.sid, send: (m) => conn.send(m), isOpen: () => !chatPane.hidden,
  onEscape: () => { setChatOpen(false); chatBtn.focus(); },
  onUnread: (n) => {
    chatCount.textContent = String(n);
    chatCount.hidden = !n;
    chatBtn.setAttribute("aria-label", n ? `Chat, ${n} unread` : "Chat");
  },
});
const chatPane = h("aside", { class: "chat-pane", id: "chat-pane", hidden: true },
  h("div", { class: "chat-head" }, h("h2", {}, "Chat"),
    h("button", { type: "button", class: "small quiet", "aria-label": "Close chat", onclick: () => { setChatOpen(false); chatBtn.focus(); } }, "✕")),
  chat.el);
function setChatOpen(on, focus = true) {
  chatPane.hidden = !on;
  chatBtn.setAttribute("aria-expanded", String(on));
  if (on) {
    chat.markRead();
    if (focus) chat.focus();
  }
}
const header = h("header", { class: "bar" },
  h("a", { class: "brand", href: "/" }, "Tandem"),
  h("div", { class: "where" }, urlText, statusText),
  navBar,
  h("div", { class: "actions" }, chatBtn, drawBtn, controlBtn, leaveBtn));
const stage = h("div", { class: "stage" });
const frameBox = h("div", { class: "framebox" });
const mirrorRoot = h("div", { class: "mirror" }); // the replayer's own root: never moved (an iframe moved in the DOM reloads)
const pointers = h("div", { class: "pointers", "aria-hidden": "true" });
const catcher = h("div", { class: "catcher", tabindex: "-1" });
const keys = h("textarea", { class: "keys", "aria-label": "Type into the shared page", autocomplete: "off", spellcheck: "false" });
const waiting = h("div", { class: "waiting" }, h("p", {}, "Waiting for the tab owner's page…"));
const pageError = h("div", { class: "page-error", role: "alert", hidden: true });
frameBox.append(mirrorRoot, pointers, catcher);
const ink = makeInk(document, pointers, (pid) => colorFor(pid, state ? state.participants : []));
let penDown = false;
stage.append(frameBox, waiting, pageError, keys);
const side = h("aside", { class: "side" }, h("h2", {}, "People"), h("div", { class: "people-box" }));
app.append(header, h("main", { class: "layout" }, stage, chatPane, side));
if (window.innerWidth >= 1000) setChatOpen(true, false); // room for it beside the mirror: open from the start

// -- the mirror ----------------------------------------------------------------------------
function newReplayer() {
  if (replayer) {
    try {
      replayer.destroy();
    } catch (_) {
      /* already gone */
    }
  }
  replayer = new Replayer([], {
    root: mirrorRoot,
    liveMode: true,
    mouseTail: false,
    showWarning: false,
    triggerFocus: false,
    pauseAnimation: false,
    insertStyleRules: ["html, body { cursor: default !important; }", ...MIRROR_CSS],
    plugins: [canvases.plugin, sprites.plugin],
  });
  const base = Date.now();
  replayer.startLive(base);
  liveClock = { base, perf: performance.now() }; // read after startLive: the replayer's timer started no later
  replayer.on("resize", (d) => {
    viewport = { width: d.width, height: d.height };
    fit();
  });
  const own = replayer;
  replayer.on("custom-event", (ev) => onCustom(own, ev));
}

function fit() {
  const box = stage.getBoundingClientRect();
  scale = Math.min(1, box.width / viewport.width, box.height / viewport.height) || 1;
  frameBox.style.width = `${viewport.width}px`;
  frameBox.style.height = `${viewport.height}px`;
  frameBox.style.transform = `scale(${scale})`;
  const left = Math.max(0, (box.width - viewport.width * scale) / 2);
  frameBox.style.left = `${left}px`;
}
new ResizeObserver(fit).observe(stage);

// rrweb's live replayer applies each event on its timer's next animation frame, once the event's
// time (its timestamp after the start of the live timeline) is due: a scroll or a change reached
// the mirror's document up to a frame late (more while the page was busy). Events are stamped on
// the timer's own clock (monotonic, never ahead of it) and the timer is run as each message
// arrives, so they are applied then, in stream order; what the browser shows still changes at its
// next frame, as before.
let liveClock = null;
function liveTime() {
  return liveClock.base + (performance.now() - liveClock.perf);
}
function applyNow() {
  const timer = replayer && replayer.timer;
  if (!timer || typeof timer.rafCheck !== "function" || timer.raf === null) return; // not started, or cleared
  if (typeof timer.raf === "number") cancelAnimationFrame(timer.raf);
  timer.rafCheck(); // runs every due action; asks for a frame again only if some are not due yet
}

/** One server message through the stream reducer; its effects applied to the replayer in order. */
function step(msg) {
  const out = reduce(stream, msg);
  stream = out.state;
  let added = false;
  for (const fx of out.effects) {
    switch (fx.kind) {
      case "replayer":
        newReplayer();
        break;
      case "add":
        if (!replayer) newReplayer();
        fx.event.timestamp = liveTime();
        replayer.addEvent(proxify(fx.event));
        added = true;
        break;
      case "send":
        conn.send(fx.msg);
        break;
      case "waiting":
        waiting.hidden = !fx.on;
        break;
      default:
        break;
    }
  }
  if (added) queueMicrotask(applyNow); // rrweb's addEvent hands each event to its timer in a microtask: after those
}

function mirrorDoc() {
  return replayer && replayer.iframe && replayer.iframe.contentDocument;
}

// -- input capture -------------------------------------------------------------------------
const isController = () => state && state.controller === cfg.pid;

function pagePoint(ev) {
  const r = frameBox.getBoundingClientRect();
  return { x: (ev.clientX - r.left) / scale, y: (ev.clientY - r.top) / scale };
}

function nodeAt(x, y) {
  const doc = mirrorDoc();
  if (!doc) return { id: undefined, el: null };
  const el = doc.elementFromPoint(x, y);
  const id = el ? replayer.getMirror().getId(el) : -1;
  return { id: id > 0 ? id : undefined, el };
}

let ptrPending = null;
function sendPointer(p) {
  const msg = { t: "ptr", x: p.x, y: p.y, d: drawing && penDown };
  conn.send(msg);
  ink.point({ ...msg, p: cfg.pid }); // my own strokes show at once
}
const POINTER_GAP_MS = 33; // the server relays at most 30 pointer moves a second per person
const DRAW_GAP_MS = 16; // and 60 while drawing
let lastPtrSent = 0;
function flushPointer() {
  if (!ptrPending) return;
  if (performance.now() - lastPtrSent < (drawing && penDown ? DRAW_GAP_MS : POINTER_GAP_MS)) {
    requestAnimationFrame(flushPointer);
    return;
  }
  lastPtrSent = performance.now();
  sendPointer(ptrPending);
  ptrPending = null;
}
catcher.addEventListener("pointermove", (ev) => {
  const first = !ptrPending;
  ptrPending = pagePoint(ev);
  if (first) requestAnimationFrame(flushPointer);
});
catcher.addEventListener("pointerdown", (ev) => {
  if (!drawing) return;
  penDown = true;
  catcher.setPointerCapture(ev.pointerId);
  sendPointer(pagePoint(ev));
});
catcher.addEventListener("pointerup", (ev) => {
  if (!drawing) return;
  penDown = false;
  sendPointer(pagePoint(ev));
});
catcher.addEventListener("pointerleave", () => conn.send({ t: "ptr", hide: true }));

function sendInput(i) {
  if (!isController()) {
    hint();
    return;
  }
  conn.send({ t: "input", i });
}

let hinted = 0;
function hint() {
  if (Date.now() - hinted < 4000) return;
  hinted = Date.now();
  toast(app, role === "leader" ? "You are the tab owner." : "You are watching. Request control to act on the page.", "hint");
}

catcher.addEventListener("click", (ev) => {
  if (drawing) return;
  const p = pagePoint(ev);
  const { id, el } = nodeAt(p.x, p.y);
  if (!isController()) return hint();
  keys.focus({ preventScroll: true });
  const tag = el && el.tagName;
  if (tag === "INPUT" && (el.getAttribute("type") || "").toLowerCase() === "file") {
    toast(app, "Only the tab owner can choose files to upload.");
    return;
  }
  const select = el && el.closest && el.closest("select");
  if (select) {
    openPicker(select, ev);
    return;
  }
  sendInput({ kind: "click", x: p.x, y: p.y, id, detail: ev.detail });
});
catcher.addEventListener("dblclick", (ev) => {
  if (drawing) return;
  const p = pagePoint(ev);
  sendInput({ kind: "dblclick", x: p.x, y: p.y, id: nodeAt(p.x, p.y).id });
});
catcher.addEventListener("contextmenu", (ev) => {
  ev.preventDefault();
  if (drawing) return;
  const p = pagePoint(ev);
  sendInput({ kind: "contextmenu", x: p.x, y: p.y, id: nodeAt(p.x, p.y).id });
});
let wheel = null;
catcher.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  if (!isController()) return hint();
  const p = pagePoint(ev);
  const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? viewport.height : 1;
  if (!wheel) {
    wheel = { kind: "wheel", x: p.x, y: p.y, dx: 0, dy: 0, id: nodeAt(p.x, p.y).id };
    requestAnimationFrame(() => {
      sendInput(wheel);
      wheel = null;
    });
  }
  wheel.dx += ev.deltaX * unit;
  wheel.dy += ev.deltaY * unit;
}, { passive: false });

const SPECIAL_KEYS = new Set(["Backspace", "Delete", "Enter", "Tab", "Escape", "ArrowLeft", "ArrowRight", "ArrowUp",
  "ArrowDown", "Home", "End", "PageUp", "PageDown"]);
keys.addEventListener("keydown", (ev) => {
  if (!isController() || ev.isComposing) return;
  if (SPECIAL_KEYS.has(ev.key) || ((ev.ctrlKey || ev.metaKey) && ev.key.length === 1 && ev.key !== "v")) {
    ev.preventDefault();
    sendInput({ kind: "key", key: ev.key, code: ev.code, ctrl: ev.ctrlKey, shift: ev.shiftKey, alt: ev.altKey, meta: ev.metaKey });
  }
});
keys.addEventListener("input", (ev) => {
  if (ev.isComposing) return;
  const text = keys.value;
  keys.value = "";
  if (text && isController()) sendInput({ kind: "text", text });
});
keys.addEventListener("compositionend", () => {
  const text = keys.value;
  keys.value = "";
  if (text && isController()) sendInput({ kind: "text", text });
});

function openPicker(select, ev) {
  const id = replayer.getMirror().getId(select);
  const old = document.querySelector(".picker");
  if (old) old.remove();
  const options = [...select.options].map((o, index) =>
    h("button", { type: "button", role: "option", "aria-selected": String(o.selected), onclick: () => {
      sendInput({ kind: "select", id, index });
      picker.remove();
    } }, o.textContent));
  const picker = h("div", { class: "picker", role: "listbox" }, ...options);
  picker.style.left = `${ev.clientX}px`;
  picker.style.top = `${ev.clientY}px`;
  document.body.append(picker);
  setTimeout(() => document.addEventListener("click", () => picker.remove(), { once: true }), 0);
}

function nav(action) {
  sendInput({ kind: "nav", action });
}
function onGo(ev) {
  ev.preventDefault();
  const url = navBar.elements.url.value.trim();
  if (url) sendInput({ kind: "nav", action: "go", url: /^https?:\/\//i.test(url) ? url : "https://" + url });
}

// -- others' pointers ----------------------------------------------------------------------
const others = new Map();
function drawPointer(msg) {
  ink.point(msg);
  let el = others.get(msg.p);
  if (msg.hide) {
    if (el) el.remove();
    others.delete(msg.p);
    return;
  }
  if (msg.p === (state && state.leader)) return; // the tab owner's own pointer is in the recording
  if (!el) {
    el = h("div", { class: "ptr" }, h("span", {}));
    pointers.append(el);
    others.set(msg.p, el);
  }
  const who = state && state.participants.find((x) => x.id === msg.p);
  el.style.setProperty("--c", colorFor(msg.p, state ? state.participants : []));
  el.firstChild.textContent = who ? who.name : "";
  el.style.transform = `translate(${msg.x}px, ${msg.y}px)`;
}

// -- controls ------------------------------------------------------------------------------
function onControlButton() {
  if (!state) return;
  const leaderHere = state.participants.some((p) => p.id === state.leader && p.present);
  if (!leaderHere && role !== "leader") conn.send({ t: "claim" });
  else if (isController()) conn.send({ t: "control", a: "release" });
  else if (state.requests.includes(cfg.pid)) conn.send({ t: "control", a: "release" });
  else conn.send({ t: state.policy === "free" ? "control" : "control", a: state.policy === "free" ? "take" : "request" });
}

function leave() {
  conn.send({ t: "leave" });
  setTimeout(() => { location.href = `${cfg.session}/left`; }, 150);
}

function render() {
  if (!state) return;
  const leaderHere = state.participants.some((p) => p.id === state.leader && p.present);
  urlText.textContent = state.title || state.url || "";
  urlText.title = state.url || "";
  let text;
  if (connStatus !== "open") text = connStatus === "ended" ? "Disconnected" : "Reconnecting…";
  else if (!leaderHere) text = "The tab owner is away";
  else if (state.error) text = "The tab owner's page could not be shown";
  else if (!state.streaming) text = "Waiting for the tab owner's page…";
  else if (isController()) {
    text = "You are in control";
    for (const old of app.querySelectorAll(".toast.hint")) old.remove();  // "you are watching" is no longer true
  }
  else {
    const c = state.participants.find((p) => p.id === state.controller);
    text = c ? `${c.name} is in control` : "Live";
  }
  statusText.textContent = text;
  requested = state.requests.includes(cfg.pid);
  controlBtn.hidden = role === "leader" || (state.policy === "none" && leaderHere);
  controlBtn.textContent = !leaderHere ? "Take over the tab" : isController() ? "Release control" : requested ? "Cancel request" : state.policy === "free" ? "Take control" : "Request control";
  navBar.hidden = !isController();
  pageError.hidden = !state.error;
  if (state.error) {
    const e = state.error;
    pageError.replaceChildren(h("div", { class: "card" },
      h("strong", {}, e.title),
      h("p", {}, e.message),
      h("p", { class: "muted" }, [e.url, `code: ${e.code}`].filter(Boolean).join(" · "))));
  }
  stage.classList.toggle("controlling", isController());
  chat.setPeople(state.participants);
  const box = side.querySelector(".people-box");
  box.replaceChildren(participantList(state, cfg.pid, () => []));
  document.title = `${state.title || "Co-browsing"} · Tandem`;
}

// -- the socket ----------------------------------------------------------------------------
function onMessage(msg) {
  switch (msg.t) {
    case "welcome":
      role = msg.role;
      step(msg);
      state = msg.state;
      render();
      break;
    case "state":
      state = msg;
      render();
      break;
    case "reset":
    case "ev":
      step(msg);
      break;
    case "ptr":
      drawPointer(msg);
      break;
    case "role":
      role = msg.role;
      if (msg.role === "leader" && msg.url) location.href = msg.url;
      render();
      break;
    case "notice":
      toast(app, msg.text);
      break;
    case "chat":
      chat.receive(msg);
      break;
    case "error":
      if (!chat.error(msg)) toast(app, msg.message, "bad");
      window.tandemMirror.errors.push(msg.code);
      break;
    case "bye":
      statusText.textContent = msg.message || "Disconnected";
      // branding.on_end_url: the session page sends an ended session's participants there
      if (msg.code === "session_ended" && cfg.branding && cfg.branding.on_end) location.href = cfg.session;
      break;
    default:
      break;
  }
}

const conn = connect({
  url: cfg.ws,
  hello: () => ({ kind: "view", resume: resumePoint(stream) }),
  onMessage,
  onStatus: (s) => {
    connStatus = s;
    render();
  },
});

// For tests and troubleshooting: read-only view of the stream's health and the mirror's document.
window.tandemMirror = { stats, errors: [], doc: mirrorDoc, conn, chat, sprites: sprites.stats };
