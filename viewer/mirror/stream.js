// @ts-check
/**
 * The follower's mirror as a pure reducer: `reduce(state, message) -> {state, effects}`.
 *
 * `message` is a server → client session message (shared/protocol.js, WS_FROM_SERVER). The
 * state says how far the stream has been applied; `effects` say what the view (session.js)
 * must do with rrweb's replayer, in order. Nothing here touches the DOM, the socket or a clock,
 * so every stream rule is tested under node (tests/js/mirror.test.mjs).
 *
 * Stream consistency: frames are numbered; a frame that starts where the last one ended is
 * applied, one already seen is skipped, a gap asks the server to resync. A Meta event starts a
 * new page (or a fresh snapshot): the view builds a new replayer for it, so node ids restart
 * and the old replayer's event log does not grow for the whole session. Events before the
 * first snapshot are useless to a mirror and are dropped.
 */

import { EV } from "../shared/protocol.js";

/**
 * @typedef {{applied: number, frames: number, dups: number, gaps: number, resets: number}} Counters
 * @typedef {{epoch: string | null, lastSeq: number, hasSnapshot: boolean, counters: Counters}} MirrorState
 * @typedef {{type: number, data: any, timestamp?: number}} StreamEvent
 * @typedef {{kind: "replayer"} | {kind: "add", event: StreamEvent} | {kind: "send", msg: {t: string}}
 *   | {kind: "waiting", on: boolean}} Effect
 * @typedef {{state: MirrorState, effects: Effect[]}} Step
 */

/** @returns {MirrorState} */
export function initial() {
  return { epoch: null, lastSeq: 0, hasSnapshot: false, counters: { applied: 0, frames: 0, dups: 0, gaps: 0, resets: 0 } };
}

/** Where a reconnecting mirror resumes, for its hello. */
export function resumePoint(/** @type {MirrorState} */ state) {
  return state.epoch ? { epoch: state.epoch, seq: state.lastSeq } : null;
}

/**
 * @param {MirrorState} state
 * @param {any} message
 * @returns {Step}
 */
export function reduce(state, message) {
  switch (message && message.t) {
    case "welcome": {
      // Another room instance (a restart): its numbering is not ours.
      const lastSeq = state.epoch && state.epoch !== message.epoch ? 0 : state.lastSeq;
      return { state: { ...state, epoch: message.epoch, lastSeq }, effects: [] };
    }
    case "reset":
      return {
        state: { ...state, lastSeq: 0, hasSnapshot: false, counters: { ...state.counters, resets: state.counters.resets + 1 } },
        effects: [{ kind: "replayer" }, { kind: "waiting", on: true }],
      };
    case "ev":
      return frame(state, message);
    default:
      return { state, effects: [] };
  }
}

/** @param {MirrorState} state @param {{s: number, n?: number, e: StreamEvent[]}} msg @returns {Step} */
function frame(state, msg) {
  const events = Array.isArray(msg.e) ? msg.e : [];
  const count = typeof msg.n === "number" ? msg.n : events.length;
  const last = msg.s + count - 1;
  const counters = { ...state.counters, frames: state.counters.frames + 1 };
  if (state.lastSeq && last <= state.lastSeq) {
    return { state: { ...state, counters: { ...counters, dups: counters.dups + 1 } }, effects: [] };
  }
  if (state.lastSeq && msg.s !== state.lastSeq + 1) {
    return { state: { ...state, counters: { ...counters, gaps: counters.gaps + 1 } }, effects: [{ kind: "send", msg: { t: "resync" } }] };
  }
  /** @type {Effect[]} */
  const effects = [];
  let hasSnapshot = state.hasSnapshot;
  let applied = counters.applied;
  for (const ev of events) {
    if (!ev || typeof ev !== "object") continue;
    if (ev.type === EV.Meta && hasSnapshot) effects.push({ kind: "replayer" });
    if (ev.type === EV.Meta || ev.type === EV.FullSnapshot) hasSnapshot = true;
    if (!hasSnapshot) continue;
    effects.push({ kind: "add", event: ev });
    applied += 1;
  }
  effects.push({ kind: "waiting", on: !hasSnapshot });
  return { state: { ...state, lastSeq: last, hasSnapshot, counters: { ...counters, applied } }, effects };
}
