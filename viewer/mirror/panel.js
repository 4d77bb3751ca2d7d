/**
 * The leader panel (BASE/s/{sid}/panel), embedded by the recorder in the tab owner's
 * proxied page. It holds this tab's session socket (kind "tab") and bridges it to the
 * recorder in the parent page by postMessage: DOM events and page info go up to the
 * server, snapshots requests, control input and pointers come down to the page.
 * Only the parent window, on a proxied origin of this Tandem (*.BASE), is listened to.
 */

import "./session.css";
import { connect } from "./conn.js";
import { h, config, participantList, toast } from "./ui.js";
import { msg as message, nameOf, PAGE_TO_PANEL, EV } from "../shared/protocol.js";
import { makeChat } from "./chat.js";

const cfg = config();
const app = document.getElementById("app");
const baseHost = new URL(cfg.base).host;
// The page that embeds us: a proxied origin of this session (LABEL.BASE, label starting with the sid).
const ownOrigin = (origin) => {
  try {
    const host = new URL(origin).host;
    return host.endsWith("." + baseHost) && host.startsWith(cfg.sid + "-");
  } catch (_) {
    return false;
  }
};
// Only the tab owner's top-level page may hold this panel (issue 10 #9): a frame inside the page
// (an ad, a widget, another proxied origin of the session) that embeds the panel itself must not
// become the stream source. Framed one level deep, by the top document, or never connected.
const embeddedByTop = (() => {
  try {
    return window.parent !== window && window.parent === window.top &&
      (!location.ancestorOrigins || location.ancestorOrigins.length === 1);
  } catch (_) {
    return false;
  }
})();
const ancestor = location.ancestorOrigins && location.ancestorOrigins[0];
let parentOrigin = embeddedByTop && ancestor && ownOrigin(ancestor) ? ancestor : null;
let state = null;
let role = null;
let open = false;
let seenRequests = new Set();

function fromParent(ev) {
  if (!embeddedByTop || ev.source !== window.parent || !ownOrigin(ev.origin)) return false;
  parentOrigin = ev.origin;
  if (!conn) start();
  return true;
}

function toPage(msg) {
  if (parentOrigin && window.parent !== window) window.parent.postMessage(message(msg.t, msg), parentOrigin);
}

// The page's messages go to the socket in order. One that holds a full snapshot is sent in a task of
// its own: this panel shares the tab owner's main thread (same site), and taking the snapshot's
// structured copy and writing it as JSON in one task made it the longest the page saw after a join.
const outbox = [];
let draining = false;
let tick = null;
function drain() {
  const m = outbox.shift();
  if (m) conn.send(m);
  if (outbox.length) tick.port2.postMessage(0);
  else draining = false;
}
function relay(m, ownTask = false) {
  if (!ownTask && !outbox.length) {
    conn.send(m);
    return;
  }
  outbox.push(m);
  if (draining) return;
  draining = true;
  if (!tick) {
    tick = new MessageChannel();
    tick.port1.onmessage = drain;
  }
  tick.port2.postMessage(0);
}

window.addEventListener("message", (ev) => {
  if (!fromParent(ev)) return;
  const msg = ev.data;
  switch (nameOf(msg, PAGE_TO_PANEL)) {
    case "ev":
      if (Array.isArray(msg.e)) relay({ t: "ev", e: msg.e }, msg.e.some((e) => e && e.type === EV.FullSnapshot));
      break;
    case "page":
      relay({ t: "page", url: String(msg.url), title: String(msg.title || "") });
      break;
    case "notice":
      relay({ t: "notice", p: msg.p, code: String(msg.code), text: String(msg.text) });
      break;
    case "active":
      relay({ t: "active" });
      break;
    case "idle":
      relay({ t: "idle" });
      break;
    default:
      break;
  }
});

const toggle = h("button", { type: "button", class: "toggle", "aria-expanded": "false", onclick: () => setOpen(!open) });
const body = h("div", { class: "panel-body", hidden: true });
const dyn = h("div", { class: "panel-body" }); // re-rendered on every state; the chat below keeps its focus and draft
dyn.style.padding = "0";
let unread = 0;
const chat = makeChat({
  me: cfg.pid, sid: cfg.sid, send: (m) => (conn ? conn.send(m) : false), isOpen: () => open, title: "Chat",
  onUnread: (n) => { unread = n; toggleText(); },
});
body.append(dyn, chat.el, h("div", { class: "row" }, h("button", { type: "button", class: "quiet", onclick: leave }, "Stop sharing and leave")));
body.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !ev.defaultPrevented) {
    setOpen(false);
    toggle.focus();
  }
});
app.append(h("div", { class: "panel-card" }, toggle, body));

function setOpen(v) {
  open = v;
  body.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  if (open) chat.markRead();
  layout();
}

