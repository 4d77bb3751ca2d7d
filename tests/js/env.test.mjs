// The runtime's two mappings (viewer/runtime/env.js): proxy() for URLs the page gives,
// upstream() for text the browser gives back; alias labels through the server endpoint.

import { test } from "node:test";
import assert from "node:assert/strict";

import { makeEnv } from "../../viewer/runtime/env.js";

const BASE = "tandem.localhost:8080";
const SID = "abcdefgh2345";
const ORIGIN = `http://${SID}-h8081-shop-localhost.${BASE}`;

/** natives with a fake synchronous XHR answering the alias endpoint from `server`. */
function natives(server = { posts: [], gets: [], table: new Map() }) {
  class XMLHttpRequest {
    open(method, url) { this.req = { method, url }; }
    send(body) {
      const { method, url } = this.req;
      if (method === "POST") {
        server.posts.push(body);
        const label = `${SID}-a-${"b".repeat(16)}`;
        server.table.set("b".repeat(16), body);
        this.answer = [200, label];
      } else {
        server.gets.push(url);
        const hash = new URL(url).searchParams.get("hash");
        this.answer = server.table.has(hash) ? [200, server.table.get(hash)] : [404, ""];
      }
    }
  }
  const P = XMLHttpRequest.prototype;
  return {
    server,
    n: {
      apply: Reflect.apply, XMLHttpRequest, xhrOpen: P.open, xhrSend: P.send, URL,
      xhrStatus() { return this.answer[0]; }, xhrResponseText() { return this.answer[1]; },
    },
  };
}

test("proxy(): absolute upstream URLs move under BASE; relative, other schemes and ours stay", () => {
  const env = makeEnv(natives().n, { origin: ORIGIN, version: "v1" });
  assert.equal(env.proxy("http://cdn.localhost:8082/a.png?x#y"), `http://${SID}-h8082-cdn-localhost.${BASE}/a.png?x#y`);
  assert.equal(env.proxy("wss://chat.example.com/s"), `ws://${SID}-s-chat-example-com.${BASE}/s`);
  assert.equal(env.proxy("//cdn.localhost:8082/a"), `http://${SID}-h8082-cdn-localhost.${BASE}/a`);
  for (const same of ["/rel", "rel?x", "data:text/plain,hi", "blob:x", "mailto:a@b", `${ORIGIN}/x`, "#frag"]) {
    assert.equal(env.proxy(same), same);
  }
  assert.equal(env.upstreamOrigin, "http://shop.localhost:8081");
  assert.equal(env.upstreamHost, "shop.localhost");
  assert.equal(env.runtimeUrl, `${ORIGIN}/__tandem/runtime.js?v=v1`);
});

test("upstream(): every proxied origin of this session in a text maps back; others are kept", () => {
  const env = makeEnv(natives().n, { origin: ORIGIN });
  const html = `<a href="${ORIGIN}/x">x</a><img src="http://${SID}-s-cdn-example-com.${BASE}/i.png">`;
  assert.equal(env.upstream(html), '<a href="http://shop.localhost:8081/x">x</a><img src="https://cdn.example.com/i.png">');
  assert.equal(env.upstream(`ws://${SID}-s-chat-example-com.${BASE}/s`), "wss://chat.example.com/s");
  const other = `http://zzzzzzzzzzzz-h8081-shop-localhost.${BASE}/x`; // another session
  assert.equal(env.upstream(other), other);
  assert.equal(env.upstream(`http://${BASE}/control`), `http://${BASE}/control`);
  assert.equal(env.upstream(`http://${SID}-h8081-shop-localhost.${BASE}9/x`), `http://${SID}-h8081-shop-localhost.${BASE}9/x`);
  for (const url of ["http://a.example/x?y=1", "https://cdn.example.com/i.png", "wss://chat.example.com/s"]) {
    assert.equal(env.upstream(env.proxy(url)), url, url);
  }
});

test("alias labels come from the server, once per origin, and read back through it", () => {
  const { n, server } = natives();
  const env = makeEnv(n, { origin: ORIGIN });
  const long = `http://${"x".repeat(60)}.example.com/p`;
  const proxied = env.proxy(long);
  assert.equal(proxied, `http://${SID}-a-${"b".repeat(16)}.${BASE}/p`);
  env.proxy(long);
  assert.deepEqual(server.posts, [`http://${"x".repeat(60)}.example.com`]);
  assert.equal(env.upstream(proxied), long); // known from the registration: no lookup
  const fresh = makeEnv(n, { origin: ORIGIN });
  assert.equal(fresh.upstream(proxied), long); // looked up on the server
  assert.equal(server.gets.length, 1);
});

test("a failed alias registration points nowhere rather than upstream", () => {
  const { n } = natives();
  n.xhrStatus = () => 500;
  const env = makeEnv(n, { origin: ORIGIN });
  const out = env.proxy("http://[::1]:9/x");
  assert.ok(out.startsWith(`http://${SID}-a-unregistered.${BASE}/`), out);
});

test("workers resolve relative URLs against the real script before mapping", () => {
  const env = makeEnv(natives().n, { origin: ORIGIN, realBase: `${ORIGIN}/js/worker.js` });
  assert.equal(env.proxy("data.json"), `${ORIGIN}/js/data.json`);
  assert.equal(env.proxy("http://cdn.localhost:8082/a"), `http://${SID}-h8082-cdn-localhost.${BASE}/a`);
});

test("not a proxied origin: refused", () => {
  assert.throws(() => makeEnv(natives().n, { origin: "null" }));
  assert.throws(() => makeEnv(natives().n, { origin: "http://tandem.localhost:8080" }));
});
