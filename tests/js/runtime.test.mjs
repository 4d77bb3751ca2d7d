// The runtime bundle, built in memory with the options of viewer/build.mjs and run
// in a fresh V8 context that stands in for a page: a Document with a native-looking
// cookie accessor, a synchronous XMLHttpRequest answered by a fake cookie endpoint.

import { test } from "node:test";
import assert from "node:assert/strict";
import vm from "node:vm";
import * as esbuild from "esbuild";

import { runtimeOptions as options } from "../../viewer/build.mjs";

const built = await esbuild.build({ ...options, write: false, outfile: "runtime.js" });
const BUNDLE = built.outputFiles[0].text;

const ORIGIN = "http://abcdefgh2345-s-shop-example.tandem.localhost:8080";

const FAKE_BROWSER = `(() => {
  // Stand-ins for the native cookie accessor: real natives, so their source text is "[native code]".
  const nativeGet = Object.getOwnPropertyDescriptor(Map.prototype, "size").get;
  const nativeSet = Object.getOwnPropertyDescriptor(Object.prototype, "__proto__").set;
  class Document {}
  Object.defineProperty(Document.prototype, "cookie", { get: nativeGet, set: nativeSet, enumerable: true, configurable: true });
  const views = new WeakMap();
  Object.defineProperty(Document.prototype, "defaultView", {
    get() {
      if (!(this instanceof Document)) throw new TypeError("Illegal invocation");
      return views.has(this) ? views.get(this) : null;
    },
    enumerable: true,
    configurable: true,
  });
  class XMLHttpRequest {
    open(method, url, async) { this.request = { method, url, async }; }
    send(body) { const r = host.exchange({ ...this.request, body }); this.s = r.status; this.t = r.body; }
    get status() { return this.s ?? 0; }
    get responseText() { return this.t ?? ""; }
  }
  if (host.ttl !== undefined) {
    // a server that says how long a read stays (proxy/reserved.py), and a page with a microtask queue
    XMLHttpRequest.prototype.getResponseHeader = function (name) {
      return name.toLowerCase() === "x-tandem-cookie-ttl" && this.s === 200 ? String(host.ttl) : null;
    };
    globalThis.queueMicrotask = host.queueMicrotask;
    globalThis.performance = { now: host.now };
  }
  globalThis.Document = Document;
  globalThis.XMLHttpRequest = XMLHttpRequest;
  globalThis.document = new Document();
  views.set(document, globalThis);
  globalThis.location = { origin: "${ORIGIN}", pathname: "/shop/a b", protocol: "http:" };
})();`;

/** A fresh page with the runtime installed; `server.mode` = "ok" | "error" | "throw". */
function makePage({ install = true, ttl } = {}) {
  const server = { requests: [], jar: new Map(), mode: "ok" };
  server.exchange = (req) => {
    server.requests.push(req);
    if (server.mode === "throw") throw new Error("network down");
    if (server.mode === "error") return { status: 500, body: "boom" };
    if (req.method === "GET") {
      return { status: 200, body: [...server.jar].map(([k, v]) => `${k}=${v}`).join("; ") };
    }
    const [pair] = String(req.body).split(";");
    const eq = pair.indexOf("=");
    server.jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    return { status: 204, body: "" };
  };
  const host = { exchange: (req) => server.exchange(req), ttl, queueMicrotask, now: () => performance.now() };
  const context = vm.createContext({ host });
  vm.runInContext(FAKE_BROWSER, context);
  const run = (code) => vm.runInContext(code, context);
  if (install) run(BUNDLE);
  return { server, run, context };
}

test("reads and writes go to the cookie endpoint, synchronously, every time", () => {
  const { server, run } = makePage();
  assert.equal(run("document.cookie"), "");
  run('document.cookie = "a=1; path=/"');
  run("document.cookie = 'b=2'");
  assert.equal(run("document.cookie"), "a=1; b=2");
  assert.equal(run("document.cookie"), "a=1; b=2");
  const url = `${ORIGIN}/__tandem/cookies?path=%2Fshop%2Fa%20b`;
  assert.deepEqual(
    server.requests.map((r) => ({ ...r })),
    [
      { method: "GET", url, async: false, body: null },
      { method: "POST", url, async: false, body: "a=1; path=/" },
      { method: "POST", url, async: false, body: "b=2" },
      { method: "GET", url, async: false, body: null },
      { method: "GET", url, async: false, body: null },
    ],
  );
});

test("the value assigned is converted like the native setter does", () => {
  const { server, run } = makePage();
  run("document.cookie = { toString() { return 'c=3' } }");
  assert.equal(server.requests.at(-1).body, "c=3");
  assert.throws(() => run("document.cookie = Symbol('x')"), (err) => err.name === "TypeError");
});

test("errors never reach the page", () => {
  const { server, run } = makePage();
  for (const mode of ["error", "throw"]) {
    server.mode = mode;
    assert.equal(run("document.cookie"), "", mode);
    assert.equal(run("document.cookie = 'a=1'; 'done'"), "done", mode);
  }
});

test("a document without a browsing context has no cookies; a non-document is refused", () => {
  const { server, run } = makePage();
  assert.equal(run("new Document().cookie"), "");
  run("new Document().cookie = 'x=1'");
  assert.equal(server.requests.length, 0);
  assert.throws(
    () => run('Object.getOwnPropertyDescriptor(Document.prototype, "cookie").get.call({})'),
    (err) => err.name === "TypeError",
  );
});

