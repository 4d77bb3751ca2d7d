/** Small DOM helpers and the participant list, shared by the session page and the leader panel. */

import { colorFor } from "../recorder/overlay.js";

export { colorFor };

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c.nodeType ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function config() {
  return JSON.parse(document.getElementById("tandem-config").textContent);
}

/**
 * The participants list. `actions(p)` returns buttons for one participant (may be empty).
 */
export function participantList(state, me, actions) {
  const items = state.participants.map((p) => {
    const tags = [];
    if (p.role === "leader") tags.push(h("span", { class: "tag lead" }, "tab owner"));
    if (p.control) tags.push(h("span", { class: "tag ctl" }, "in control"));
    if (state.requests.includes(p.id)) tags.push(h("span", { class: "tag ask" }, "asks for control"));
    if (!p.present) tags.push(h("span", { class: "tag away" }, "away"));
    return h("li", { class: "person" + (p.present ? "" : " away"), "data-pid": p.id },
      h("span", { class: "dot", style: `background:${colorFor(p.id, state.participants)}` }),
      h("span", { class: "name" }, p.name + (p.id === me ? " (you)" : "")),
      ...tags,
      h("span", { class: "acts" }, ...(actions(p) || [])));
  });
  return h("ul", { class: "people", "aria-label": "Participants" }, ...items);
}

export function toast(root, text, kind) {
  const el = h("div", { class: "toast" + (kind ? " " + kind : ""), role: "status" }, text);
  root.append(el);
  setTimeout(() => el.remove(), 5000);
}
