// Builds the real-page suite's framework apps: apps/<name>/main.js -> apps/dist/<name>/app.js
// (esbuild, one IIFE each; .svelte files compiled by svelte/compiler through a small plugin,
// .css imported as text) and apps/dist/<name>/index.html from common/page.html + <name>/body.html.
// `node tests/e2e/realpages/apps/build.mjs` prints one line per app; on error one line and exit 1.
// The suite's fixture runs it (it takes about a second); nothing it writes is committed.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { compile } from "svelte/compiler";

// An app whose markup is the plain TodoMVC skeleton (the DOM-building apps) shares common/static-body.html.
function bodyOf(name) {
  const own = here(`${name}/body.html`);
  return existsSync(own) ? own : here("common/static-body.html");
}

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export const APPS = {
  jquery: "jQuery",
  backbone: "Backbone.js",
  vue: "Vue",
  svelte: "Svelte",
  lit: "Lit",
  webcomponents: "Web Components",
};

const sveltePlugin = {
  name: "svelte",
  setup(build) {
    build.onLoad({ filter: /\.svelte$/ }, async (args) => {
      const source = readFileSync(args.path, "utf8");
      const { js, warnings } = compile(source, { filename: args.path, generate: "client", css: "injected", dev: false });
      return {
        contents: js.code,
        loader: "js",
        warnings: warnings.map((w) => ({ text: w.message })),
      };
    });
  },
};

async function buildApp(name, title) {
  const outdir = here(`dist/${name}/`);
  mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: [here(`${name}/main.js`)],
    outfile: `${outdir}app.js`,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    conditions: ["svelte", "browser"],
    loader: { ".css": "text" },
    define: {
      "process.env.NODE_ENV": '"production"',
      __VUE_OPTIONS_API__: "true",
      __VUE_PROD_DEVTOOLS__: "false",
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
    },
    plugins: [sveltePlugin],
    logLevel: "silent",
  });
  const page = readFileSync(here("common/page.html"), "utf8")
    .replaceAll("{{NAME}}", title)
    .replace("{{BODY}}", readFileSync(bodyOf(name), "utf8").trim());
  writeFileSync(`${outdir}index.html`, page);
  return readFileSync(`${outdir}app.js`).length;
}

try {
  for (const [name, title] of Object.entries(APPS)) {
    const size = await buildApp(name, title);
    console.log(`${name}: ${(size / 1024).toFixed(1)} KB`);
  }
} catch (err) {
  const first = err && err.errors && err.errors[0];
  console.error(first ? `${first.location ? first.location.file + ":" + first.location.line + ": " : ""}${first.text}` : String(err));
  process.exit(1);
}
