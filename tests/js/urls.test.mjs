// URL mapper (viewer/runtime/urls.js). The toProxy table was checked against
// rewriter.urls.UrlRewriter.rewrite with the same base, session and page scheme.

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";

import { LabelError } from "../../viewer/runtime/labels.js";
import { UrlMapper } from "../../viewer/runtime/urls.js";

const SID = "abcdefgh2345";
const BASE = "tandem.localhost:8080";
const P = (label) => `${SID}-${label}.${BASE}`; // proxied authority for a label

/** A mapper for a page of https://shop.example served at http://LABEL.tandem.localhost:8080. */
function makeMapper(options = {}) {
  return UrlMapper.fromLocation({ protocol: "http:", host: P("s-shop-example") }, options);
}

test("fromLocation decodes the first label of location.host", () => {
  const m = UrlMapper.fromLocation({ protocol: "http:", host: P("h8081-shop-localhost") });
  assert.equal(m.sid, SID);
  assert.equal(m.baseDomain, BASE);
  assert.deepEqual(m.upstreamOrigin, { scheme: "http", host: "shop.localhost", port: 8081 });
  assert.equal(m.alias, null);

  const a = UrlMapper.fromLocation({ protocol: "https:", host: "abcdefgh2345-a-dvhil7kurv46oe25.tandem.example" });
  assert.equal(a.upstreamOrigin, null);
  assert.equal(a.alias, "dvhil7kurv46oe25");
  assert.equal(a.baseDomain, "tandem.example");

  assert.throws(() => UrlMapper.fromLocation({ protocol: "http:", host: BASE }), LabelError);
  assert.throws(() => UrlMapper.fromLocation({ protocol: "http:", host: "localhost:8080" }), LabelError);
});

const TO_PROXY = [
  // absolute
  ["https://example.com/a?b#c", `http://${P("s-example-com")}/a?b#c`],
  ["http://example.com:8080/x", `http://${P("h8080-example-com")}/x`],
  ["HTTPS://EXAMPLE.COM/Path", `http://${P("s-example-com")}/Path`],
  ["https://example.com:443/default", `http://${P("s-example-com")}/default`],
  ["http://example.com:443/", `http://${P("h443-example-com")}/`],
  ["  https://example.com/lead", `  http://${P("s-example-com")}/lead`],
  ["https://exa\tmple.com/t", `http://${P("s-example-com")}/t`],
  ["https://0x7f.1/", `http://${P("s-127-0-0-1")}/`],
  ["https://%65xample.com/", `http://${P("s-example-com")}/`],
  ["https://bücher.example/", `http://${P("s-xn----bcher--kva-example")}/`],
  ["https:\\\\example.com/", `http://${P("s-example-com")}/`],
  ["http:foo.example/bar", `http://${P("h-foo-example")}/bar`],
  // alias labels
  ["https://[::1]:8443/v6", `http://${P("a-f34ykhqw3mk366so")}/v6`],
  ["https://under_score.example.com/", `http://${P("a-azlclzeokf5zqxxv")}/`],
  // protocol-relative: the upstream page's scheme
  ["//cdn.example.com/lib.js", `http://${P("s-cdn-example-com")}/lib.js`],
  ["\\\\example.com\\a", `http://${P("s-example-com")}\\a`],
  // WebSockets: ws on an http page
  ["ws://chat.example.com/socket", `ws://${P("h-chat-example-com")}/socket`],
  ["wss://chat.example.com:8443/s", `ws://${P("s8443-chat-example-com")}/s`],
  ["wss://[2001:db8::1]/", `ws://${P("a-3sd547am2ulkxjpb")}/`],
  // userinfo kept
  ["https://user:pw@example.com/p", `http://user:pw@${P("s-example-com")}/p`],
  ["https://a@b@example.com/", `http://a@b@${P("s-example-com")}/`],
  // unchanged: relative, other schemes, ours, invalid
  ["/relative/path", "/relative/path"],
  ["relative.html", "relative.html"],
  ["?q=1", "?q=1"],
  ["#frag", "#frag"],
  ["", ""],
  ["https:foo", "https:foo"],
  ["data:text/plain,hi", "data:text/plain,hi"],
  ["blob:https://example.com/uuid", "blob:https://example.com/uuid"],
  ["mailto:a@b.c", "mailto:a@b.c"],
  ["javascript:void(0)", "javascript:void(0)"],
  [`http://${P("s-example-com")}/already`, `http://${P("s-example-com")}/already`],
  ["https://tandem.localhost:8080/api/v1", "https://tandem.localhost:8080/api/v1"],
  ["https://example.com:0/", "https://example.com:0/"],
  ["https://example.com:99999/", "https://example.com:99999/"],
  ["https://exa mple.com/", "https://exa mple.com/"],
];

