// Bundles the browser runtime: viewer/runtime/index.js -> viewer/static/build/runtime.js
// (one minified classic script, IIFE, es2020, with runtime.js.map beside it).
// `node viewer/build.mjs` prints the size; on error it prints one line and exits 1.

import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { sliceSnapshot } from "./recorder/slice-patch.mjs";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export const ENTRY = here("runtime/index.js");
export const OUTFILE = here("static/build/runtime.js");

/** Options shared by the build and by tests that bundle in memory. */
export const options = {
  entryPoints: [ENTRY],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  // Modules are strict; an IIFE is not unless told so. Only our script is affected.
  banner: { js: '"use strict";' },
  legalComments: "eof",
  logLevel: "silent",
};

/**
 * The runtime is on every page (40 KB budget): its internal property names (the saved natives, the
 * env and hook tables, the URL mapper's fields) are shortened. Only names that are no web platform
 * property the runtime also reads on real objects may be listed here (never `localName`, `observe`,
 * `srcdoc`, ...): a listed name is renamed wherever it is written as `x.name` or `{name: ...}`.
 */
export const RUNTIME_PROPS = new RegExp(`^(?:${[
  "xhrOpen", "xhrSend", "xhrStatus", "xhrResponseText", "xhrGetResponseHeader", "requestUrl", "entryName",
  "documentDefaultView", "textContentGet", "textContentSet", "templateContent", "innerHTMLGet", "innerHTMLSet",
  "attrName", "attrValue", "iframeWindow", "frameWindow", "objectWindow", "formSubmit", "locationAssign",
  "locationReplace", "navDestination", "destinationUrl", "navCancelable", "navFormData", "navType", "weakMapGet",
  "weakMapHas", "weakMapSet", "functionToString", "URLCtor", "upstreamOrigin", "upstreamHost", "realBase",
  "frameUrl", "isOurBlob", "afterInsert", "attrAware", "rewriteTree", "setAttr", "isStyle", "runtimeUrl",
  "proxyOrigin", "isReserved", "accessor", "ctor", "arg0", "qsa", "encodeLabel", "baseDomain", "baseHostname",
  "onAlias", "toProxy", "isOurs", "fromLocation", "upstream", "proxy",
].join("|")})$`);
/** The runtime's own build options (tests bundle it in memory with these). */
export const runtimeOptions = { ...options, mangleProps: RUNTIME_PROPS };

function describe(err) {
  const first = err && err.errors && err.errors[0];
  if (!first) return String((err && err.message) || err);
  const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : "";
  const more = err.errors.length > 1 ? ` (and ${err.errors.length - 1} more)` : "";
  return `${where}${first.text}${more}`;
}

/** Control-plane bundles: the embeddable snippet (BASE/tandem.js) and the console pages' script. */
export const CONTROL_BUNDLES = [
  { entry: here("snippet/index.js"), outfile: here("static/build/tandem.js") },
  { entry: here("snippet/console.js"), outfile: here("static/build/console.js") },
];

/** The recording itself (rrweb, control input), loaded by the recorder's bootstrap only while someone
 * watches (/__tandem/record.js). Built first: the bootstrap carries its version. */
export const RECORD = { entry: here("recorder/record.js"), outfile: here("static/build/record.js") };

/** Co-browsing bundles: the recorder's bootstrap injected into proxied pages after the runtime
 * (/__tandem/recorder.js), and the control plane's session page (follower mirror, with session.css)
 * and leader panel. */
export const SYNC_BUNDLES = [
  { entry: here("recorder/index.js"), outfile: here("static/build/recorder.js"), bootstrap: true },
  { entry: here("mirror/session.js"), outfile: here("static/build/session.js") },
  { entry: here("mirror/panel.js"), outfile: here("static/build/panel.js") },
  // The demo shop's React page with controlled inputs (/controlled), for the control tests.
  { entry: here("../demosite/controlled/app.js"), outfile: here("../demosite/controlled/build/app.js") },
];

