// Bundles the browser runtime: viewer/runtime/index.js -> viewer/static/build/runtime.js
// (one minified classic script, IIFE, es2020, with runtime.js.map beside it).
// `node viewer/build.mjs` prints the size; on error it prints one line and exits 1.

import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

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

/** Co-browsing bundles: the recorder injected into proxied pages after the runtime (/__tandem/recorder.js),
 * and the control plane's session page (follower mirror, with session.css) and leader panel. */
export const SYNC_BUNDLES = [
  { entry: here("recorder/index.js"), outfile: here("static/build/recorder.js") },
  { entry: here("mirror/session.js"), outfile: here("static/build/session.js") },
  { entry: here("mirror/panel.js"), outfile: here("static/build/panel.js") },
  // The demo shop's React page with controlled inputs (/controlled), for the control tests.
  { entry: here("../demosite/controlled/app.js"), outfile: here("../demosite/controlled/build/app.js") },
];

/** The runtime is injected into every proxied page: it must stay small (issue 3: < 40 KB minified). */
export const RUNTIME_BUDGET = 40 * 1024;

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
  const outputs = [OUTFILE, ...[...CONTROL_BUNDLES, ...SYNC_BUNDLES].map((b) => b.outfile)];
  try {
    await esbuild.build({ ...options, outfile: OUTFILE, sourcemap: "external" });
    for (const b of [...CONTROL_BUNDLES, ...SYNC_BUNDLES]) {
      await esbuild.build({ ...options, entryPoints: [b.entry], outfile: b.outfile, sourcemap: "external" });
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
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
