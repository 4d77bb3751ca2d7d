// The mirror's canvas sizes (viewer/mirror/canvas.js): a canvas's width/height attributes read as
// HTML reads them (rules for parsing non-negative integers; default 300x150), and the rule that
// makes the canvas a replaced element of that size.

import { test } from "node:test";
import assert from "node:assert/strict";

import { dimension, boxImage, declarations } from "../../viewer/mirror/canvas.js";

test("width/height attributes parse as HTML non-negative integers, else the default", () => {
  assert.equal(dimension(null, 300), 300);
  assert.equal(dimension("120", 300), 120);
  assert.equal(dimension("  70px", 150), 70);
  assert.equal(dimension("\n+42.5", 150), 42);
  assert.equal(dimension("0", 150), 0);
  for (const bad of ["", "abc", "-5", "px10", "\u00a012"]) assert.equal(dimension(bad, 150), 150, JSON.stringify(bad));
  assert.equal(dimension("99999999999999999999", 300), 300);
});

test("the box is an empty SVG of the canvas's size; an image paints the content box", () => {
  const svg = decodeURIComponent(boxImage(640, 480).slice("data:image/svg+xml,".length));
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="640" height="480"\/>$/);
  assert.deepEqual(declarations(1, 2, null).map(([k]) => k), ["content"]);
  const withImage = Object.fromEntries(declarations(1, 2, "data:image/webp;base64,AAAA"));
  assert.equal(withImage["background-image"], 'url("data:image/webp;base64,AAAA")');
  assert.equal(withImage["background-origin"], "content-box");
});
