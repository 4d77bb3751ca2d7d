/**
 * Tandem's own layer on the leader's page: the session panel (an iframe from the
 * control plane) and the other participants' pointers. It lives in a closed shadow
 * root under <tandem-panel>, appended to <html> (outside <body>, which apps re-render),
 * put back if the page removes it, and blocked from recording.
 */

const STYLE = `
:host{all:initial}
.layer{position:fixed;inset:0;pointer-events:none;z-index:2147483646;overflow:hidden}
.ptr{position:absolute;left:0;top:0;transition:transform 60ms linear;will-change:transform}
.ptr svg{display:block;filter:drop-shadow(0 1px 1px rgba(0,0,0,.35))}
.ptr span{position:absolute;left:14px;top:16px;font:600 11px/1.4 system-ui,sans-serif;color:#fff;padding:1px 6px;border-radius:8px;white-space:nowrap}
iframe{position:fixed;right:16px;bottom:16px;border:0;border-radius:14px;box-shadow:0 6px 24px rgba(0,0,0,.25);
  z-index:2147483647;background:transparent;color-scheme:normal;width:300px;height:48px;max-height:calc(100vh - 32px)}
.notice{position:fixed;left:50%;top:16px;transform:translateX(-50%);z-index:2147483647;background:#1d2330;color:#fff;
  font:14px/1.4 system-ui,sans-serif;padding:8px 14px;border-radius:10px;box-shadow:0 4px 16px rgba(0,0,0,.3)}
`;

import { makeInk } from "./ink.js";

export const COLORS = ["#e8590c", "#2b8a3e", "#1971c2", "#c2255c", "#6741d9", "#0c8599", "#a61e4d", "#5c940d"];

export function colorFor(pid, participants) {
  const ids = (participants || []).map((p) => p.id);
  const at = ids.indexOf(pid);
  let h = 0;
  for (const c of pid) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return COLORS[(at >= 0 ? at : h) % COLORS.length];
}

export function makeOverlay(doc, panelUrl) {
  const host = doc.createElement("tandem-panel");
  host.setAttribute("style", "all:initial;position:fixed;top:0;left:0;width:0;height:0;z-index:2147483647");
  const root = host.attachShadow({ mode: "closed" });
  const style = doc.createElement("style");
  style.textContent = STYLE;
  const layer = doc.createElement("div");
  layer.className = "layer";
  const frame = doc.createElement("iframe");
  frame.src = panelUrl;
  frame.title = "Tandem co-browsing panel";
  root.append(style, layer, frame);
  const mount = () => {
    if (!host.isConnected && doc.documentElement) doc.documentElement.appendChild(host);
  };
  mount();
  let removed = false;
  new MutationObserver(() => {
    if (!removed) mount();
  }).observe(doc.documentElement, { childList: true });

  const pointers = new Map();
  let state = null;
  const ink = makeInk(doc, layer, (pid) => colorFor(pid, state && state.participants));

  function pointer(msg) {
    ink.point(msg);
    let p = pointers.get(msg.p);
    if (msg.hide) {
      if (p) p.el.remove();
      pointers.delete(msg.p);
      return;
    }
    if (!p) {
      const el = doc.createElement("div");
      el.className = "ptr";
      el.innerHTML = '<svg width="18" height="22" viewBox="0 0 18 22"><path d="M1 1l15 11-7 1 4 8-3 1-4-8-5 5z" stroke="#fff" stroke-width="1.5"/></svg><span></span>';
      layer.append(el);
      p = { el };
      pointers.set(msg.p, p);
    }
    const who = state && state.participants.find((x) => x.id === msg.p);
    const color = colorFor(msg.p, state && state.participants);
    p.el.querySelector("path").setAttribute("fill", color);
    const label = p.el.querySelector("span");
    label.textContent = who ? who.name : "";
    label.style.background = color;
    p.el.style.transform = `translate(${msg.x}px, ${msg.y}px)`;
  }

  let noticeTimer = 0;
  function notice(text) {
    let el = root.querySelector(".notice");
    if (!el) {
      el = doc.createElement("div");
      el.className = "notice";
      el.setAttribute("role", "status");
      root.append(el);
    }
    el.textContent = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => el.remove(), 4000);
  }

  return {
    frame,
    pointer,
    notice,
    setState(s) {
      state = s;
      for (const pid of [...pointers.keys()]) {
        const still = s.participants.find((x) => x.id === pid && x.present);
        if (!still) pointer({ p: pid, hide: true });
      }
    },
    layout(w, h) {
      frame.style.display = w > 0 && h > 0 ? "" : "none"; // branding.no_bottom_bar: the panel runs, unseen
      frame.style.width = `${Math.max(120, Math.min(480, w))}px`;
      frame.style.height = `${Math.max(40, Math.min(800, h))}px`;
    },
    remove() {
      removed = true;
      host.remove();
    },
  };
}