/** The runtime is injected into every proxied page: it must stay small (issue 3: < 40 KB minified).
 * +256 bytes (issue 11): the native shadowRoot getter handed to the recording once
 * (dom.js, `tandem.shadowRoot`), so rrweb borrows no hidden frame (a third of a big snapshot).
 * +512 bytes (issue 13): subresource integrity checked by the proxy (proxy/sri.py): the URL marker
 * taken off every read, `integrity` reflected from it, the browser's console message written.
 * +768 bytes (issue 13, page-load cost): document.cookie reads kept within one run of a script,
 * dropped by writes in any same-origin window and by synchronous requests (cookies.js).
 * +128 bytes: a synchronous request is noticed at open(), not by wrapping send(), so the browser
 * still names the page's line, not the runtime, for what the request logs (a 404). */
export const RUNTIME_BUDGET = 40 * 1024 + 256 + 512 + 768 + 128;
/** The recorder's bootstrap too is on every proxied page, watched or not (issue 11: record only while
 * someone watches); the recording it loads on demand is not on this budget. */
export const BOOTSTRAP_BUDGET = 12 * 1024;

/**
 * Fixes to rrweb applied at build time, as (file suffix, exact text, replacement). Each must match
 * exactly once, or the build fails: an rrweb upgrade that moves the code must be looked at again.
 */
