// @ts-check
/**
 * Every message Tandem's browser code exchanges, in one place, for both sides of each wire.
 *
 * Three legs:
 *
 *  1. The session WebSocket (control-plane pages ⇄ server; the server side is
 *     `sync/protocol.py`, which documents the same list). JSON text frames keyed by `t`.
 *  2. postMessage between the recorder bootstrap in the tab owner's proxied page and the
 *     leader panel it embeds (an iframe of the control plane). Keyed by `tandem`; the page
 *     only listens to the panel's origin and window, the panel only to its parent on a
 *     proxied origin of its own session.
 *  3. postMessage between the recorder in a document and the recorder in each of its child
 *     frames (`tandem` again): whether to record, so a frame records only while the top does.
 *
 * Where it runs: imported by code injected into proxied pages (viewer/recorder/) and by
 * control-plane code (viewer/mirror/). Nothing here touches the DOM.
 */

// -- rrweb numbering (rrweb's EventType / IncrementalSource) ---------------------------------
export const EV = /* @__PURE__ */ Object.freeze({ DomContentLoaded: 0, Load: 1, FullSnapshot: 2, Incremental: 3, Meta: 4, Custom: 5 });
export const SRC = /* @__PURE__ */ Object.freeze({
  Mutation: 0, MouseMove: 1, MouseInteraction: 2, Scroll: 3, ViewportResize: 4, Input: 5, TouchMove: 6,
  MediaInteraction: 7, StyleSheetRule: 8, CanvasMutation: 9, Font: 10, Selection: 14, StyleDeclaration: 13,
  AdoptedStyleSheet: 15,
});

/** Tags of Tandem's own rrweb Custom events (type 5), recorded in the page and reduced by the mirror. */
export const CUSTOM = /* @__PURE__ */ Object.freeze({
  /** {id, url}: a canvas's current pixels as an image (data: URL), at a bounded rate */
  canvas: "tandem-canvas",
  /** {id, open}: a popover shown or hidden */
  toplayer: "tandem-toplayer",
});

/**
 * @typedef {{type: number, data: any, timestamp: number}} RrwebEvent
 */

// -- 1. Session WebSocket ---------------------------------------------------------------------
/**
 * Client → server (`t` → fields). Mirrors sync/protocol.py.
 * @type {Readonly<Record<string, string>>}
 */
export const WS_FROM_CLIENT = /* @__PURE__ */ Object.freeze({
  hello: "{kind: 'tab'|'view', name?, resume?: {epoch, seq}}",
  ev: "{e: RrwebEvent[]}: the DOM stream, from the leader's source tab",
  page: "{url, title}",
  active: "{}: a leader tab became visible",
  idle: "{}: the source tab is not recording (nobody watches): its old snapshot is stale",
  ptr: "{x, y, d?, hide?}",
  input: "{i: {kind, ...}}",
  control: "{a: request|release|grant|deny|revoke|take, p?}",
  lead: "{p}",
  claim: "{}",
  policy: "{control: ask|free|none}",
  name: "{name}",
  notice: "{p?, code, text}",
  chat: "{text}: a chat message to everyone in the session (at most 1000 characters, rate-limited by the room)",
  resync: "{}",
  ping: "{}",
  leave: "{}",
});

/**
 * Server → client.
 * @type {Readonly<Record<string, string>>}
 */
export const WS_FROM_SERVER = /* @__PURE__ */ Object.freeze({
  welcome: "{you, role, epoch, seq, state}",
  state: "{participants, leader, controller, requests, policy, url, title, streaming, tab, error}",
  reset: "{}: drop the mirror, a snapshot follows",
  ev: "{s, n?, e}: events numbered s … s+n-1",
  ptr: "{p, x, y, d?, hide?}",
  input: "{p, i}",
  snapshot: "{}: to the source tab: send a full snapshot",
  paused: "{}: to a leader tab that is not the stream source",
  role: "{role, url?}",
  notice: "{code, text}",
  chat: "{id, p, name, text}: a chat message (ids count up per room; the last 50 again on every connect)",
  error: "{code, message}",
  bye: "{code, message}",
});

// -- 2. Recorder (page) ⇄ panel (postMessage) -------------------------------------------------
/**
 * Page → panel, each `{tandem: <name>, t: <name>, ...fields}`.
 * @type {Readonly<Record<string, string>>}
 */
export const PAGE_TO_PANEL = /* @__PURE__ */ Object.freeze({
  hello: "{}: the page is listening (for browsers without location.ancestorOrigins)",
  ev: "{e: RrwebEvent[]}",
  page: "{url, title}",
  notice: "{p, code, text}: why a control input was refused",
  active: "{}: the tab became visible",
  idle: "{}: this tab stopped recording (nobody watches)",
});

/**
 * Panel → page.
 * @type {Readonly<Record<string, string>>}
 */
export const PANEL_TO_PAGE = /* @__PURE__ */ Object.freeze({
  snapshot: "{}: this tab is the stream source: send a full snapshot",
  paused: "{}: another tab of the leader is the source",
  watch: "{on: boolean}: whether anyone but the tab owner watches (record only then)",
  input: "{p, i}: control input to perform",
  ptr: "{p, x, y, d?, hide?}: another participant's pointer",
  state: "{state}: the room's state (names and colours of pointers)",
  notice: "{text}",
  layout: "{w, h}: the panel's size",
  navigate: "{url}: this tab is no longer the tab owner's: go there",
});

// -- 3. Recorder in a document ⇄ recorder in its child frames (postMessage) -------------------
/** @type {Readonly<Record<string, string>>} */
export const FRAME_MESSAGES = /* @__PURE__ */ Object.freeze({
  rec: "{on: boolean}: parent → child: record (and take a full snapshot) or stop",
  "rec?": "{}: child → parent: a frame that just started asks whether to record",
});

/**
 * A message for the page ⇄ panel and frame legs.
 * @param {string} name
 * @param {Record<string, unknown>} [fields]
 * @returns {Record<string, unknown>}
 */
export function msg(name, fields) {
  return { ...(fields || {}), t: name, tandem: name };
}

/**
 * The name of a Tandem postMessage, or null for anything else (rrweb's own messages, the page's).
 * @param {unknown} data
 * @param {Readonly<Record<string, string>>} table which leg's names are accepted
 * @returns {string | null}
 */
export function nameOf(data, table) {
  if (!data || typeof data !== "object") return null;
  const name = /** @type {{tandem?: unknown}} */ (data).tandem;
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(table, name) ? name : null;
}
