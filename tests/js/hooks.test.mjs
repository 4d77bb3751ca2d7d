// Wrapping helpers (viewer/runtime/hooks.js): wrappers keep the native's name and
// length, look native through the disguise, keep constructors' identity, and errors
// leaving them carry the caller's stack rather than the runtime's frames.

import { test } from "node:test";
import assert from "node:assert/strict";

import { makeHooks, wrap } from "../../viewer/runtime/hooks.js";

function setup() {
  const sources = new WeakMap();
  const disguise = (fake, real) => {
    sources.set(fake, Function.prototype.toString.call(real));
    return fake;
  };
  return { h: makeHooks(disguise), sources };
}

test("method(): the wrapper replaces the native, keeps name, length and descriptor flags", () => {
  const { h, sources } = setup();
  class Thing { greet(a, b) { return `${this.n}:${a}${b}`; } }
  const seen = [];
  const native = h.method(Thing.prototype, "greet", (nat) => wrap((self, args) => {
    seen.push(args);
    return h.apply(nat, self, [args[0].toUpperCase(), args[1]]);
  }));
  const t = Object.assign(new Thing(), { n: 1 });
  assert.equal(t.greet("a", "b"), "1:Ab");
  assert.deepEqual(seen, [["a", "b"]]);
  const w = Thing.prototype.greet;
  assert.notEqual(w, native);
  assert.equal(w.name, "greet");
  assert.equal(w.length, 2);
  assert.equal("prototype" in w, false);
  assert.equal(sources.get(w), Function.prototype.toString.call(native));
  assert.equal(Object.getOwnPropertyDescriptor(Thing.prototype, "greet").enumerable, false);
  assert.equal(h.method(Thing.prototype, "missing", () => null), undefined);
});

test("ctor(): arguments mapped; instanceof, prototype.constructor and subclasses keep working", () => {
  const { h } = setup();
  const win = { Box: class Box { constructor(v) { this.v = v; } } };
  const Native = win.Box;
  h.ctor(win, "Box", (a) => [`mapped:${a[0]}`]);
  const b = new win.Box("x");
  assert.equal(b.v, "mapped:x");
  assert.ok(b instanceof win.Box && b instanceof Native);
  assert.equal(win.Box.prototype.constructor, win.Box);
  class Sub extends win.Box {}
  const s = new Sub("y");
  assert.equal(s.v, "mapped:y");
  assert.ok(s instanceof Sub);
  assert.throws(() => win.Box("no new"), TypeError);
});

test("errors leaving a wrapper are re-captured from the caller", () => {
  const { h } = setup();
  const obj = { boom() { throw new TypeError("bad"); } };
  h.method(obj, "boom", (nat) => wrap((self, a) => h.apply(nat, self, a)));
  let stack = "";
  (function callerFrame() {
    try {
      obj.boom();
    } catch (e) {
      stack = e.stack;
    }
  })();
  assert.match(stack, /^TypeError: bad/);
  assert.match(stack, /callerFrame/);
  assert.doesNotMatch(stack.split("\n")[1], /hooks\.js/);
});

test("wrap(body, true): errors become rejections, as for promise-returning natives", async () => {
  const f = wrap(() => { throw new TypeError("nope"); }, true);
  await assert.rejects(f(), TypeError);
});
