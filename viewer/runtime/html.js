/**
 * Markup the page hands to the DOM as a string: innerHTML, outerHTML,
 * insertAdjacentHTML, setHTMLUnsafe, createContextualFragment, DOMParser,
 * document.write. Fragments are parsed in an inert document (no browsing context:
 * nothing loads, nothing runs) in the same context element the native call would
 * use, their URLs rewritten in the tree, and the result serialised for the native
 * call; strings without anything that could be an absolute URL skip all of it.
 * `document.write` chunks need not be whole elements, so they are rewritten as
 * text (start tags only). Serialisations read back give upstream URLs.
 */

import { wrap } from "./hooks.js";
import { mapMarkup, mapDocument } from "./rewrite.js";

const OPEN_TAG_RE = /<[a-zA-Z](?:[^>"']|"[^"]*"|'[^']*')*(?:"[^"]*|'[^']*)?$/;
const MAY_NEED = /[/\\]{2}|(?:https?|wss?):|srcdoc|http-equiv/i;
const URL_ATTRS = "[href],[src],[action],[formaction],[poster],[background],[srcset],[imagesrcset],[style],[data],[ping],[srcdoc],[codebase],[cite],[longdesc],[manifest],[icon],[lowsrc],[dynsrc],[content]";

export function installHtml(win, env, h, n) {
  const { apply, method, accessor } = h;
  const { upstream } = env;
  const doc = win.document;
  const inert = apply(n.createHTMLDocument, apply(n.implementation, doc, []), [""]);
  const map = (v) => env.proxy(v);

  /** Rewrite every URL attribute and <style> below `root` in place (an inert or detached tree). */
  const rewriteTree = (root) => {
    let changed = false;
    const visit = (scope) => {
      if (scope.nodeType === 1 && apply(n.localName, scope, []) === "template") visit(apply(n.templateContent, scope, []));
      const els = n.qsa(scope, `${URL_ATTRS},style,template,svg *`);
      for (let i = 0; i < els.length; i++) {
        const el = els[i];
        if (env.isStyle(el)) {
          const text = apply(n.textContentGet, el, []);
          const mapped = env.css(text);
          if (mapped !== text) {
            apply(n.textContentSet, el, [mapped]);
            changed = true;
          }
        }
        const names = apply(n.getAttributeNames, el, []);
        for (const name of names) {
          const before = apply(n.getAttribute, el, [name]);
          env.setAttr(el, name, before);
          if (apply(n.getAttribute, el, [name]) !== before) changed = true;
        }
        if (apply(n.localName, el, []) === "template") visit(apply(n.templateContent, el, []));
      }
    };
    visit(root);
    return changed;
  };
  env.rewriteTree = rewriteTree;

  /** `html` as the native call in context element `ctx` should receive it. */
  const fragment = (html, ctx) => {
    html = `${html}`;
    if (!MAY_NEED.test(html)) return html;
    let box;
    try {
      const ns = ctx && apply(n.namespaceURI, ctx, []);
      const tag = ctx ? apply(n.localName, ctx, []) : "body";
      box = ns && ns !== "http://www.w3.org/1999/xhtml" ? apply(n.createElementNS, inert, [ns, tag]) : apply(n.createElement, inert, [tag === "html" ? "body" : tag]);
    } catch {
      box = apply(n.createElement, inert, ["body"]);
    }
    apply(n.innerHTMLSet, box, [html]);
    return rewriteTree(box) ? apply(n.innerHTMLGet, box, []) : html;
  };
  const parentOf = (el) => apply(n.parentElement, el, []) || null;
  const after = (node) => env.afterInsert && env.afterInsert(node);

  // innerHTML / outerHTML on Element and ShadowRoot
  const serialRead = h.up;
  accessor(win.Element.prototype, "innerHTML", serialRead, (set) => wrap((self, [v]) => {
    apply(set, self, [v === null ? v : fragment(v, env.isStyle(self) ? null : self)]);
    after(self);
  }));
  accessor(win.Element.prototype, "outerHTML", serialRead, (set) => wrap((self, [v]) => {
    const parent = parentOf(self);
    apply(set, self, [v === null ? v : fragment(v, parent)]);
    if (parent) after(parent);
  }));
  if (win.ShadowRoot) {
    accessor(win.ShadowRoot.prototype, "innerHTML", serialRead, (set) => wrap((self, [v]) => {
      apply(set, self, [v === null ? v : fragment(v, null)]);
      after(self);
    }));
  }
  method(win.Element.prototype, "insertAdjacentHTML", (nat) => wrap((self, a) => {
    if (a.length > 1) {
      const where = `${a[0]}`.toLowerCase();
      const outside = where === "beforebegin" || where === "afterend";
      a[1] = fragment(a[1], outside ? parentOf(self) : self);
    }
    const out = apply(nat, self, a);
    after(parentOf(self) || self);
    return out;
  }));
  for (const P of [win.Element.prototype, win.ShadowRoot && win.ShadowRoot.prototype]) {
    method(P, "setHTMLUnsafe", (nat) => wrap((self, a) => {
      if (a.length) a[0] = fragment(a[0], P === win.Element.prototype ? self : null);
      const out = apply(nat, self, a);
      after(self);
      return out;
    }));
    method(P, "getHTML", h.up);
  }
  if (win.Range) {
    method(win.Range.prototype, "createContextualFragment", (nat) => wrap((self, a) => {
      if (a.length) {
        let ctx = null;
        try {
          ctx = self.startContainer;
          if (ctx && ctx.nodeType !== 1) ctx = apply(n.parentElement, ctx, []);
        } catch {
          ctx = null;
        }
        a[0] = fragment(a[0], ctx);
      }
      return apply(nat, self, a);
    }));
  }
  if (win.XMLSerializer) {
    method(win.XMLSerializer.prototype, "serializeToString", h.up);
  }
  // Parsed documents: nothing loads in them, but their nodes may be adopted
  if (win.DOMParser) {
    method(win.DOMParser.prototype, "parseFromString", (nat) => wrap((self, a) => {
      const out = apply(nat, self, a);
      try {
        rewriteTree(out);
      } catch {
        // a document we can't walk (parser error document) stays as parsed
      }
      return out;
    }));
  }
  if (win.Document && win.Document.parseHTMLUnsafe) {
    method(win.Document, "parseHTMLUnsafe", (nat) => wrap((self, a) => {
      const out = apply(nat, self, a);
      rewriteTree(out);
      return out;
    }));
  }
  // document.write: chunks are rewritten as text. A chunk that ends inside a start
  // tag is held until the tag is complete (next write, or a microtask: still inside
  // the writing script, so the parser's insertion point is where it was).
  const held = new WeakMap(); // document -> unfinished start tag
  const nativeWrite = win.Document.prototype.write;
  const flush = (d) => {
    const rest = held.get(d);
    if (rest === undefined) return;
    held.delete(d);
    apply(nativeWrite, d, [mapMarkup(rest, map, env.srcdoc)]);
  };
  for (const name of ["write", "writeln"]) {
    method(win.Document.prototype, name, () => wrap((self, a) => {
      let text = (held.get(self) || "") + a.join("") + (name === "writeln" ? "\n" : "");
      held.delete(self);
      const open = OPEN_TAG_RE.exec(text);
      if (open) {
        held.set(self, open[0]);
        text = text.slice(0, open.index);
        queueMicrotask(() => flush(self));
      }
      return apply(nativeWrite, self, [mapMarkup(text, map, env.srcdoc)]);
    }));
  }
  method(win.Document.prototype, "close", (nat) => wrap((self, a) => {
    flush(self);
    return apply(nat, self, a);
  }));
  // iframe srcdoc documents: rewritten, with the runtime first
  env.srcdoc = (html) => mapDocument(`${html}`, map, `<script src="${env.runtimeUrl}"></script>`);
}
