// The mirror's stream reducer (viewer/mirror/stream.js): pure, so every rule is checked here
// without a browser. Each test feeds server messages and reads the state and the effects.

import { test } from "node:test";
import assert from "node:assert/strict";

import { initial, reduce, resumePoint } from "../../viewer/mirror/stream.js";
import { makeProxify } from "../../viewer/mirror/urls.js";
import { EV, WS_FROM_SERVER, PAGE_TO_PANEL, PANEL_TO_PAGE, msg, nameOf } from "../../viewer/shared/protocol.js";

const meta = { type: EV.Meta, data: { href: "http://x/", width: 800, height: 600 } };
const full = { type: EV.FullSnapshot, data: { node: {}, initialOffset: { top: 0, left: 0 } } };
const inc = (n) => ({ type: EV.Incremental, data: { source: 0, n } });

/** Feed messages in order; returns the final state and every effect, flattened. */
function run(messages, state = initial()) {
  const effects = [];
  for (const m of messages) {
    const out = reduce(state, m);
    state = out.state;
    effects.push(...out.effects);
  }
  return { state, effects };
}
const kinds = (effects) => effects.map((e) => e.kind);
const added = (effects) => effects.filter((e) => e.kind === "add").map((e) => e.event);

test("a snapshot frame is applied and the mirror stops waiting", () => {
  const { state, effects } = run([{ t: "welcome", epoch: "e1" }, { t: "ev", s: 1, e: [meta, full] }]);
  assert.deepEqual(added(effects), [meta, full]);
  assert.deepEqual(effects.at(-1), { kind: "waiting", on: false });
  assert.equal(state.lastSeq, 2);
  assert.equal(state.counters.applied, 2);
  assert.deepEqual(resumePoint(state), { epoch: "e1", seq: 2 });
});

test("events before the first snapshot are dropped: a mirror cannot build on them", () => {
  const { state, effects } = run([{ t: "ev", s: 1, e: [inc(1), inc(2)] }]);
  assert.deepEqual(added(effects), []);
  assert.deepEqual(effects.at(-1), { kind: "waiting", on: true });
  assert.equal(state.lastSeq, 2);
});

test("a frame already seen is skipped, wholly or as a merged range", () => {
  const start = run([{ t: "ev", s: 1, e: [meta, full, inc(3)] }]).state;
  for (const dup of [{ t: "ev", s: 3, e: [inc(3)] }, { t: "ev", s: 1, n: 3, e: [inc(3)] }]) {
    const { state, effects } = run([dup], start);
    assert.deepEqual(effects, []);
    assert.equal(state.counters.dups, 1);
    assert.equal(state.lastSeq, 3);
  }
});

test("a gap asks the server to resync and applies nothing", () => {
  const start = run([{ t: "ev", s: 1, e: [meta, full] }]).state;
  const { state, effects } = run([{ t: "ev", s: 5, e: [inc(5)] }], start);
  assert.deepEqual(effects, [{ kind: "send", msg: { t: "resync" } }]);
  assert.equal(state.counters.gaps, 1);
  assert.equal(state.lastSeq, 2);
});

test("a merged ephemeral frame (n > events) moves the sequence by n", () => {
  const start = run([{ t: "ev", s: 1, e: [meta, full] }]).state;
  const { state } = run([{ t: "ev", s: 3, n: 4, e: [inc(6)] }, { t: "ev", s: 7, e: [inc(7)] }], start);
  assert.equal(state.lastSeq, 7);
  assert.equal(state.counters.gaps, 0);
});

test("a new page (Meta after a snapshot) starts a new replayer before its events", () => {
  const { effects } = run([{ t: "ev", s: 1, e: [meta, full, inc(3)] }, { t: "ev", s: 4, e: [meta, full] }]);
  assert.deepEqual(kinds(effects), ["add", "add", "add", "waiting", "replayer", "add", "add", "waiting"]);
});

test("reset drops the mirror, numbering starts over, the next snapshot is applied", () => {
  const start = run([{ t: "ev", s: 1, e: [meta, full] }]).state;
  const { state, effects } = run([{ t: "reset" }, { t: "ev", s: 1, e: [meta, full] }], start);
  assert.deepEqual(kinds(effects), ["replayer", "waiting", "add", "add", "waiting"]);
  assert.equal(state.counters.resets, 1);
  assert.equal(state.lastSeq, 2);
});

