/**
 * What never leaves the leader's browser. Two layers, both here:
 *
 * 1. rrweb's own options. rrweb calls `maskInputFn` for every input value it serialises
 *    (snapshot, input events, `value` attribute changes) because every input type is opted
 *    in; we answer the real value only for fields that are not sensitive. Text inside masked
 *    elements is starred by rrweb's maskTextSelector; blocked elements become empty
 *    placeholders of the same size.
 *
 * 2. A last pass over every event before it leaves this document (an rrweb plugin's
 *    `eventProcessor`: it runs in the top document before `emit` and in a frame before the
 *    event is posted to the parent). rrweb decides masking with `Element.closest`, which stops
 *    at a shadow root, and it never masks attributes. The pass walks the *composed* tree
 *    (a node in a shadow root, open or closed, is inside its host) and, for every node under a
 *    masked element:
 *      - text and comments become stars (not inside <style>/<script>: that is CSS, not text);
 *      - attributes that can carry words (title, alt, placeholder, aria-*, data-*, value,
 *        label, content, …) become stars of the same length, URL attributes (src, href, …) and
 *        checked/selected state are dropped; layout attributes (class, style, id, type, size…)
 *        stay so the mirror keeps its shape;
 *      - input events carry stars, canvas images are not sent;
 *    and nodes under a blocked element are not sent at all (mutations inside a blocked host's
 *    shadow root included).
 *    A secret field (password, payment, one-time code) is judged the same way, across shadow
 *    boundaries.
 *
 * Closed shadow roots: the runtime creates them open natively (closed only as the page sees
 * them), so rrweb records them like open ones, and everything above applies to them: the
 * composed walk goes through `getRootNode().host`, which works for any root
 * (tests/security/test_masking.py has secrets in a closed root under a masked host).
 */

import { record } from "rrweb";

// autocomplete tokens whose values are secrets (WHATWG autofill field names).
const SECRET_AUTOCOMPLETE = /(^|\s)(cc-[a-z-]+|current-password|new-password|one-time-code)(\s|$)/i;
// Payment fields named by habit rather than by autocomplete.
const PAYMENT_NAME = /(card.?(number|num|no)|cc.?(num|number|no)|cvc|cvv|csc|security.?code|card.?exp|iban)/i;

export const BUILTIN_MASK = "[data-tandem-mask]";
export const BUILTIN_BLOCK = "[data-tandem-block], tandem-panel";

// rrweb's serialized node types (rrweb-snapshot NodeType) and event kinds (EventType, IncrementalSource).
const ELEMENT = 2;
const TEXT = 3;
const CDATA = 4;
const COMMENT = 5;
const EV_FULL = 2;
const EV_INCREMENTAL = 3;
const EV_CUSTOM = 5;
const SRC_MUTATION = 0;
const SRC_INPUT = 5;

// Attributes of a masked element that only shape the layout: kept as they are.
const LAYOUT_ATTRIBUTES = new Set([
  "class", "style", "id", "type", "dir", "hidden", "width", "height", "size", "cols", "rows", "colspan", "rowspan",
  "tabindex", "role", "disabled", "readonly", "multiple", "open", "rel", "media", "crossorigin", "_cssText",
  "viewbox", "preserveaspectratio", "xmlns", "rr_width", "rr_height", "rr_scrolltop", "rr_scrollleft",
  "rr_mediastate", "rr_mediacurrenttime", "rr_open_mode",
]);
// Attributes that point somewhere (what an avatar or a link names can be the secret): dropped.
const URL_ATTRIBUTES = new Set([
  "src", "srcset", "href", "xlink:href", "action", "formaction", "poster", "data", "background", "cite", "longdesc",
  "ping", "manifest", "codebase", "usemap", "itemid", "rr_dataurl", "rr_src", "imagesrcset",
]);
// State that says what was chosen in a masked form.
const STATE_ATTRIBUTES = new Set(["checked", "selected"]);
const NOT_TEXT_PARENTS = new Set(["style", "script"]);

export const stars = (text) => String(text).replace(/\S/g, "*");

