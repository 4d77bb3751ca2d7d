/**
 * Native references and wrapper disguise.
 *
 * The runtime runs before any page script, so what it reads here is the browser's
 * own. Code that runs later, when the page may have patched anything, calls only
 * these saved references (never `xhr.open(...)`, `map.get(...)` and the like).
 * Wrappers are registered with `disguise(wrapper, native)`, after which
 * `Function.prototype.toString` shows the native's source text for them.
 */

const { apply, getOwnPropertyDescriptor: reflectDescriptor } = Reflect;

/** The getter of `proto[name]` or undefined. */
function getterOf(proto, name) {
  const desc = proto && reflectDescriptor(proto, name);
  return desc ? desc.get : undefined;
}
function setterOf(proto, name) {
  const desc = proto && reflectDescriptor(proto, name);
  return desc ? desc.set : undefined;
}
const protoOf = (win, name) => win[name] && win[name].prototype;

/** Everything later calls need, taken from `win` now. */
export function captureNatives(win) {
  const XHR = win.XMLHttpRequest;
  const xhrProto = XHR && XHR.prototype;
  const E = protoOf(win, "Element");
  const N = protoOf(win, "Node");
  const D = protoOf(win, "Document");
  const loc = win.location;
  const natives = {
    apply,
    defineProperty: win.Object.defineProperty,
    getOwnPropertyDescriptor: win.Object.getOwnPropertyDescriptor,
    hasOwn: win.Object.prototype.hasOwnProperty,
    functionToString: win.Function.prototype.toString,
    WeakMap: win.WeakMap,
    weakMapGet: win.WeakMap.prototype.get,
    weakMapHas: win.WeakMap.prototype.has,
    weakMapSet: win.WeakMap.prototype.set,
    encodeURIComponent: win.encodeURIComponent,
    location: loc,
    URL: win.URL,
    URLCtor: win.URL,
    Blob: win.Blob,
    atob: ((atob) => (text) => apply(atob, win, [text]))(win.atob),
    createObjectURL: win.URL && win.URL.createObjectURL,
    origin: win.origin, // still the browser's own getter: nothing is hooked yet
    XMLHttpRequest: XHR,
    xhrOpen: xhrProto && xhrProto.open,
    xhrSend: xhrProto && xhrProto.send,
    xhrStatus: getterOf(xhrProto, "status"),
    xhrResponseText: getterOf(xhrProto, "responseText"),
    xhrGetResponseHeader: xhrProto && xhrProto.getResponseHeader,
    requestUrl: getterOf(protoOf(win, "Request"), "url"),
    entryName: getterOf(protoOf(win, "PerformanceEntry"), "name"),
    addEventListener: win.EventTarget && win.EventTarget.prototype.addEventListener,
    preventDefault: win.Event && win.Event.prototype.preventDefault,
    documentDefaultView: getterOf(D, "defaultView"),
    opener: getterOf(win, "opener"), // on the window itself (a page may shadow it)
  };
  if (!D || !E || !N) return natives;
  const doc = win.document;
  return Object.assign(natives, {
    document: doc,
    currentScript: getterOf(D, "currentScript"),
    implementation: getterOf(D, "implementation"),
    createHTMLDocument: protoOf(win, "DOMImplementation")?.createHTMLDocument,
    createElement: D.createElement,
    createElementNS: D.createElementNS,
    baseURI: ((get) => () => apply(get, win.document, []))(getterOf(N, "baseURI")),
    textContentGet: getterOf(N, "textContent"),
    textContentSet: setterOf(N, "textContent"),
    appendChild: N.appendChild,
    parentElement: getterOf(N, "parentElement"),
    namespaceURI: getterOf(E, "namespaceURI"),
    localName: getterOf(E, "localName"),
    firstElementChild: getterOf(E, "firstElementChild"),
    setAttribute: E.setAttribute,
    setAttributeNS: E.setAttributeNS,
    getAttribute: E.getAttribute,
    getAttributeNames: E.getAttributeNames,
    /** querySelectorAll on an element, document or fragment (each has its own native). */
    qsa: ((el, doc, frag) => (scope, selector) =>
      apply(scope.nodeType === 9 ? doc : scope.nodeType === 11 ? frag : el, scope, [selector]))(
      E.querySelectorAll, D.querySelectorAll, protoOf(win, "DocumentFragment")?.querySelectorAll),
    templateContent: getterOf(protoOf(win, "HTMLTemplateElement"), "content"),
    innerHTMLGet: getterOf(E, "innerHTML"),
    innerHTMLSet: setterOf(E, "innerHTML"),
    attrName: getterOf(protoOf(win, "Attr"), "name"),
    attrValue: getterOf(protoOf(win, "Attr"), "value"),
    ownerElement: getterOf(protoOf(win, "Attr"), "ownerElement"),
    iframeWindow: getterOf(protoOf(win, "HTMLIFrameElement"), "contentWindow"),
    frameWindow: getterOf(protoOf(win, "HTMLFrameElement"), "contentWindow"),
    objectWindow: getterOf(protoOf(win, "HTMLObjectElement"), "contentWindow"),
    formSubmit: protoOf(win, "HTMLFormElement")?.submit,
    locationAssign: loc && loc.assign,
    locationReplace: loc && loc.replace,
    navDestination: getterOf(protoOf(win, "NavigateEvent"), "destination"),
    destinationUrl: getterOf(protoOf(win, "NavigationDestination"), "url"),
    navCancelable: getterOf(protoOf(win, "Event"), "cancelable"),
    navFormData: getterOf(protoOf(win, "NavigateEvent"), "formData"),
    navType: getterOf(protoOf(win, "NavigateEvent"), "navigationType"),
  });
}

