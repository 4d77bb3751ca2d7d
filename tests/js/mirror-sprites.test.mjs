// External SVG <use> references in the mirror (viewer/mirror/urls.js + sprites.js): each one
// becomes a local fragment before rrweb builds the node, in the snapshot, in added nodes and in
// later attribute changes; the sprite is named by its proxied URL (what the session page fetches).

import { test } from "node:test";
import assert from "node:assert/strict";

import { makeProxify } from "../../viewer/mirror/urls.js";
import { makeSprites, localId, hash, PREFIX } from "../../viewer/mirror/sprites.js";

const BASE = { scheme: "http", sid: "abcdefgh2345", baseDomain: "tandem.localhost:8080" };
const meta = (href) => ({ type: 4, data: { href, width: 800, height: 600 } });
const use = (id, attributes) => ({ type: 2, id, tagName: "use", isSVG: true, attributes, childNodes: [] });

function setup() {
  const sprites = makeSprites();
  const proxify = makeProxify({ ...BASE, uses: sprites });
  return { sprites, proxify };
}

test("local ids are stable, id-safe and differ per sprite and per symbol", () => {
  assert.equal(localId("http://a/s.svg", "x"), localId("http://a/s.svg", "x"));
  assert.notEqual(localId("http://a/s.svg", "x"), localId("http://a/s.svg", "y"));
  assert.notEqual(localId("http://a/s.svg", "x"), localId("http://a/t.svg", "x"));
  assert.match(localId("http://a/s.svg", "a b#ü"), /^tandem-use-[0-9a-z]+-[0-9a-z]+$/);
  assert.match(hash(""), /^[0-9a-z]+$/);
});

test("external <use> references in a snapshot become local fragments; local ones stay", () => {
  const { sprites, proxify } = setup();
  proxify(meta("https://shop.example/cart?x=1#top"));
  const snap = { type: 2, data: { node: { type: 2, id: 1, tagName: "svg", isSVG: true, attributes: {}, childNodes: [
    use(2, { href: "https://shop.example/img/sprite.svg#cart" }),
    use(3, { "xlink:href": "https://shop.example/img/sprite.svg#cart" }),
    use(4, { href: "#inline" }),
    use(5, { href: "https://shop.example/cart?x=1#icon" }), // the page itself
    { type: 2, id: 6, tagName: "a", isSVG: true, attributes: { href: "https://shop.example/img/sprite.svg#cart" }, childNodes: [] },
  ] } } };
  const [a, b, c, d, e] = proxify(snap).data.node.childNodes.map((n) => n.attributes);
  assert.match(a.href, new RegExp(`^#${PREFIX}`));
  assert.equal(b["xlink:href"], a.href); // the same symbol: the same local id
  assert.equal(c.href, "#inline");
  assert.equal(d.href, "#icon");
  assert.match(e.href, /^http:\/\/[a-z0-9-]+\.tandem\.localhost:8080\/img\/sprite\.svg#cart$/); // not a <use>: proxied
  assert.equal(sprites.stats.refs, 1);
});

test("<use> added later and attribute changes of a known <use> are rewritten; other elements' are proxied", () => {
  const { proxify } = setup();
  proxify(meta("https://shop.example/"));
  const add = { type: 3, data: { source: 0, adds: [{ parentId: 1, nextId: null, node: use(7, { href: "https://cdn.example/s.svg#a" }) }],
    removes: [], texts: [],
    attributes: [{ id: 7, attributes: { href: "https://cdn.example/s.svg#b" } }, { id: 8, attributes: { href: "https://cdn.example/s.svg#b" } }] } };
  const out = proxify(add).data;
  assert.match(out.adds[0].node.attributes.href, new RegExp(`^#${PREFIX}`));
  assert.match(out.attributes[0].attributes.href, new RegExp(`^#${PREFIX}`));
  assert.notEqual(out.attributes[0].attributes.href, out.adds[0].node.attributes.href);
  assert.match(out.attributes[1].attributes.href, /tandem\.localhost:8080\/s\.svg#b$/);
  // a later frame: the <use> is still known
  const later = proxify({ type: 3, data: { source: 0, adds: [], removes: [], texts: [],
    attributes: [{ id: 7, attributes: { "xlink:href": "https://cdn.example/s.svg#c" } }] } });
  assert.match(later.data.attributes[0].attributes["xlink:href"], new RegExp(`^#${PREFIX}`));
});