test("a welcome from another room instance (restart) forgets the old numbering; the same one keeps it", () => {
  const start = run([{ t: "welcome", epoch: "e1" }, { t: "ev", s: 1, e: [meta, full] }]).state;
  assert.equal(run([{ t: "welcome", epoch: "e1" }], start).state.lastSeq, 2);
  const other = run([{ t: "welcome", epoch: "e2" }], start).state;
  assert.equal(other.lastSeq, 0);
  assert.deepEqual(resumePoint(other), { epoch: "e2", seq: 0 });
});

test("the reducer never changes the state it is given", () => {
  const start = run([{ t: "ev", s: 1, e: [meta, full] }]).state;
  const frozen = JSON.stringify(start);
  run([{ t: "ev", s: 3, e: [inc(3)] }, { t: "reset" }, { t: "welcome", epoch: "x" }, { t: "ev", s: 9, e: [] }], start);
  assert.equal(JSON.stringify(start), frozen);
});

test("messages the stream does not own change nothing", () => {
  const start = initial();
  for (const t of ["state", "ptr", "role", "notice", "error", "bye", undefined]) {
    const out = reduce(start, { t });
    assert.equal(out.state, start);
    assert.deepEqual(out.effects, []);
  }
});

test("protocol: every server message the mirror reduces is declared; postMessage names round-trip", () => {
  for (const t of ["welcome", "reset", "ev"]) assert.ok(t in WS_FROM_SERVER, t);
  for (const [name, table] of [["ev", PAGE_TO_PANEL], ["idle", PAGE_TO_PANEL], ["watch", PANEL_TO_PAGE]]) {
    assert.equal(nameOf(msg(name, { x: 1 }), table), name);
  }
  assert.equal(nameOf({ tandem: "toString" }, PAGE_TO_PANEL), null);
  assert.equal(nameOf({ type: "rrweb" }, PAGE_TO_PANEL), null);
  assert.equal(nameOf({ tandem: "watch" }, PAGE_TO_PANEL), null); // a panel → page name is not a page → panel one
});

test("proxify: resources go through the proxy; what could only try to run in the mirror is dropped", () => {
  const proxify = makeProxify({ scheme: "http", sid: "abcdefgh2345", baseDomain: "tandem.localhost:8080" });
  const el = (tagName, attributes) => ({ type: 2, tagName, attributes, childNodes: [] });
  const snap = { type: EV.FullSnapshot, data: { node: { type: 0, childNodes: [
    el("meta", { "http-equiv": "Refresh", content: "0;url=/elsewhere" }),
    el("img", { src: "https://cdn.example/a.png", onerror: "alert(1)", OnLoad: "x()" }),
    el("a", { href: " javascript:alert(1)", class: "c" }),
    el("input", { autofocus: "", value: "v" }),
  ] } } };
  const out = proxify(snap).data.node.childNodes.map((n) => n.attributes);
  assert.deepEqual(out, [
    { "http-equiv": "Refresh" },
    { src: "http://abcdefgh2345-s-cdn-example.tandem.localhost:8080/a.png" },
    { href: "#", class: "c" },
    { value: "v" },
  ]);
  // attribute changes later in the stream too
  const mutation = { type: EV.Incremental, data: { source: 0, adds: [], removes: [], texts: [],
    attributes: [{ id: 5, attributes: { onclick: "steal()", href: "javascript:void 0", title: "t" } }] } };
  assert.deepEqual(proxify(mutation).data.attributes[0].attributes, { href: "#", title: "t" });
});