function toggleText() {
  if (!state) return;
  const watching = state.participants.filter((p) => p.present && p.id !== cfg.pid).length;
  const controller = state.participants.find((p) => p.id === state.controller);
  const asking = state.requests.length;
  toggle.textContent = `Tandem · ${watching} watching` + (controller ? ` · ${controller.name} in control` : "") +
    (asking ? ` · ${asking} asking` : "") + (unread ? ` · ${unread} new message${unread > 1 ? "s" : ""}` : "");
  toggle.classList.toggle("alert", asking > 0 || unread > 0);
}

function layout() {
  const card = app.firstChild;
  // branding.no_bottom_bar: the panel keeps the session going, unseen (the page hides its frame)
  if (cfg.branding && cfg.branding.no_bottom_bar) return toPage({ t: "layout", w: 0, h: 0 });
  requestAnimationFrame(() => toPage({ t: "layout", w: 300, h: Math.ceil(card.getBoundingClientRect().height) + 2 }));
}

function act(label, msg, cls) {
  return h("button", { type: "button", class: cls || "small", onclick: () => conn.send(msg) }, label);
}

function render() {
  if (!state) return;
  // A new request for control opens the panel: the tab owner must notice it.
  const fresh = state.requests.filter((p) => !seenRequests.has(p));
  seenRequests = new Set(state.requests);
  if (fresh.length && !open) setOpen(true);
  const watching = state.participants.filter((p) => p.present && p.id !== cfg.pid).length;
  toggleText();
  chat.setPeople(state.participants);
  const list = participantList(state, cfg.pid, (p) => {
    if (p.id === cfg.pid || !p.present) return [];
    const out = [];
    if (state.requests.includes(p.id)) {
      out.push(act("Grant", { t: "control", a: "grant", p: p.id }, "small primary"), act("Deny", { t: "control", a: "deny", p: p.id }));
    } else if (p.control) {
      out.push(act("Take back", { t: "control", a: "revoke" }, "small primary"));
    } else if (state.policy !== "none") {
      out.push(act("Give control", { t: "control", a: "grant", p: p.id }));
    }
    out.push(act("Make tab owner", { t: "lead", p: p.id }));
    return out;
  });
  const policy = h("label", { class: "policy" }, "Control: ",
    h("select", { onchange: (ev) => conn.send({ t: "policy", control: ev.target.value }) },
      ...[["ask", "on request"], ["free", "anyone may take it"], ["none", "only me"]].map(([v, t]) =>
        h("option", { value: v, selected: state.policy === v }, t))));
  dyn.replaceChildren(
    h("p", { class: "muted" }, "You are sharing this tab. Others see it live; passwords and card numbers stay hidden."),
    list, policy);
  layout();
  toPage({ t: "state", state });
  // The page records only while someone other than the tab owner is here to see it.
  toPage({ t: "watch", on: watching > 0 });
}

function leave() {
  conn.send({ t: "leave" });
  setTimeout(() => toPage({ t: "navigate", url: `${cfg.session}/left` }), 150);
}

function onMessage(msg) {
  switch (msg.t) {
    case "welcome":
      role = msg.role;
      state = msg.state;
      render();
      break;
    case "state":
      state = msg;
      render();
      break;
    case "snapshot":
      toPage({ t: "snapshot" });
      break;
    case "paused":
      toPage({ t: "paused" });
      break;
    case "input":
      toPage({ t: "input", p: msg.p, i: msg.i });
      break;
    case "ptr":
      toPage(msg);
      break;
    case "role":
      role = msg.role;
      if (role !== "leader") toPage({ t: "navigate", url: cfg.session });
      break;
    case "notice":
      toPage({ t: "notice", text: msg.text });
      break;
    case "chat":
      chat.receive(msg);
      layout();
      break;
    case "error":
      if (chat.error(msg)) layout();
      else toast(app, msg.message, "bad");
      break;
    default:
      break;
  }
}

// Connect only inside a page of this session: framed anywhere else (another session's proxied
// page, say) the panel must not become this session's tab and pause the real one.
let conn = null;
function start() {
  conn = connect({
    url: cfg.ws,
    hello: () => ({ kind: "tab" }),
    onMessage,
    onStatus: (s, detail) => {
      if (s === "ended") toggle.textContent = "Tandem · disconnected";
      // branding.on_end_url: the session page sends an ended session's participants there
      if (s === "ended" && detail && detail.code === "session_ended" && cfg.branding && cfg.branding.on_end) {
        toPage({ t: "navigate", url: cfg.session });
      }
    },
  });
  window.tandemPanel.conn = conn;
}
setOpen(false);
window.tandemPanel = { conn, chat, get state() { return state; }, get role() { return role; } };
if (parentOrigin) start();