/** Selectors from the server's comma list that this browser accepts (a bad one would break recording). */
export function validSelectors(list, doc) {
  const out = [];
  for (const raw of (list || "").split(",")) {
    const sel = raw.trim();
    if (!sel) continue;
    try {
      doc.querySelector(sel);
      out.push(sel);
    } catch (_) {
      /* dropped: not a selector this browser understands */
    }
  }
  return out;
}

/** The element a node belongs to: itself, its parent element, or the host of the shadow root it sits in. */
function elementOf(node) {
  if (!node) return null;
  if (node.nodeType === 1) return node;
  if (node.nodeType === 11) return node.host || null; // a shadow root (a document fragment has no host)
  const parent = node.parentNode;
  if (!parent) return null;
  return parent.nodeType === 1 ? parent : parent.host || null;
}

/** `Element.closest` across shadow boundaries (open and closed): the nearest match in the composed tree. */
export function composedClosest(node, selector) {
  let el = elementOf(node);
  let guard = 0;
  while (el && guard++ < 64) {
    const hit = el.closest(selector);
    if (hit) return hit;
    const root = el.getRootNode ? el.getRootNode() : null;
    el = root && root.nodeType === 11 && root.host ? root.host : null;
  }
  return null;
}

// Images an inline style names (url(), image-set()): what an avatar or a scan shows can be the secret.
const CSS_IMAGE = /url\(\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|(?:[^)\\]|\\.)*)\s*\)|(?:-webkit-)?image-set\((?:[^()]|\([^()]*\))*\)/gi;
const CSS_IMAGE_LEFT = /\\|url\s*\(|image-set|image\s*\(|cross-fade|element\s*\(|src\s*\(/i;

/** A masked element's inline style without the images it names (layout kept); "" when in doubt. */
export function styleWithoutImages(css) {
  const out = String(css).replace(CSS_IMAGE, "none");
  return CSS_IMAGE_LEFT.test(out) ? "" : out;
}

function scrubStyle(value) {
  if (typeof value === "string") return styleWithoutImages(value);
  if (value && typeof value === "object") { // rrweb's style diff: {property: value | [value, priority] | false}
    for (const prop of Object.keys(value)) {
      const v = value[prop];
      if (typeof v === "string") value[prop] = styleWithoutImages(v);
      else if (Array.isArray(v) && typeof v[0] === "string") v[0] = styleWithoutImages(v[0]);
    }
  }
  return value;
}

/** A layout-preserving copy of a masked element's attributes (changed in place). */
export function scrubAttributes(attrs) {
  if (!attrs || typeof attrs !== "object") return attrs;
  for (const key of Object.keys(attrs)) {
    const name = key.toLowerCase();
    const value = attrs[key];
    if (name === "style") {
      attrs[key] = scrubStyle(value);
      continue;
    }
    if (LAYOUT_ATTRIBUTES.has(name) || LAYOUT_ATTRIBUTES.has(key)) continue;
    if (value === null || value === undefined) continue; // an attribute removed: nothing to hide
    if (URL_ATTRIBUTES.has(name) || STATE_ATTRIBUTES.has(name) || typeof value !== "string") {
      delete attrs[key];
    } else {
      attrs[key] = stars(value);
    }
  }
  return attrs;
}

export function makeMasking(doc, extraMask, extraBlock, mirror = record.mirror) {
  const maskSelector = [BUILTIN_MASK, ...validSelectors(extraMask, doc)].join(", ");
  const blockSelector = [BUILTIN_BLOCK, ...validSelectors(extraBlock, doc)].join(", ");

  const masked = (node) => {
    try {
      return composedClosest(node, maskSelector) !== null;
    } catch (_) {
      return true; // in doubt, hide
    }
  };
  const blocked = (node) => {
    try {
      return composedClosest(node, blockSelector) !== null;
    } catch (_) {
      return true;
    }
  };

  function isSecret(el) {
    if (!el || el.nodeType !== 1) return false;
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (type === "password" || el.hasAttribute("data-rr-is-password")) return true;
    if (SECRET_AUTOCOMPLETE.test(el.getAttribute("autocomplete") || "")) return true;
    if (PAYMENT_NAME.test(el.getAttribute("name") || "") || PAYMENT_NAME.test(el.id || "")) return true;
    return masked(el);
  }

  const getNode = (id) => {
    try {
      return typeof id === "number" ? mirror.getNode(id) : null;
    } catch (_) {
      return null;
    }
  };
  const selfMasked = (id) => {
    const n = getNode(id);
    try {
      return Boolean(n && n.nodeType === 1 && n.matches(maskSelector));
    } catch (_) {
      return true;
    }
  };

  /** Star and strip a serialized subtree; `inside`: an ancestor is masked. */
  function scrubTree(root, inside, parentTag) {
    const stack = [[root, inside, parentTag]];
    while (stack.length) {
      const [n, hidden, ptag] = stack.pop();
      if (!n || typeof n !== "object") continue;
      if (n.type === ELEMENT) {
        const here = hidden || selfMasked(n.id);
        if (here) scrubAttributes(n.attributes);
        const tag = typeof n.tagName === "string" ? n.tagName.toLowerCase() : "";
        for (const c of n.childNodes || []) stack.push([c, here, tag]);
      } else if (n.type === TEXT || n.type === CDATA || n.type === COMMENT) {
        if (hidden && typeof n.textContent === "string" && !(n.type === TEXT && NOT_TEXT_PARENTS.has(ptag))) {
          n.textContent = stars(n.textContent);
        }
      } else {
        for (const c of n.childNodes || []) stack.push([c, hidden, ptag]);
      }
    }
  }

  const tagOf = (node) => {
    const el = node && node.nodeType === 1 ? node : node && node.parentNode;
    return el && el.nodeType === 1 ? el.localName : "";
  };

  function scrubMutation(data) {
    if (Array.isArray(data.adds)) {
      data.adds = data.adds.filter((add) => {
        const parent = getNode(add.parentId);
        if (!parent) return true; // not this document's node (a frame's, already scrubbed there)
        if (blocked(parent)) return false;
        scrubTree(add.node, masked(parent), tagOf(parent));
        return true;
      });
    }
    if (Array.isArray(data.texts)) {
      data.texts = data.texts.filter((t) => {
        const node = getNode(t.id);
        if (!node) return true;
        if (blocked(node)) return false;
        if (masked(node) && typeof t.value === "string" && !NOT_TEXT_PARENTS.has(tagOf(node))) t.value = stars(t.value);
        return true;
      });
    }
    if (Array.isArray(data.attributes)) {
      data.attributes = data.attributes.filter((a) => {
        const node = getNode(a.id);
        if (!node) return true;
        if (blocked(node)) return false;
        if (masked(node)) scrubAttributes(a.attributes);
        return true;
      });
    }
  }

  /** The last look at an event before it leaves this document (rrweb plugin eventProcessor). */
  function processEvent(e) {
    if (!e || typeof e !== "object" || !e.data) return e;
    if (e.type === EV_FULL) {
      scrubTree(e.data.node, false, "");
    } else if (e.type === EV_INCREMENTAL && e.data.source === SRC_MUTATION) {
      scrubMutation(e.data);
    } else if (e.type === EV_INCREMENTAL && e.data.source === SRC_INPUT) {
      const node = getNode(e.data.id);
      if (node && (isSecret(node) || blocked(node))) {
        if (typeof e.data.text === "string") e.data.text = "*".repeat(e.data.text.length);
        if (typeof e.data.isChecked === "boolean" && masked(node)) e.data.isChecked = false;
      }
    } else if (e.type === EV_CUSTOM && e.data.payload && typeof e.data.payload === "object") {
      const node = getNode(e.data.payload.id);
      if (node && (masked(node) || blocked(node))) e.data = { tag: "tandem-masked", payload: {} };
    }
    return e;
  }

  return {
    isSecret,
    isMasked: masked,
    isBlocked: blocked,
    processEvent,
    maskSelector,
    blockSelector,
    options: {
      maskAllInputs: true,
      maskInputFn: (text, el) => (isSecret(el) ? "*".repeat(text.length) : text),
      maskTextSelector: maskSelector,
      maskTextFn: (text) => stars(text),
      blockSelector,
      plugins: [{ name: "tandem/mask", eventProcessor: processEvent }], // no observer: only the last look at events
    },
  };
}