test("toProxy: table (same results as UrlRewriter.rewrite)", () => {
  const m = makeMapper();
  for (const [input, expected] of TO_PROXY) assert.equal(m.toProxy(input), expected, JSON.stringify(input));
});

test("toProxy: https page gives https and wss", () => {
  const m = UrlMapper.fromLocation({ protocol: "https:", host: "abcdefgh2345-s-shop-example.tandem.example" });
  assert.equal(m.toProxy("http://example.com/x"), "https://abcdefgh2345-h-example-com.tandem.example/x");
  assert.equal(m.toProxy("ws://example.com/x"), "wss://abcdefgh2345-h-example-com.tandem.example/x");
  assert.equal(m.toProxy("//example.com/x"), "https://abcdefgh2345-s-example-com.tandem.example/x");
});

test("toProxy: protocol-relative follows the upstream page's scheme", () => {
  const m = UrlMapper.fromLocation({ protocol: "http:", host: P("h8081-shop-localhost") });
  assert.equal(m.toProxy("//cdn.example.com/x"), `http://${P("h-cdn-example-com")}/x`);
});

test("toProxy: alias labels are reported to onAlias", () => {
  const seen = [];
  const m = makeMapper({ onAlias: (hash, origin) => seen.push([hash, origin]) });
  m.toProxy("https://[::1]:8443/");
  m.toProxy("https://example.com/");
  assert.deepEqual(seen, [["f34ykhqw3mk366so", { scheme: "https", host: "[::1]", port: 8443 }]]);
});

const TO_UPSTREAM = [
  [`http://${P("s-example-com")}/a?b#c`, "https://example.com/a?b#c"],
  [`http://${P("h8080-example-com")}/x`, "http://example.com:8080/x"],
  [`ws://${P("h-chat-example-com")}/socket`, "ws://chat.example.com/socket"],
  [`ws://${P("s8443-chat-example-com")}/s`, "wss://chat.example.com:8443/s"],
  [`http://user:pw@${P("s-example-com")}/p`, "https://user:pw@example.com/p"],
  [`HTTP://${P("S-EXAMPLE-COM").toUpperCase()}/Up`, "https://example.com/Up"],
  [`http://${P("s-127-0-0-1")}/`, "https://127.0.0.1/"],
  // not ours: as they are
  ["/relative/path", "/relative/path"],
  ["data:text/plain,hi", "data:text/plain,hi"],
  ["https://example.com/x", "https://example.com/x"],
  // ours but not reversible here
  [`http://${P("a-f34ykhqw3mk366so")}/v6`, null],
  [`http://${BASE}/api/v1`, null],
  [`http://bcdefgh23456-s-example-com.${BASE}/`, null], // another session
  [`http://abcdefgh2345-s-example---com.${BASE}/`, null], // not a label
  [`http://x.${P("s-example-com")}/`, null],
];

test("toUpstream: table", () => {
  const m = makeMapper();
  for (const [input, expected] of TO_UPSTREAM) assert.equal(m.toUpstream(input), expected, JSON.stringify(input));
});

test("property: toUpstream(toProxy(url)) gives the url back for direct labels", () => {
  const ldhPart = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
  const host = fc.oneof(
    fc.array(ldhPart, { minLength: 1, maxLength: 4 }).map((p) => p.join(".")),
    fc.ipV4(),
  ).filter((h) => !/^[0-9.]+$/.test(h) || /^\d+\.\d+\.\d+\.\d+$/.test(h)); // numeric names are IPv4 to the parser
  const urls = fc
    .tuple(
      fc.constantFrom("http", "https", "ws", "wss"),
      host,
      fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
      fc.webPath(),
      fc.option(fc.webQueryParameters(), { nil: null }),
    )
    .map(([scheme, h, port, path, query]) => {
      const defaultPort = scheme === "http" || scheme === "ws" ? 80 : 443;
      const netloc = port === null || port === defaultPort ? h : `${h}:${port}`;
      return `${scheme}://${netloc}${path || "/"}${query === null ? "" : `?${query}`}`;
    });
  const m = makeMapper();
  fc.assert(
    fc.property(urls, (url) => {
      const proxied = m.toProxy(url);
      const back = m.toUpstream(proxied);
      if (/^\w+:\/\/abcdefgh2345-a-[a-z2-7]{16}\./.test(proxied)) assert.equal(back, null); // too long to be direct
      else assert.equal(back, url);
    }),
    { numRuns: 300 },
  );
});