export const RRWEB_PATCHES = [
  // The live replayer scrolls with behavior "smooth": the mirror reaches the tab owner's position
  // about a second late, and not at all while new scrolls keep restarting the animation. A mirror
  // follows at once ("instant" also beats a page's own `scroll-behavior: smooth`).
  { file: "rrweb/dist/rrweb.js", find: 'behavior: isSync ? "auto" : "smooth"', replace: 'behavior: "instant"', count: 3 },
  // The recorder throttles scroll events with ONE timer for every target, and the delayed call
  // sends the first event of its window: while an inner element scrolls (a ticker, a page's own
  // scroll-linked code), a window scroll in the same 50 ms is dropped and the mirror never
  // follows it (yle.fi). Throttle per scrolled target, so each one's last position is sent.
  {
    file: "rrweb/dist/rrweb.js",
    find: 'return on("scroll", callbackWrapper(throttle(callbackWrapper((evt) => {',
    replace: 'const perTarget = new WeakMap();\n\tconst throttleEach = (fn, wait) => (evt) => {\n\t\tconst key = getEventTarget(evt) || doc;\n\t\tlet f = perTarget.get(key);\n\t\tif (!f) perTarget.set(key, f = throttle(fn, wait));\n\t\tf(evt);\n\t};\n\treturn on("scroll", callbackWrapper(throttleEach(callbackWrapper((evt) => {',
    count: 1,
  },
  // rrweb borrows DOM accessors from a hidden <iframe> when it thinks the page's are patched. Its
  // check lists querySelector/querySelectorAll among Element's *accessors*; they are methods, so
  // it always failed and every recording made two such frames (one per bundled copy of the
  // helper), into each of which the runtime installs itself: about a third of a 10,000-node
  // snapshot. Checked as methods, a frame is made only when the page really patched one of them.
  // The frame's `shadowRoot` getter was also what showed closed shadow roots to rrweb (the runtime
  // hides them only in its own realm): the recording now claims the native getter from the
  // runtime (dom.js, `tandem.shadowRoot`, handed once and only to /__tandem/record.js) as soon as
  // rrweb's module runs, and uses it over the page's Element prototype. Without the claim (no
  // runtime, or something took it first) Element still comes from a frame, as before.
  {
    file: "rrweb/dist/rrweb.js",
    find: '\tElement: [\n\t\t"shadowRoot",\n\t\t"querySelector",\n\t\t"querySelectorAll"\n\t],',
    replace: '\tElement: ["shadowRoot"],',
    snapshot: true, // bench/snapshot.py builds a baseline without these
    count: 3,
  },
  {
    file: "rrweb/dist/rrweb.js",
    find: '\tElement: [],\n\tMutationObserver: ["constructor"]',
    replace: '\tElement: ["querySelector", "querySelectorAll"],\n\tMutationObserver: ["constructor"]',
    snapshot: true,
    count: 3,
  },
  {
    file: "rrweb/dist/rrweb.js",
    find: 'var __defProp$2 = Object.defineProperty;\n',
    replace: 'var __defProp$2 = Object.defineProperty;\nconst tandemShadowRoot = ((claim) => typeof claim === "function" && claim() || null)(globalThis[Symbol.for("tandem.shadowRoot")]);\n',
    snapshot: true,
    count: 1,
  },
  {
    file: "rrweb/dist/rrweb.js",
    find: '\tif (isUntaintedAccessors && isUntaintedMethods) {\n',
    replace: '\tif (isUntaintedAccessors && isUntaintedMethods && key === "Element") {\n\t\tif (tandemShadowRoot) return Object.create(defaultPrototype, { shadowRoot: { get: tandemShadowRoot } });\n\t} else if (isUntaintedAccessors && isUntaintedMethods) {\n',
    snapshot: true,
    count: 3,
  },
  // The full snapshot in slices, the page's own tasks running in between (recorder/slice-patch.mjs).
  { file: "rrweb/dist/rrweb.js", transform: sliceSnapshot, snapshot: true },
  // rrweb makes each src/href absolute by writing it into a detached <a> and reading a.href back:
  // under Tandem that is the runtime's setAttribute and href wrappers (map to the proxy, remember,
  // map back) per URL. The URL parser gives the same answer (a.href of an unparsable value is the
  // value itself) against the document's base, which the runtime shows as the site's. The base is
  // read once per document per task (no page script runs inside a synchronous snapshot or
  // mutation batch, so it cannot change there) and forgotten at the next microtask.
  {
    file: "rrweb/dist/rrweb.js",
    find: 'function getHref(doc, customHref) {\n\tlet a = cachedDocument.get(doc);\n\tif (!a) {\n\t\ta = doc.createElement("a");\n\t\tcachedDocument.set(doc, a);\n\t}\n\tif (!customHref) customHref = "";\n\telse if (customHref.startsWith("blob:") || customHref.startsWith("data:")) return customHref;\n\ta.setAttribute("href", customHref);\n\treturn a.href;',
    replace: 'const hrefBases = new Map();\nfunction getHref(doc, customHref) {\n\tif (!customHref) customHref = "";\n\telse if (customHref.startsWith("blob:") || customHref.startsWith("data:")) return customHref;\n\tlet base = hrefBases.get(doc);\n\tif (base === undefined) {\n\t\tif (!hrefBases.size) queueMicrotask(() => hrefBases.clear());\n\t\threfBases.set(doc, base = doc.baseURI);\n\t}\n\ttry {\n\t\treturn new URL(customHref, base).href;\n\t} catch {\n\t\treturn customHref;\n\t}',
    snapshot: true, // bench/snapshot.py builds a baseline without these
    count: 1,
  },
  // A change of a namespaced attribute comes to rrweb's MutationObserver as its local name
  // (`xlink:href` as "href") and rrweb read it back with getAttribute("href"): null, so a page that
  // re-points an SVG <use> or <image> with setAttributeNS(xlink, ...) sent "href removed" and the
  // mirror kept the old icon. The XLink ones are read in their namespace and sent as "xlink:href",
  // as rrweb's snapshot names them (the mirror sets them in the namespace: mirror/sprites.js).
  {
    file: "rrweb/dist/rrweb.js",
    find: "\t\t\t\tlet attributeName = m.attributeName;\n\t\t\t\tlet value = m.target.getAttribute(attributeName);",
    replace: "\t\t\t\tlet attributeName = m.attributeNamespace === \"http://www.w3.org/1999/xlink\" ? \"xlink:\" + m.attributeName : m.attributeName;\n"
      + "\t\t\t\tlet value = attributeName !== m.attributeName ? m.target.getAttributeNS(m.attributeNamespace, m.attributeName) : m.target.getAttribute(attributeName);",
    count: 1,
  },
];

