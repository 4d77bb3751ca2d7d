/**
 * The snippet's logic, separate from the page globals so tests can drive it.
 */

export const VISITOR_COOKIE = "tandem_visitor";
export const POLL_MS = 3000; // how often a live session's state is checked for events
export const EVENTS = ["session_started", "viewer_joined", "control_changed", "session_ended"];
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
  let last = null; // last state seen: {session_id, state, agents, control}
  let timer = null;

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
    const prev = last;
    last = s;
    if (!s) return;
    if (s.state === "live" && prev && prev.session_id === s.session_id) {
      if (s.agents > prev.agents) emit("viewer_joined", { session_id: s.session_id, agents: s.agents });
      if (JSON.stringify(s.control) !== JSON.stringify(prev.control)) emit("control_changed", { session_id: s.session_id, control: s.control });
    }
    if (s.state === "ended" && (!prev || prev.state !== "ended")) {
      emit("session_ended", { session_id: s.session_id });
      stop();
    }
  }

  async function poll() {
    const v = visitor();
    if (!v) return stop();
    try {
      const r = await call(`/snippet/v1/visitors/${v.id}/state`, { visitor: v });
      observe(r.session);
      if (!r.session) stop();
    } catch (_) { /* transient: next tick */ }
  }

  function stop() { if (timer !== null) { win.clearInterval(timer); timer = null; } }
  function start() { if (timer === null) timer = win.setInterval(poll, POLL_MS); }

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
    run(name, args).then((r) => { done(r); if (name !== "endSession") start(); },
      (e) => done({ error: { code: (e && e.code) || "error", message: (e && e.message) || String(e) } }));
  }

  /** On load: if this visitor has a live session (e.g. on the proxied page), keep watching it. */
  function resume() {
    if (visitor()) { poll(); start(); }
  }

  return { command, resume, observe, inSession };
}
