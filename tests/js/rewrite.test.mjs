// The runtime's string rewriters (viewer/runtime/rewrite.js): what the page writes as
// srcset, CSS, refresh values and markup is mapped; everything else is kept byte for byte.

import { test } from "node:test";
import assert from "node:assert/strict";

import { attrKind, mapCss, mapDocument, mapMarkup, mapRefresh, mapSrcset, CSS, DOC, LIST, REFRESH, SRCSET, URL } from "../../viewer/runtime/rewrite.js";

// A stand-in mapping: absolute http(s) URLs move to P/, everything else is kept.
const map = (u) => u.replace(/^(\s*)https?:\/\/([^/]+)/, (all, lead, host) => `${lead}http://P-${host}`);
const doc = (html) => `[doc ${html}]`;

test("attribute kinds follow the server's table", () => {
  const cases = [
    ["img", "src", false, URL], ["a", "href", false, URL], ["a", "ping", false, LIST], ["img", "srcset", false, SRCSET],
    ["link", "imagesrcset", false, SRCSET], ["div", "style", false, CSS], ["iframe", "srcdoc", false, DOC],
    ["object", "data", false, URL], ["div", "data", false, 0], ["meta", "content", true, REFRESH],
    ["meta", "content", false, 0], ["div", "class", false, 0], ["form", "action", false, URL], ["button", "formaction", false, URL],
  ];
  for (const [tag, name, refresh, kind] of cases) assert.equal(attrKind(tag, name, refresh), kind, `${tag} ${name}`);
});

test("srcset: every candidate URL, descriptors and spacing kept", () => {
  const vectors = [
    ["http://a/x.png 1x, http://a/y.png 2x", "http://P-a/x.png 1x, http://P-a/y.png 2x"],
    ["  http://a/x.png   300w ,http://b/y.png 600w  ", "  http://P-a/x.png   300w ,http://P-b/y.png 600w  "],
    ["/rel.png 1x, //cdn/x.png 2x", "/rel.png 1x, //cdn/x.png 2x"],
    // no space after the comma: one URL that contains a comma (WHATWG), as the browser reads it
    ["http://a/x.png,http://a/y.png", "http://P-a/x.png,http://a/y.png"],
    ["data:image/png;base64,AAA= 1x, http://a/y 2x", "data:image/png;base64,AAA= 1x, http://P-a/y 2x"],
    ["http://a/x.png (max-width: 5px) 1x, http://b/z", "http://P-a/x.png (max-width: 5px) 1x, http://P-b/z"],
    ["", ""],
  ];
  for (const [input, want] of vectors) assert.equal(mapSrcset(input, map), want, input);
});

test("CSS: url() in every quoting, @import strings, image-set() strings; the rest untouched", () => {
  const vectors = [
    ["a{background:url(http://a/x.png)}", "a{background:url(http://P-a/x.png)}"],
    ['a{background:url( "http://a/x.png" )}', 'a{background:url( "http://P-a/x.png" )}'],
    ["a{background:url('http://a/x.png')}", "a{background:url('http://P-a/x.png')}"],
    ['@import "http://a/s.css";', '@import "http://P-a/s.css";'],
    ["@import url(http://a/s.css) screen;", "@import url(http://P-a/s.css) screen;"],
    ['a{background-image:image-set("http://a/1.png" 1x, "http://a/2.png" 2x)}', 'a{background-image:image-set("http://P-a/1.png" 1x, "http://P-a/2.png" 2x)}'],
    ['a{content:"http://a/not-a-url"}', 'a{content:"http://a/not-a-url"}'],
    ["a{color:red}", "a{color:red}"],
    ["a{background:URL(http://a/x.png)}", "a{background:URL(http://P-a/x.png)}"],
  ];
  for (const [input, want] of vectors) assert.equal(mapCss(input, map), want, input);
});

test("meta refresh: only the URL part changes", () => {
  assert.equal(mapRefresh("0;url=http://a/next", map), "0;url=http://P-a/next");
  assert.equal(mapRefresh("5; URL='http://a/next'", map), "5; URL='http://P-a/next'");
  assert.equal(mapRefresh("30", map), "30");
});

test("markup: URL attributes of start tags and <style> text, entities and quotes respected", () => {
  const vectors = [
    ['<img src="http://a/x.png" alt="http://a/x">', '<img src="http://P-a/x.png" alt="http://a/x">'],
    ["<img src='http://a/x.png'>", '<img src="http://P-a/x.png">'],
    ["<img src=http://a/x.png>", '<img src="http://P-a/x.png">'],
    ['<a href="http://a/?x=1&amp;y=2">', '<a href="http://P-a/?x=1&amp;y=2">'],
    ['<div title="a > b" style="background:url(http://a/x)">', '<div title="a > b" style="background:url(http://P-a/x)">'],
    ["<style>a{background:url(http://a/x)}</style>", "<style>a{background:url(http://P-a/x)}</style>"],
    ['<iframe srcdoc="<b>x</b>">', '<iframe srcdoc="[doc <b>x</b>]">'],
    ['<meta http-equiv="refresh" content="0;url=http://a/n">', '<meta http-equiv="refresh" content="0;url=http://P-a/n">'],
    ['<meta name="x" content="http://a/n">', '<meta name="x" content="http://a/n">'],
    ['<p>text http://a/x</p>', '<p>text http://a/x</p>'],
    ['<img src="/relative.png">', '<img src="/relative.png">'],
    ['<img id="w2" ', '<img id="w2" '], // an unfinished tag is left alone
  ];
  for (const [input, want] of vectors) assert.equal(mapMarkup(input, map, doc), want, input);
});

test("a whole document gets the runtime tag first, after the doctype", () => {
  const tag = "<script src=R></script>";
  assert.equal(mapDocument("<!DOCTYPE html><img src=http://a/x>", map, tag), `<!DOCTYPE html>${tag}<img src="http://P-a/x">`);
  assert.equal(mapDocument("<p>hi", map, tag), `${tag}<p>hi`);
  assert.equal(mapDocument("<!-- c --><!doctype html><p>", map, tag), `<!-- c --><!doctype html>${tag}<p>`);
});