// What rewriter/jslocation.py inserts around an expression: `(globalThis[Symbol.for("tandem.x")]||F)(` ... `)`
// (in a serialised attribute value its quotes are &quot;)
const INSERTED_RE = /\(globalThis\[Symbol\.for\((?:"|&quot;)tandem\.\w+(?:"|&quot;)\)\]\|\|\w+\)\(/;

/** Source text with the JS rewriter's insertions taken out (each with its closing parenthesis). */
export function unrewrite(src) {
  if (!src.includes("Symbol.for(")) return src;
  for (let m; (m = INSERTED_RE.exec(src));) {
    let i = m.index + m[0].length;
    for (let depth = 1; depth; i++) {
      const c = src[i];
      if (c === undefined) return src;
      if (c === "(") depth++;
      else if (c === ")") depth--;
      else if (c === '"' || c === "'" || c === "`") {
        for (i++; i < src.length && src[i] !== c; i++) if (src[i] === "\\") i++;
      }
    }
    src = src.slice(0, m.index) + src.slice(m.index + m[0].length, i - 1) + src.slice(i);
  }
  return src;
}

/**
 * Replace `Function.prototype.toString` by a wrapper that answers the native
 * source text for every registered wrapper (itself included), and a site function's
 * source as the site wrote it (without the JS rewriter's insertions). Returns
 * `disguise(wrapper, native)`, which registers one and returns the wrapper.
 */
export function installToStringDisguise(win, natives) {
  const { functionToString, weakMapGet, weakMapHas, weakMapSet } = natives;
  const sources = new natives.WeakMap();
  const wrapper = {
    toString() {
      if (apply(weakMapHas, sources, [this])) return apply(weakMapGet, sources, [this]);
      const src = apply(functionToString, this, []);
      return unrewrite(src);
    },
  }.toString;
  const disguise = (fake, real) => {
    apply(weakMapSet, sources, [fake, apply(functionToString, real, [])]);
    return fake;
  };
  disguise(wrapper, functionToString);
  const proto = win.Function.prototype;
  const desc = natives.getOwnPropertyDescriptor(proto, "toString");
  natives.defineProperty(proto, "toString", { ...desc, value: wrapper });
  return disguise;
}