/** esbuild plugin applying RRWEB_PATCHES to rrweb's module as it is bundled. */
export const patchRrweb = {
  name: "patch-rrweb",
  setup(build) {
    build.onLoad({ filter: /[\\/]rrweb[\\/]dist[\\/]rrweb\.js$/ }, async (args) => {
      let text = readFileSync(args.path, "utf8");
      for (const p of RRWEB_PATCHES) {
        if (!args.path.replace(/\\/g, "/").endsWith(p.file)) continue;
        if (p.transform) {
          text = p.transform(text);
          continue;
        }
        const found = text.split(p.find).length - 1;
        if (found !== p.count) throw new Error(`rrweb patch expected ${p.count} of ${JSON.stringify(p.find)}, found ${found}`);
        text = text.split(p.find).join(p.replace);
      }
      return { contents: text, loader: "js" };
    });
  },
};

/** The demo shop's single-page app (/spa/): an ES module with the chunk import() loads, and its service worker. */
export const SPA = {
  entry: here("../demosite/spa/app.jsx"),
  worker: here("../demosite/spa/sw.js"),
  outdir: here("../demosite/spa/build"),
};
const spaOptions = {
  bundle: true, platform: "browser", target: "es2020", minify: true, logLevel: "silent", jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
};

async function buildSpa() {
  await esbuild.build({
    ...spaOptions, entryPoints: [SPA.entry], format: "esm", splitting: true, outdir: SPA.outdir,
    entryNames: "[name]", chunkNames: "chunk-[hash]",
  });
  await esbuild.build({ ...spaOptions, entryPoints: [SPA.worker], format: "iife", outfile: `${SPA.outdir}/sw.js` });
}

async function main() {
  const outputs = [OUTFILE, RECORD.outfile, ...[...CONTROL_BUNDLES, ...SYNC_BUNDLES].map((b) => b.outfile)];
  try {
    await esbuild.build({ ...runtimeOptions, outfile: OUTFILE, sourcemap: "external" });
    await esbuild.build({ ...options, entryPoints: [RECORD.entry], outfile: RECORD.outfile, sourcemap: "external", plugins: [patchRrweb] });
    const recordVersion = createHash("sha256").update(readFileSync(RECORD.outfile)).digest("hex").slice(0, 12);
    for (const b of [...CONTROL_BUNDLES, ...SYNC_BUNDLES]) {
      await esbuild.build({ ...options, entryPoints: [b.entry], outfile: b.outfile, sourcemap: "external", plugins: [patchRrweb],
        define: { __TANDEM_RECORD_VERSION__: JSON.stringify(recordVersion) } });
    }
    await buildSpa();
  } catch (err) {
    console.error(`build failed: ${describe(err)}`);
    process.exit(1);
  }
  for (const out of outputs) {
    const code = readFileSync(out);
    console.log(`${out}: ${code.length} bytes, ${gzipSync(code, { level: 9 }).length} gzipped`);
  }
  const runtime = readFileSync(OUTFILE).length;
  if (runtime > RUNTIME_BUDGET) {
    console.error(`build failed: the runtime is ${runtime} bytes, over its budget of ${RUNTIME_BUDGET}`);
    process.exit(1);
  }
  for (const b of SYNC_BUNDLES.filter((x) => x.bootstrap)) {
    const size = readFileSync(b.outfile).length;
    if (size > BOOTSTRAP_BUDGET) {
      console.error(`build failed: ${b.outfile} is ${size} bytes, over its budget of ${BOOTSTRAP_BUDGET}`);
      process.exit(1);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
