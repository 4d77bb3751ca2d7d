/**
 * Rewriting of values the page writes: attribute values by kind, CSS text, srcset
 * lists, and markup strings (for `document.write`, whose chunks need not be whole
 * elements). The attribute table mirrors rewriter/html.py's REWRITE_TABLE.
 */

export const URL = 1;
export const LIST = 2; // space-separated URLs (ping)
export const SRCSET = 3;
export const CSS = 4;
export const DOC = 5; // a whole HTML document (iframe srcdoc): rewritten, runtime injected
export const REFRESH = 6; // <meta http-equiv=refresh content>

const ANY = {
  href: URL, src: URL, action: URL, formaction: URL, poster: URL, background: URL, cite: URL,
  longdesc: URL, manifest: URL, codebase: URL, icon: URL, lowsrc: URL, dynsrc: URL,
  "xlink:href": URL, ping: LIST, srcset: SRCSET, imagesrcset: SRCSET, style: CSS,
};
const BY_TAG = { object: { data: URL }, iframe: { srcdoc: DOC }, meta: { content: REFRESH } };

/** Can an attribute of this (lower-case) name hold a URL on some element? */
export const mayHoldUrl = (name) => Object.prototype.hasOwnProperty.call(ANY, name) || name === "data" || name === "srcdoc" || name === "content";

/** Kind of attribute `name` (lower case for HTML elements) on element `tag`, or 0. */
export function attrKind(tag, name, isRefreshMeta) {
  const own = BY_TAG[tag];
  const kind = (own && own[name]) || ANY[name] || 0;
  return kind === REFRESH && !isRefreshMeta ? 0 : kind;
}

const SPACE = /[\t\n\f\r ]/;
/** Each candidate URL of a srcset mapped with `map` (WHATWG parsing); the rest kept. */
export function mapSrcset(value, map) {
  let out = "";
  let i = 0;
  const n = value.length;
  while (i < n) {
    let j = i;
    while (j < n && (value[j] === "," || SPACE.test(value[j]))) j++;
    out += value.slice(i, j);
    if (j >= n) break;
    i = j;
    while (j < n && !SPACE.test(value[j])) j++;
    let url = value.slice(i, j);
    const trail = /,*$/.exec(url)[0];
    if (trail) url = url.slice(0, -trail.length);
    out += map(url) + trail;
    i = j;
    if (trail) continue;
    let depth = 0;
    while (j < n && (depth || value[j] !== ",")) {
      if (value[j] === "(") depth++;
      else if (value[j] === ")" && depth) depth--;
      j++;
    }
    out += value.slice(i, j);
    i = j;
  }
  return out;
}

const CSS_URL_RE = /(url\(\s*)(?:"([^"]*)"|'([^']*)'|([^)\s"']+))|(@import\s*)(?:"([^"]*)"|'([^']*)')|(image-set\(|src\s*:\s*)/gi;
const CSS_STRING_RE = /(["'])((?:(?!\1)[^\\\n]|\\.)*)\1/g;

/** CSS text with every url(), @import and image-set() URL mapped with `map`. */
export function mapCss(text, map) {
  if (!/url\(|@import|image-set\(/i.test(text)) return text;
  let out = text.replace(CSS_URL_RE, (all, u, dq, sq, bare, imp, idq, isq) => {
    if (u !== undefined) {
      if (dq !== undefined) return `${u}"${map(dq)}"`;
      if (sq !== undefined) return `${u}'${map(sq)}'`;
      return `${u}${map(bare)}`;
    }
    if (imp !== undefined) return idq !== undefined ? `${imp}"${map(idq)}"` : `${imp}'${map(isq)}'`;
    return all;
  });
  if (/image-set\(/i.test(out)) {
    out = out.replace(/image-set\(([^)]*)\)/gi, (all, inner) =>
      `image-set(${inner.replace(CSS_STRING_RE, (s, q, body) => `${q}${map(body)}${q}`)})`);
  }
  return out;
}

const REFRESH_RE = /^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['"]?)(.*?)(\2\s*)$/is;
export function mapRefresh(value, map) {
  const m = REFRESH_RE.exec(value);
  return m && m[3] ? `${m[1]}${m[2]}${map(m[3])}${m[4]}` : value;
}

/** One value of `kind` mapped with `map` (URLs) and `doc` (whole HTML documents). */
export function mapValue(kind, value, map, doc) {
  switch (kind) {
    case URL:
      return map(value);
    case LIST:
      return value.replace(/\S+/g, map);
    case SRCSET:
      return mapSrcset(value, map);
    case CSS:
      return mapCss(value, map);
    case DOC:
      return doc(value);
    case REFRESH:
      return mapRefresh(value, map);
    default:
      return value;
  }
}

// A start tag with its attributes, quoted values may hold ">".
const TAG_RE = /<([a-zA-Z][^\s/>]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const ATTR_RE = /([^\s"'>/=]+)(\s*=\s*)("([^"]*)"|'([^']*)'|[^\s>]+)/g;
const STYLE_RE = /(<style\b[^>]*>)([\s\S]*?)(?=<\/style)/gi;
const ENTITY_RE = /&(amp|quot|#39|#x27|lt|gt);/g;
const ENTITIES = { amp: "&", quot: '"', "#39": "'", "#x27": "'", lt: "<", gt: ">" };
const unescape = (s) => s.replace(ENTITY_RE, (a, n) => ENTITIES[n]);
const escapeAttr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;");

/**
 * Markup text with URL attributes of start tags and <style> contents mapped. Works
 * on fragments and partial chunks: only complete start tags are touched.
 */
export function mapMarkup(html, map, doc) {
  if (!/[/\\]{2}|:|srcdoc/i.test(html)) return html;
  let out = html.replace(TAG_RE, (tag, name, attrs) => {
    const lower = name.toLowerCase();
    const refresh = lower === "meta" && /http-equiv\s*=\s*["']?refresh/i.test(attrs);
    let changed = false;
    const next = attrs.replace(ATTR_RE, (all, attr, eq, raw, dq, sq) => {
      const kind = attrKind(lower, attr.toLowerCase(), refresh);
      if (!kind) return all;
      const value = unescape(dq !== undefined ? dq : sq !== undefined ? sq : raw);
      const mapped = mapValue(kind, value, map, doc);
      if (mapped === value) return all;
      changed = true;
      return `${attr}${eq}"${escapeAttr(mapped)}"`;
    });
    return changed ? `<${name}${next}>` : tag;
  });
  if (/<style/i.test(out)) out = out.replace(STYLE_RE, (all, open, css) => open + mapCss(css, map));
  return out;
}

const DOCTYPE_RE = /^(\uFEFF?\s*(?:<!--[\s\S]*?-->\s*)*<!doctype[^>]*>)/i;
/** A whole document's markup mapped, with `tag` (the runtime's script) first. */
export function mapDocument(html, map, tag) {
  const body = mapMarkup(html, map, (d) => mapDocument(d, map, tag));
  const m = DOCTYPE_RE.exec(body);
  return m ? m[1] + tag + body.slice(m[1].length) : tag + body;
}
