// The snippet's event stream (viewer/snippet/client.js) reconnects with a doubling backoff: 0.5 s,
// 1 s, 2 s ... up to 15 s (each within its ±20 % jitter), back to 0.5 s once events flow again,
// and every reconnect after an event sends that event's id as Last-Event-ID (nothing missed).
// The browser is a fake window: fetch fails (a network cut) or answers a short event stream;
// setTimeout records the wait asked for and goes on at once.

import { test } from "node:test";
import assert from "node:assert/strict";

import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, createClient } from "../../viewer/snippet/client.js";

function fakeWindow(answers) {
  const waits = [];
  const calls = [];
  const storage = new Map();
  let client = null;
  const win = {
    document: { cookie: "tandem_visitor=v1.secret1" },
    location: { hostname: "abc-shop.tandem.localhost", href: "http://abc-shop.tandem.localhost/", protocol: "http:" },
    sessionStorage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, String(v)) },
    TextDecoderStream,
    fetch: async (url, init) => {
      calls.push({ url, lastEventId: init.headers["Last-Event-ID"] || null });
      const answer = answers.shift();
      if (answer === undefined) { client.stop(); throw new TypeError("stopped"); }
      if (answer === "cut") throw new TypeError("Failed to fetch");
      return new Response(answer, { status: 200, headers: { "Content-Type": "text/event-stream" } });
    },
    setTimeout: (fn, ms) => { waits.push(ms); setImmediate(fn); return 0; },
  };
  client = createClient(win, "http://tandem.localhost:8080");
  return { client, waits, calls };
}

async function until(pred) {
  for (let i = 0; i < 1000 && !pred(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(pred(), "never happened");
}

test("a dropped event stream is retried with a doubling, capped backoff, reset once events flow", async () => {
  const event = 'id: s1.7\nevent: viewer_joined\ndata: {"session_id":"s1","name":"Ann"}\n\n';
  const answers = ["cut", "cut", "cut", "cut", "cut", "cut", "cut", event, "cut", "cut"];
  const { client, waits, calls } = fakeWindow(answers);
  const heard = [];
  client.command("on", "viewer_joined", (d) => heard.push(d));
  client.resume();
  await until(() => !client.streaming);

  const expected = [500, 1000, 2000, 4000, 8000, 15000, 15000, 500, 1000, 2000];
  assert.equal(BACKOFF_MIN_MS, 500);
  assert.equal(BACKOFF_MAX_MS, 15000);
  assert.equal(waits.length, expected.length, `waits: ${waits}`);
  waits.forEach((ms, i) => {
    assert.ok(ms >= expected[i] * 0.8 && ms <= expected[i] * 1.2, `wait ${i}: ${ms} ms, expected about ${expected[i]}`);
  });
  assert.deepEqual(heard, [{ session_id: "s1", name: "Ann" }]);
  // before the event nothing to resume from; after it, every reconnect asks for what came after it
  assert.deepEqual(calls.slice(0, 8).map((c) => c.lastEventId), Array(8).fill(null));
  assert.deepEqual(calls.slice(8).map((c) => c.lastEventId), Array(calls.length - 8).fill("s1.7"));
  assert.ok(calls.every((c) => c.url === "http://tandem.localhost:8080/snippet/v1/visitors/v1/events"));
});
