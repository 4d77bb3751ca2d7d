/**
 * DOM attributes, URL properties and CSSOM. Writes are rewritten on the way in,
 * reads give the site's own values back: the exact string it wrote when the
 * attribute still holds what we stored, otherwise the value with every proxied
 * origin mapped back upstream.
 */

import { registerStandIn, wrap } from "./hooks.js";
import { unrewrite } from "./native.js";
import { attrKind, mapValue, mayHoldUrl, URL as URL_KIND } from "./rewrite.js";

const HTML_NS = "http://www.w3.org/1999/xhtml";
const SVG_NS = "http://www.w3.org/2000/svg";
const XLINK_NS = "http://www.w3.org/1999/xlink";

// interface -> [property, attribute]: reflected URL attributes ("prop" alone when the attribute is
// its lower-case name), written compactly: the runtime is on every page (40 KB budget)
const URL_PROPS = Object.fromEntries(`Anchor:href,ping Area:href,ping Link:href,imageSrcset Base:href
Image:src,srcset,lowsrc,longDesc Script:src IFrame:src,srcdoc,longDesc Frame:src,longDesc Embed:src
Object:data,codeBase Media:src Video:poster Source:src,srcset Track:src Input:src,formAction
Button:formAction Form:action Mod:cite Quote:cite Body:background Table:background Meta:content`
  .split(/\s+/).map((entry) => {
    const [iface, props] = entry.split(":");
    return [`HTML${iface}Element`, props.split(",").map((p) => [p, p.toLowerCase()])];
  }));
