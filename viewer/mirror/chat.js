/**
 * Chat between the people in a session, for the session page and the tab owner's panel.
 *
 * Messages come from the room (`chat {id, p, name, text}`; sync/room.py's ChatLog): numbered,
 * under the name the sender was admitted with, the last 50 again on every (re)connect, so ids
 * already shown are skipped. Text is only ever put in the page as text (textContent): a link or
 * markup in a message is shown as typed, never followed or parsed. The server enforces the size
 * and rate limits and answers `error {code: "chat_*"}`; that message is shown at the form, and the
 * draft is kept so it can be sent again.
 *
 * Keyboard: the message box is a textarea (Enter sends, Shift+Enter makes a new line, Escape asks
 * the host to close the chat); new messages are announced through the log's aria-live.
 */

import { colorFor } from "../recorder/overlay.js";

export const MAX_CHAT = 1000; // as sync/protocol.py MAX_CHAT: the counter shows it, the server enforces it

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

/**
 * @param {{me: string, sid: string, send: (msg: object) => boolean, onUnread?: (n: number) => void,
 *          onEscape?: () => void, isOpen: () => boolean, label?: string}} opts
 */
export function makeChat(opts) {
  const seenKey = `tandem-chat-read-${opts.sid}`;
  let read = 0; // the highest id counted as read (kept across the panel's page loads, per tab)
  try {
    read = Number(sessionStorage.getItem(seenKey)) || 0;
  } catch (_) {
    /* storage may be off: then the history of a fresh page counts as read */
  }
  let lastId = 0;
  let unread = 0;
  let people = [];
  const shown = new Set();

  const root = el("section", "chat");
  root.setAttribute("aria-label", opts.label || "Chat");
  if (opts.title) root.append(el("h3", "chat-title", opts.title));
  const log = el("ol", "chat-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Chat messages");
  log.tabIndex = 0; // scrollable with the keyboard
  const empty = el("p", "chat-empty muted", "No messages yet. Messages are seen by everyone in this session and are gone when it ends.");
  const form = el("form", "chat-form");
  const box = el("textarea", "chat-input");
  box.rows = 1;
  box.maxLength = MAX_CHAT;
  box.setAttribute("aria-label", "Message to everyone in the session");
  box.placeholder = "Message everyone…";
  box.autocomplete = "off";
  const send = el("button", "small primary", "Send");
  send.type = "submit";
  const note = el("p", "chat-note muted");
  note.setAttribute("aria-live", "polite");
  note.hidden = true;
  form.append(box, send);
  root.append(log, empty, form, note);

  let noteKind = "";
  function say(text, kind) {
    note.textContent = text;
    note.hidden = !text;
    noteKind = text ? kind || "error" : "";
  }

  function submit() {
    const text = box.value.trim();
    if (!text) return;
    if (text.length > MAX_CHAT) return say(`Chat messages are limited to ${MAX_CHAT} characters; this one has ${text.length}.`);
    if (!opts.send({ t: "chat", text })) return say("Not connected right now: your message was not sent. Try again in a moment.");
    pending = text;
    box.value = "";
    say("");
  }
  let pending = null; // the last draft sent: back in the box if the server refuses it

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit();
  });
  box.addEventListener("keydown", (ev) => {
    if (ev.isComposing) return;
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      submit();
    } else if (ev.key === "Escape" && opts.onEscape) {
      ev.preventDefault();
      opts.onEscape();
    }
  });
  box.addEventListener("input", () => {
    const left = MAX_CHAT - box.value.length;
    if (left < 100) say(`${left} characters left`, "count");
    else if (noteKind === "count") say("");
  });

  // Keep the latest message in view while the reader is at the end (new messages, a resize, a rotation).
  let atEnd = true;
  log.addEventListener("scroll", () => { atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 8; });
  if (typeof ResizeObserver === "function") new ResizeObserver(() => { if (atEnd) log.scrollTop = log.scrollHeight; }).observe(log);

  function markRead() {
    if (!opts.isOpen() || document.hidden) return;
    log.scrollTop = log.scrollHeight; // laid out now: the latest message in view
    if (unread) {
      unread = 0;
      if (opts.onUnread) opts.onUnread(0);
    }
    if (lastId > read) {
      read = lastId;
      try {
        sessionStorage.setItem(seenKey, String(read));
      } catch (_) {
        /* not kept: fine */
      }
    }
  }
  document.addEventListener("visibilitychange", markRead);

  function receive(msg) {
    const id = Number(msg.id);
    if (!Number.isInteger(id) || shown.has(id)) return;
    shown.add(id);
    lastId = Math.max(lastId, id);
    const mine = msg.p === opts.me;
    const item = el("li", "chat-msg" + (mine ? " mine" : ""));
    item.dataset.id = String(id);
    const who = el("span", "who", String(msg.name || "") + (mine ? " (you)" : ""));
    item.style.setProperty("--c", colorFor(String(msg.p), people));
    const text = el("span", "text", String(msg.text || ""));
    const time = el("time", "muted", new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    item.append(who, time, text);
    log.append(item);
    while (log.children.length > 200) log.firstChild.remove(); // a long session: the page keeps the latest
    empty.hidden = true;
    if (atEnd || mine) log.scrollTop = log.scrollHeight;
    if (mine) {
      pending = null;
      read = Math.max(read, id);
    } else if (id > read && !(opts.isOpen() && !document.hidden)) {
      unread += 1;
      if (opts.onUnread) opts.onUnread(unread);
    }
    markRead();
  }

  /** A server error: true when it was about chat (shown here). */
  function error(msg) {
    if (!msg || typeof msg.code !== "string" || !msg.code.startsWith("chat_")) return false;
    if (pending && !box.value) box.value = pending;
    pending = null;
    say(String(msg.message || "That message was not sent."));
    return true;
  }

  return {
    el: root,
    receive,
    error,
    markRead,
    focus() {
      box.focus();
    },
    setPeople(list) {
      people = list || [];
    },
    get unread() {
      return unread;
    },
  };
}