test("wrappers look native", () => {
  const { run } = makePage({ install: false });
  const before = run(`[
    Function.prototype.toString.call(Object.getOwnPropertyDescriptor(Document.prototype, "cookie").get),
    Function.prototype.toString.call(Object.getOwnPropertyDescriptor(Document.prototype, "cookie").set),
    Function.prototype.toString.call(Function.prototype.toString),
  ]`);
  assert.match(before[0], /^function get size\(\) \{ \[native code\] \}$/);
  assert.equal(before[2], "function toString() { [native code] }");

  const page = makePage();
  const after = page.run(`
    const d = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
    const t = Function.prototype.toString;
    [t.call(d.get), t.call(d.set), t.call(t), String(t), t.toString(), d.get + "", d.enumerable, d.configurable,
     d.get.name, d.set.name, d.get.length, d.set.length, "prototype" in d.get, "prototype" in t, t.name, t.length,
     Object.getOwnPropertyDescriptor(Function.prototype, "toString").enumerable]`);
  assert.deepEqual(
    [...after],
    [before[0], before[1], before[2], before[2], before[2], before[0], true, true,
     "get cookie", "set cookie", 0, 1, false, false, "toString", 0, false],
  );
  // the page's own functions are untouched
  assert.equal(page.run("Function.prototype.toString.call(function f(a) { return a })"), "function f(a) { return a }");
  assert.throws(() => page.run("Function.prototype.toString.call({})"), (err) => err.name === "TypeError");
});

test("patches the page makes later do not reach the runtime", () => {
  const { server, run } = makePage();
  run(`
    XMLHttpRequest.prototype.open = function () { throw new Error("page open") };
    XMLHttpRequest.prototype.send = function () { throw new Error("page send") };
    Object.defineProperty(XMLHttpRequest.prototype, "status", { get() { return 404 } });
    globalThis.XMLHttpRequest = function () { throw new Error("page XHR") };
    WeakMap.prototype.has = () => true;
    WeakMap.prototype.get = () => "pwned";
    Reflect.apply = () => { throw new Error("page apply") };
    Function.prototype.call = () => { throw new Error("page call") };
    globalThis.encodeURIComponent = () => "pwned";
  `);
  run("document.cookie = 'z=26'");
  assert.equal(run("document.cookie"), "z=26");
  assert.equal(server.requests.length, 2);
  assert.ok(server.requests.every((r) => r.url.endsWith("?path=%2Fshop%2Fa%20b")));
  assert.equal(
    run("Function.prototype.toString.apply(Function.prototype.toString)"),
    "function toString() { [native code] }",
  );
});

test("no globals but the non-enumerable marker; installs once", () => {
  const { run } = makePage({ install: false });
  const keys = () => run("Reflect.ownKeys(globalThis).map(String)");
  const before = keys();
  run(BUNDLE);
  const getter = run('Object.getOwnPropertyDescriptor(Document.prototype, "cookie").get');
  const toString = run("Function.prototype.toString");
  assert.deepEqual([...keys()], [...before, "Symbol(tandem.runtime)"]);
  const marker = run('Object.getOwnPropertyDescriptor(globalThis, Symbol.for("tandem.runtime"))');
  assert.equal(marker.enumerable, false);
  run(BUNDLE); // a second copy of the script changes nothing
  assert.equal(run('Object.getOwnPropertyDescriptor(Document.prototype, "cookie").get'), getter);
  assert.equal(run("Function.prototype.toString"), toString);
  assert.deepEqual([...keys()], [...before, "Symbol(tandem.runtime)"]);
});

test("with the server's TTL, reads are kept until the script returns, never across a write", async () => {
  const { server, run } = makePage({ ttl: 60000 });
  server.jar.set("a", "1");
  const gets = () => server.requests.filter((r) => r.method === "GET").length;
  assert.deepEqual([...run("[document.cookie, document.cookie, document.cookie]")], ["a=1", "a=1", "a=1"]);
  assert.equal(gets(), 1);
  // the jar changed behind the page's back (an image's Set-Cookie): seen once the script returned
  server.jar.set("b", "2");
  await null;
  assert.equal(run("document.cookie"), "a=1; b=2");
  assert.equal(gets(), 2);
  // a write drops what was kept, in the same run
  await null;
  assert.deepEqual([...run("const x = document.cookie; document.cookie = 'c=3'; [x, document.cookie]")],
    ["a=1; b=2", "a=1; b=2; c=3"]);
  assert.equal(gets(), 4);
});

test("a kept read lasts no longer than the server's TTL, and not at all without one", async () => {
  const timed = makePage({ ttl: 2 });
  timed.run("document.cookie");
  timed.server.jar.set("gone", "soon");
  assert.equal(timed.run("const t = performance.now(); while (performance.now() - t < 5); document.cookie"), "gone=soon");
  for (const ttl of [0, "", "junk"]) {
    const page = makePage({ ttl });
    page.run("document.cookie; document.cookie");
    assert.equal(page.server.requests.length, 2, `ttl ${JSON.stringify(ttl)}`);
  }
});