test("proxify: crossorigin is dropped (the mirror's CORS request would carry no credential), but on a preload", () => {
  const proxify = makeProxify({ scheme: "http", sid: "abcdefgh2345", baseDomain: "tandem.localhost:8080" });
  const el = (tagName, attributes) => ({ type: 2, tagName, attributes, childNodes: [] });
  const snap = { type: EV.FullSnapshot, data: { node: { type: 0, childNodes: [
    el("link", { rel: "stylesheet", crossorigin: "anonymous", href: "https://cdn.example/a.css" }),
    el("img", { crossorigin: "", src: "https://cdn.example/a.png" }),
    el("video", { crossorigin: "use-credentials", src: "https://cdn.example/a.mp4" }),
    el("link", { rel: "preload", as: "font", crossorigin: "", href: "https://cdn.example/f.woff2" }),
    el("link", { rel: "modulepreload", crossorigin: "anonymous", href: "https://cdn.example/m.js" }),
  ] } } };
  const out = proxify(snap).data.node.childNodes.map((n) => n.attributes);
  const P = "http://abcdefgh2345-s-cdn-example.tandem.localhost:8080";
  assert.deepEqual(out, [
    { rel: "stylesheet", href: `${P}/a.css` },
    { src: `${P}/a.png` },
    { src: `${P}/a.mp4` },
    { rel: "preload", as: "font", crossorigin: "", href: `${P}/f.woff2` },
    { rel: "modulepreload", crossorigin: "anonymous", href: `${P}/m.js` },
  ]);
  const mutation = { type: EV.Incremental, data: { source: 0, adds: [], removes: [], texts: [],
    attributes: [{ id: 7, attributes: { crossorigin: "anonymous", title: "t" } }] } };
  assert.deepEqual(proxify(mutation).data.attributes[0].attributes, { title: "t" });
});

test("proxify: prefetch and prerender hints lose their href (the mirror fetches nothing for a next page)", () => {
  const proxify = makeProxify({ scheme: "http", sid: "abcdefgh2345", baseDomain: "tandem.localhost:8080" });
  const el = (tagName, attributes) => ({ type: 2, tagName, attributes, childNodes: [] });
  const snap = { type: EV.FullSnapshot, data: { node: { type: 0, childNodes: [
    el("link", { rel: "prefetch", href: "https://cdn.example/next.css" }),
    el("link", { rel: "Prerender", href: "https://shop.example/next" }),
    el("link", { rel: "stylesheet", href: "https://cdn.example/a.css" }),
    el("a", { rel: "prefetch", href: "https://shop.example/x" }),
  ] } } };
  const out = proxify(snap).data.node.childNodes.map((n) => n.attributes);
  assert.deepEqual(out, [
    { rel: "prefetch" },
    { rel: "Prerender" },
    { rel: "stylesheet", href: "http://abcdefgh2345-s-cdn-example.tandem.localhost:8080/a.css" },
    { rel: "prefetch", href: "http://abcdefgh2345-s-shop-example.tandem.localhost:8080/x" },
  ]);
});

test("proxify: a relative background or poster attribute resolves against the tab owner's page, not the session page", () => {
  const proxify = makeProxify({ scheme: "http", sid: "abcdefgh2345", baseDomain: "tandem.localhost:8080" });
  proxify({ type: EV.Meta, data: { href: "https://shop.example/dir/page.html#top", width: 800, height: 600 } });
  const el = (tagName, attributes) => ({ type: 2, tagName, attributes, childNodes: [] });
  const snap = { type: EV.FullSnapshot, data: { node: { type: 0, childNodes: [
    el("body", { background: "images/bg.jpg" }),
    el("td", { background: "https://cdn.example/t.png" }),
    el("div", { background: "data:image/png;base64,AAAA" }),
    el("video", { poster: "p.jpg" }),
  ] } } };
  const P = "http://abcdefgh2345-s-shop-example.tandem.localhost:8080";
  assert.deepEqual(proxify(snap).data.node.childNodes.map((n) => n.attributes), [
    { background: `${P}/dir/images/bg.jpg` },
    { background: "http://abcdefgh2345-s-cdn-example.tandem.localhost:8080/t.png" },
    { background: "data:image/png;base64,AAAA" },
    { poster: `${P}/dir/p.jpg` },
  ]);
  const mutation = { type: EV.Incremental, data: { source: 0, adds: [], removes: [], texts: [],
    attributes: [{ id: 3, attributes: { background: "../up.gif" } }] } };
  assert.deepEqual(proxify(mutation).data.attributes[0].attributes, { background: `${P}/up.gif` });
});
