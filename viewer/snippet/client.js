/**
 * The snippet's logic, separate from the page globals so tests can drive it.
 *
 * Events are pushed by the server (Server-Sent Events on /snippet/v1/visitors/{id}/events, see
 * viewer/snippet/push.py), read with fetch (it can send the visitor's secret in a header, which
 * EventSource cannot) and parsed by eventsource-parser. Every event has an id; the last one is
 * kept in sessionStorage, so a reconnect (after a dropped connection, with a growing backoff) or
 * the next page of the session resumes after it with Last-Event-ID and misses nothing.
 */

import { createParser } from "eventsource-parser";

export const VISITOR_COOKIE = "tandem_visitor";
export const EVENTS = ["session_started", "viewer_joined", "control_changed", "session_ended"];
export const BACKOFF_MIN_MS = 500; // first wait before reconnecting a dropped event stream ...
export const BACKOFF_MAX_MS = 15000; // ... doubling up to this (with jitter), back to the minimum once events flow
const LAST_ID_KEY = "tandem_events_last"; // sessionStorage: {visitor, id} of the last event heard
const VISITOR_DAYS = 30; // the site's cookie; Tandem purges visitors after the retention period anyway

export function parseVisitor(cookieString) {
  for (const part of String(cookieString || "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== VISITOR_COOKIE) continue;
    const [id, secret] = part.slice(eq + 1).trim().split(".");
    if (id && secret) return { id, secret };
  }
  return null;
}

export function createClient(win, base) {
  const doc = win.document;
  const baseHost = new URL(base).hostname;
  const inSession = win.location.hostname.endsWith("." + baseHost);
  const listeners = new Map();
  let last = null; // the session this page knows of: {session_id, state}
  let streaming = false; // the event stream is open or reconnecting
  let aborter = null;
  const ended = new Set(); // session_ended is said once per session, whoever noticed first

  const emit = (name, detail) => {
    for (const fn of listeners.get(name) || []) {
      try { fn(detail); } catch (e) { win.setTimeout(() => { throw e; }); }
    }
  };

  async function call(path, { method = "GET", body, visitor } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (visitor) headers["X-Tandem-Visitor"] = `${visitor.id}.${visitor.secret}`;
    const resp = await win.fetch(base + path, {
      method, headers, credentials: "omit", mode: "cors",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await resp.json(); } catch (_) { data = null; }
    if (!resp.ok) {
      const err = (data && data.error) || { code: "http_" + resp.status, message: "Tandem answered " + resp.status };
      throw err;
    }
    return data;
  }

  const visitor = () => parseVisitor(doc.cookie);

  async function ensureVisitor() {
    const v = visitor();
    if (v) return v;
    if (inSession) throw { code: "no_visitor", message: "This page is in a session that was not started from the snippet." };
    const r = await call("/snippet/v1/visitors", { method: "POST", body: {} });
    const secure = win.location.protocol === "https:" ? "; secure" : "";
    doc.cookie = `${VISITOR_COOKIE}=${r.visitor_id}.${r.secret}; path=/; max-age=${VISITOR_DAYS * 86400}; samesite=lax${secure}`;
    return { id: r.visitor_id, secret: r.secret };
  }

  function observe(s) {
    last = s;
    if (s && s.state === "ended" && !ended.has(s.session_id)) {
      ended.add(s.session_id);
      emit("session_ended", { session_id: s.session_id });
      stop();
    }
  }

  const store = {
    get(v) {
      try {
        const kept = JSON.parse(win.sessionStorage.getItem(LAST_ID_KEY) || "null");
        return kept && kept.visitor === v.id && typeof kept.id === "string" ? kept.id : null;
      } catch (_) { return null; }
    },
    set(v, id) {
      try { win.sessionStorage.setItem(LAST_ID_KEY, JSON.stringify({ visitor: v.id, id })); } catch (_) { /* kept in memory only */ }
    },
  };
  let lastId = null;

  function onEvent(v, ev) {
    if (ev.id) {
      lastId = ev.id;
      store.set(v, ev.id);
    }
    let data = {};
    try { data = JSON.parse(ev.data || "{}"); } catch (_) { return; }
    if (ev.event === "ready") last = { session_id: data.session_id, state: data.state };
    else if (ev.event === "session_ended") observe({ session_id: data.session_id, state: "ended" });
    else if (ev.event === "viewer_joined" || ev.event === "control_changed") emit(ev.event, data);
  }

  /** One connection of the event stream; resolves when it ends. Throws a {code} that means: stop for good. */
  async function streamOnce(v, onFlow) {
    aborter = new AbortController();
    const headers = { "X-Tandem-Visitor": `${v.id}.${v.secret}` };
    const from = lastId || store.get(v);
    if (from) headers["Last-Event-ID"] = from;
    const resp = await win.fetch(`${base}/snippet/v1/visitors/${v.id}/events`, {
      headers, credentials: "omit", mode: "cors", cache: "no-store", signal: aborter.signal,
    });
    if (resp.status === 401 || resp.status === 409) throw { code: "no_session" }; // nothing to follow
    if (!resp.ok || !resp.body) throw new Error("event stream answered " + resp.status);
    const parser = createParser({ onEvent: (ev) => { onFlow(); onEvent(v, ev); } });
    const reader = resp.body.pipeThrough(new win.TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done || !streaming) break;
      parser.feed(value);
    }
  }

  async function listen() {
    if (streaming) return;
    streaming = true;
    let backoff = BACKOFF_MIN_MS;
    while (streaming) {
      const v = visitor();
      if (!v) break;
      try {
        await streamOnce(v, () => { backoff = BACKOFF_MIN_MS; });
      } catch (e) {
        if (e && e.code === "no_session") break;
      }
      if (!streaming) break;
      await new Promise((r) => win.setTimeout(r, backoff * (0.8 + Math.random() * 0.4)));
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    }
    streaming = false;
  }

  function stop() {
    streaming = false;
    if (aborter) aborter.abort();
  }
  const start = () => { listen(); };

  async function run(name, args) {
    switch (name) {
      case "startSession": {
        if (inSession) throw { code: "in_session", message: "Already in a co-browsing session." };
        const opts = args[0] || {};
        const v = await ensureVisitor();
        const r = await call("/snippet/v1/sessions", {
          method: "POST", visitor: v,
          body: { visitor_id: v.id, url: win.location.href, cookies: doc.cookie, name: String(opts.name || "") },
        });
        emit("session_started", { session_id: r.session_id });
        if (opts.navigate !== false) win.setTimeout(() => win.location.assign(r.leader_url), 0);
        return r;
      }
      case "getWatchLink": {
        const v = await ensureVisitor();
        return { url: `${base}/console/watch/${v.id}` };
      }
      case "getPin": {
        const v = await ensureVisitor();
        return call(`/snippet/v1/visitors/${v.id}/pin`, { method: "POST", visitor: v, body: {} });
      }
      case "endSession": {
        const v = visitor();
        if (!v) throw { code: "no_visitor", message: "No session to end." };
        const r = await call(`/snippet/v1/visitors/${v.id}/end`, { method: "POST", visitor: v, body: {} });
        observe({ ...(last || {}), session_id: r.session_id, state: "ended" });
        return r;
      }
      default:
        throw { code: "unknown_command", message: `Unknown Tandem command: ${name}` };
    }
  }

  function command(name, ...args) {
    if (name === "on") {
      const [event, fn] = args;
      if (EVENTS.includes(event) && typeof fn === "function") {
        if (!listeners.has(event)) listeners.set(event, []);
        listeners.get(event).push(fn);
      }
      return;
    }
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    const done = (result) => { if (cb) cb(result); };
    // (a start that moves the tab into the session listens there: this page is going away)
    const leaving = name === "startSession" && !(args[0] && args[0].navigate === false);
    run(name, args).then((r) => { done(r); if (name !== "endSession" && !leaving) start(); },
      (e) => done({ error: { code: (e && e.code) || "error", message: (e && e.message) || String(e) } }));
  }

  /** On load: if this visitor has a live session (e.g. on the proxied page), keep watching it. */
  function resume() {
    if (visitor()) start();
  }

  return { command, resume, observe, inSession, stop, get streaming() { return streaming; } };
}
