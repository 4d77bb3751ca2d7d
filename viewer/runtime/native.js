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

/** Everything later calls need, taken from `win` now. */
export function captureNatives(win) {
  const XHR = win.XMLHttpRequest;
  const xhrProto = XHR && XHR.prototype;
  return {
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
    location: win.location,
    XMLHttpRequest: XHR,
    xhrOpen: xhrProto && xhrProto.open,
    xhrSend: xhrProto && xhrProto.send,
    xhrStatus: getterOf(xhrProto, "status"),
    xhrResponseText: getterOf(xhrProto, "responseText"),
    documentDefaultView: win.Document && getterOf(win.Document.prototype, "defaultView"),
  };
}

/**
 * Replace `Function.prototype.toString` by a wrapper that answers the native
 * source text for every registered wrapper (itself included). Returns
 * `disguise(wrapper, native)`, which registers one and returns the wrapper.
 */
export function installToStringDisguise(win, natives) {
  const { functionToString, weakMapGet, weakMapHas, weakMapSet } = natives;
  const sources = new natives.WeakMap();
  const wrapper = {
    toString() {
      if (apply(weakMapHas, sources, [this])) return apply(weakMapGet, sources, [this]);
      return apply(functionToString, this, []);
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