// read-only URL properties
const URL_READS = { HTMLImageElement: ["currentSrc"], HTMLMediaElement: ["currentSrc"], StyleSheet: ["href"], CSSImportRule: ["href"] };
const LINK_PARTS = ["origin", "protocol", "host", "hostname", "port", "username", "password"];
/** SVG<name>Element interfaces with their own `href`, and the interfaces with their own `style`. */
export const SVG_HREF = "A FEImage Filter Gradient Image MPath Pattern Script TextPath Use".split(" ");
export const STYLED = `HTMLElement SVGElement MathMLElement ${"Style PositionTry Page Margin Keyframe FontFace".replace(/\w+/g, "CSS$&Rule")}`.split(" ");
export function installDom(win, env, h, n) {
  const { apply, method, accessor } = h;
  const { upstream } = env;
  const map = (v) => env.proxy(v);
  const css = env.css;
  const shadow = new WeakMap(); // element -> Map(attr name -> [site's value, value written])
  const nodeType = Object.getOwnPropertyDescriptor(win.Node.prototype, "nodeType").get;
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  const kindOf = (el, name) => {
    const ns = apply(n.namespaceURI, el, []);
    const tag = apply(n.localName, el, []);
    if (ns === HTML_NS) {
      name = name.toLowerCase();
      const refresh = tag === "meta" && name === "content" && `${apply(n.getAttribute, el, ["http-equiv"])}`.toLowerCase() === "refresh";
      return attrKind(tag, name, refresh);
    }
    if (name === "href" || name === "xlink:href") return URL_KIND;
    return name === "style" ? attrKind(tag, name, false) : 0;
  };
  const frameSrc = (el, name) => name.toLowerCase() === "src" && /^i?frame$/.test(apply(n.localName, el, []));
  const mapAttr = (el, name, kind, value) => {
    if (frameSrc(el, name)) return env.frameUrl(value);
    return mapValue(kind, value, map, env.srcdoc);
  };
  const remember = (el, name, site, written) => {
    let m = shadow.get(el);
    if (!m) shadow.set(el, (m = new Map()));
    m.set(name.toLowerCase(), [site, written]);
  };
  const readBack = (el, name, value) => {
    if (value === null) return value;
    const m = shadow.get(el);
    const s = m && m.get(name.toLowerCase());
    return s && s[1] === value ? s[0] : upstream(value);
  };
  /** setAttribute with the value mapped; the native call and its errors are the page's. */
  const setAttr = (el, name, value, ns) => {
    const text = `${value}`;
    const local = ns === undefined ? name : `${name}`.slice(`${name}`.indexOf(":") + 1);
    const kind = ns !== undefined && ns !== null && ns !== XLINK_NS ? 0 : kindOf(el, ns === XLINK_NS ? "xlink:href" : local);
    const mapped = kind ? mapAttr(el, local, kind, text) : text;
    if (ns === undefined) apply(n.setAttribute, el, [name, mapped]);
    else apply(n.setAttributeNS, el, [ns, name, mapped]);
    if (kind) remember(el, local, text, mapped);
  };
  env.setAttr = setAttr;

  const EP = win.Element.prototype;
  method(EP, "setAttribute", () => wrap((self, a) => {
    if (a.length < 2) return apply(n.setAttribute, self, a);
    return setAttr(self, a[0], a[1]);
  }));
  method(EP, "setAttributeNS", () => wrap((self, a) => {
    if (a.length < 3) return apply(n.setAttributeNS, self, a);
    return setAttr(self, a[1], a[2], a[0]);
  }));
  method(EP, "getAttribute", (nat) => wrap((self, a) => {
    const value = apply(nat, self, a);
    if (value === null) return value;
    const name = `${a[0]}`.toLowerCase();
    // data-* values the server rewrote (whole absolute URLs) read back as written, and handlers
    if (name.startsWith("data-") || name.startsWith("on")) return upstream(value);
    // hot: most attributes can never hold a URL, whatever the element
    return mayHoldUrl(name) && kindOf(self, name) ? readBack(self, name, value) : value;
  }));
  method(EP, "getAttributeNS", (nat) => wrap((self, a) => {
    const value = apply(nat, self, a);
    const name = a[0] === XLINK_NS ? "xlink:href" : `${a[1]}`;
    return value !== null && (a[0] === null || a[0] === XLINK_NS || a[0] === "") && kindOf(self, name) ? readBack(self, `${a[1]}`, value) : value;
  }));
  for (const name of ["setAttributeNode", "setAttributeNodeNS"]) {
    method(EP, name, (nat) => wrap((self, a) => {
      const out = apply(nat, self, a);
      try {
        const attr = a[0];
        const kind = kindOf(self, apply(n.attrName, attr, []));
        if (kind) setAttr(self, apply(n.attrName, attr, []), apply(n.attrValue, attr, []));
      } catch {
        // the native call already threw or the node is not an Attr
      }
      return out;
    }));
  }
  // Closed shadow roots are made open, so the recorder (rrweb, through natives of its own) sees
  // them, and look closed to the page: shadowRoot gives null, mode "closed".
  const closed = new WeakSet();
  method(EP, "attachShadow", (nat) => wrap((self, a) => {
    const close = a[0] && a[0].mode === "closed";
    const root = apply(nat, self, close ? [{ ...a[0], mode: "open" }] : a);
    if (close) closed.add(root);
    return root;
  }));
  const sr = accessor(EP, "shadowRoot", (get) => wrap((self) => {
    const root = apply(get, self, []);
    return closed.has(root) ? null : root;
  }));
  // The recorder's one way past that: the native getter, handed once per window and only to a
  // script Tandem serves (/__tandem/record.js claims it before any of its other code runs), so
  // rrweb need not borrow one from a hidden frame. null to anyone else.
  let given = 0;
  n.defineProperty(win, Symbol.for("tandem.shadowRoot"), { value: () => {
    const s = apply(n.currentScript, n.document, []);
    return !given && s && env.isReserved(new n.URLCtor(apply(n.getAttribute, s, ["src"]), n.baseURI())) ? (given = sr.get) : null;
  } });
  if (win.ShadowRoot) accessor(win.ShadowRoot.prototype, "mode", (get) => wrap((self) => (closed.has(self) ? "closed" : apply(get, self, []))));

  // Attr.value / nodeValue / textContent on an attribute attached to an element
  if (win.Attr) {
    const attrRead = (get) => wrap((self) => {
      const value = apply(get, self, []);
      const el = apply(n.ownerElement, self, []);
      const name = apply(n.attrName, self, []);
      return el && kindOf(el, name) ? readBack(el, name, value) : typeof value === "string" ? unrewrite(value) : value;
    });
    const attrWrite = (set) => wrap((self, [value]) => {
      const el = apply(n.ownerElement, self, []);
      const name = apply(n.attrName, self, []);
      if (!el || !kindOf(el, name)) return apply(set, self, [value]);
      const text = `${value}`;
      const mapped = mapAttr(el, name, kindOf(el, name), text);
      apply(set, self, [mapped]);
      remember(el, name, text, mapped);
      return undefined;
    });
    accessor(win.Attr.prototype, "value", attrRead, attrWrite);
    // attr.nodeValue and attr.textContent are Node's accessors: the same for attributes
    const isAttr = (node) => {
      try {
        return apply(nodeType, node, []) === 2;
      } catch {
        return false;
      }
    };
    env.attrAware = (read, write) => [
      (get) => {
        const attrGet = attrRead(get);
        const other = read ? read(get) : get;
        return wrap((self) => (isAttr(self) ? apply(attrGet, self, []) : apply(other, self, [])));
      },
      (set) => {
        const attrSet = attrWrite(set);
        const other = write ? write(set) : set;
        return wrap((self, [value]) => (isAttr(self) ? apply(attrSet, self, [value]) : apply(other, self, [value])));
      },
    ];
    accessor(win.Node.prototype, "nodeValue", ...env.attrAware());
  }

  // Reflected URL properties
  for (const [iface, props] of Object.entries(URL_PROPS)) {
    const proto = win[iface] && win[iface].prototype;
    if (!proto) continue;
    for (const [prop, attr] of props) {
      accessor(
        proto,
        prop,
        (get) => wrap((self) => {
          const value = apply(get, self, []);
          if (typeof value !== "string") return value;
          if (prop === "srcdoc" || prop === "content") return readBack(self, attr, value);
          return upstream(value);
        }),
        () => wrap((self, [value]) => setAttr(self, attr, value)),
      );
    }
  }
  for (const [iface, props] of Object.entries(URL_READS)) {
    const proto = win[iface] && win[iface].prototype;
    for (const prop of props) accessor(proto, prop, h.up);
  }
  // a.host, a.origin, ...: answered from the upstream href
  for (const iface of ["HTMLAnchorElement", "HTMLAreaElement"]) {
    const proto = win[iface] && win[iface].prototype;
    if (!proto) continue;
    const hrefGet = Object.getOwnPropertyDescriptor(proto, "href").get; // wrapped: upstream
    for (const part of LINK_PARTS) {
      accessor(
        proto,
        part,
        (get) => wrap((self) => {
          if (apply(n.getAttribute, self, ["href"]) === null) return apply(get, self, []);
          try {
            return new n.URL(apply(hrefGet, self, []))[part];
          } catch {
            return apply(get, self, []);
          }
        }),
        (set) => wrap((self, [value]) => {
          let u;
          try {
            u = new n.URL(apply(hrefGet, self, []));
          } catch {
            return apply(set, self, [value]);
          }
          u[part] = value;
          return setAttr(self, "href", u.href);
        }),
      );
    }
    method(proto, "toString", () => wrap((self) => apply(hrefGet, self, [])));
  }

  // SVG href.baseVal (SVGAnimatedString of an SVGURIReference)
  const hrefStrings = new WeakMap(); // animated string -> element
  // every SVG element interface with its own href (SVGURIReference), named: looking through every
  // global for them made the browser build ~65 SVG interface objects per window (3-11 ms each);
  // tests/e2e/test_runtime_cost.py checks the names against the browser's
  for (const name of SVG_HREF) {
    const proto = win[`SVG${name}Element`] && win[`SVG${name}Element`].prototype;
    if (proto && own(proto, "href")) accessor(proto, "href", (get) => wrap((self) => {
      const s = apply(get, self, []);
      if (s) hrefStrings.set(s, self);
      return s;
    }));
  }
  if (win.SVGAnimatedString) {
    const P = win.SVGAnimatedString.prototype;
    for (const prop of ["baseVal", "animVal"]) {
      accessor(
        P,
        prop,
        (get) => wrap((self) => {
          const v = apply(get, self, []);
          const el = hrefStrings.get(self);
          return el && typeof v === "string" ? readBack(el, "href", v) : v;
        }),
        (set) => wrap((self, [value]) => {
          const el = hrefStrings.get(self);
          if (!el) return apply(set, self, [value]);
          const text = `${value}`;
          const mapped = map(text);
          apply(set, self, [mapped]);
          remember(el, "href", text, mapped);
          return undefined;
        }),
      );
    }
  }

  // CSSOM. Chromium serves el.style.backgroundImage & co. from a named-property
  // interceptor on each declaration (no accessor to wrap), so declarations handed to
  // the page are Proxies: writes holding url() are rewritten, reads map back.
  const CSD = win.CSSStyleDeclaration && win.CSSStyleDeclaration.prototype;
  if (CSD) {
    const proxies = new WeakMap(); // declaration -> proxy
    // Methods are the prototype's own functions (identity as without Tandem); each of them is
    // a wrapper, and wrappers call natives on the declaration behind a proxy (hooks.js realOf).
    const styleProxy = (decl) => {
      if (!decl || typeof decl !== "object") return decl;
      let p = proxies.get(decl);
      if (p) return p;
      p = new Proxy(decl, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target);
          return typeof v === "string" ? upstream(v) : v;
        },
        set(target, prop, value) {
          const v = typeof value === "string" && /url\(|image-set\(/i.test(value) ? css(value) : value;
          return Reflect.set(target, prop, v, target);
        },
      });
      proxies.set(decl, p);
      registerStandIn(p, decl);
      return p;
    };
    const styleGet = (get) => wrap((self) => styleProxy(apply(get, self, [])));
    // HTMLElement, SVGElement, MathMLElement and the CSS rules with a declaration
    for (const iface of STYLED) {
      const proto = win[iface] && win[iface].prototype;
      if (proto && own(proto, "style")) accessor(proto, "style", styleGet);
    }
    method(win, "getComputedStyle", (nat) => wrap((self, a) => styleProxy(apply(nat, self, a))));
    const readCss = h.up;
    const writeCss = (set) => wrap((self, [value]) => apply(set, self, [value === null ? value : css(value)]));
    accessor(CSD, "cssText", readCss, writeCss);
    method(CSD, "setProperty", h.arg(1, css));
    method(CSD, "getPropertyValue", h.up);
    // every other method and accessor of the declaration: only the receiver changes
    const special = new Set(["cssText", "setProperty", "getPropertyValue", "constructor"]);
    for (const name of Reflect.ownKeys(CSD)) {
      if (typeof name !== "string" || special.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(CSD, name);
      if (typeof d.value === "function") method(CSD, name, (nat) => wrap((self, a) => apply(nat, self, a)));
      else if (d.get) accessor(CSD, name, (get) => wrap((self) => apply(get, self, [])), (set) => wrap((self, [v]) => apply(set, self, [v])));
    }
  }
  if (win.CSSRule) accessor(win.CSSRule.prototype, "cssText", h.up);
  // CSS Typed OM values (CSSImageValue and the rest) serialise with the site's URLs
  if (win.CSSStyleValue) method(win.CSSStyleValue.prototype, "toString", h.up);
  if (win.CSSStyleSheet) {
    const P = win.CSSStyleSheet.prototype;
    for (const name of ["insertRule", "addRule", "replace", "replaceSync"]) {
      const idx = name === "addRule" ? 1 : 0;
      method(P, name, h.arg(idx, css));
    }
  }
  if (win.CSSGroupingRule) {
    method(win.CSSGroupingRule.prototype, "insertRule", h.arg(0, css));
  }
  // <style> text set as text
  // hot (every textContent read): the node type first, so text nodes never throw and catch
  const tagOf = (el) => {
    try {
      return apply(nodeType, el, []) === 1 ? apply(n.localName, el, []) : "";
    } catch {
      return "";
    }
  };
  const isStyle = (el) => tagOf(el) === "style";
  const textWrite = (set) => wrap((self, [value]) => apply(set, self, [isStyle(self) && value !== null ? css(value) : value]));
  // a <style>'s text with the site's URLs, a <script>'s as the site wrote it (upstream does both)
  const textRead = (get) => wrap((self) => {
    const v = apply(get, self, []);
    return typeof v === "string" && /^s(tyle|cript)$/.test(tagOf(self)) ? upstream(v) : v;
  });
  accessor(win.Node.prototype, "textContent", ...(env.attrAware ? env.attrAware(textRead, textWrite) : [textRead, textWrite]));
  if (win.HTMLElement) {
    accessor(win.HTMLElement.prototype, "innerText", textRead, textWrite);
  }
  // (a script's textContent and innerText are its own accessors: Trusted Types)
  const SP = win.HTMLScriptElement && win.HTMLScriptElement.prototype;
  for (const name of ["text", "textContent", "innerText"]) if (SP && own(SP, name)) accessor(SP, name, textRead);
  env.isStyle = isStyle;
}
