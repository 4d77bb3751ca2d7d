/**
 * Wrapping helpers. Every wrapper keeps the native's name and length, is registered
 * with `disguise` (so `Function.prototype.toString` shows native code) and calls
 * the native through the saved `Reflect.apply`, never through page-reachable
 * `.call`, and errors it throws carry the page's stack, not the runtime's. A wrapper that throws never leaves the page with a half-installed
 * runtime: each hook is installed on its own and a missing API is skipped.
 */

const { apply, construct, getOwnPropertyDescriptor, defineProperty, getPrototypeOf } = Reflect;
const captureStackTrace = Error.captureStackTrace; // V8's; taken before any page script runs
const PromiseCtor = Promise;
const promiseReject = Promise.reject;
const WeakMapCtor = WeakMap;
const weakMapGet = WeakMap.prototype.get;
const weakMapSet = WeakMap.prototype.set;

/**
 * Receiver discipline. Objects the runtime hands the page in place of a native one
 * (Proxies, e.g. style declarations) are registered here with the object they stand
 * for; every wrapper calls its native with the real object, whichever way the page
 * calls it (`decl.m()`, `proto.m.call(decl)`, a method taken from one declaration and
 * called on another, from another frame of this runtime).
 */
const standIns = new WeakMapCtor(); // stand-in -> the native object it stands for
export function registerStandIn(standIn, real) {
  apply(weakMapSet, standIns, [standIn, real]);
}
/** The native object behind `value` when it is a registered stand-in, else `value`. */
export function realOf(value) {
  const real = apply(weakMapGet, standIns, [value]);
  return real === undefined ? value : real;
}

/**
 * An error leaving a wrapper gets its stack captured again from the wrapper's caller,
 * so the page's stack traces show its own frames, not the runtime's (proxy URLs).
 */
function hideFrames(err, above) {
  if (captureStackTrace && err !== null && typeof err === "object") {
    try {
      apply(captureStackTrace, Error, [err, above]);
    } catch {
      // a frozen error keeps its stack
    }
  }
}

/** The object on `obj`'s prototype chain that owns `name`, or null. */
export function ownerOf(obj, name) {
  for (let o = obj; o; o = getPrototypeOf(o)) {
    if (getOwnPropertyDescriptor(o, name)) return o;
  }
  return null;
}

export function makeHooks(disguise) {
  const fix = (fake, real, name) => {
    defineProperty(fake, "name", { value: name === undefined ? real.name : name, configurable: true });
    defineProperty(fake, "length", { value: real.length, configurable: true });
    return disguise(fake, real);
  };

  /** Replace method `name` of `proto` by `make(native)`; returns the native or undefined. */
  const method = (proto, name, make) => {
    const owner = proto && ownerOf(proto, name);
    const d = owner && getOwnPropertyDescriptor(owner, name);
    if (!d || typeof d.value !== "function") return undefined;
    defineProperty(owner, name, { ...d, value: fix(make(d.value), d.value) });
    return d.value;
  };

  /**
   * Replace accessor `name`: `get(nativeGet)` / `set(nativeSet)` return the new
   * functions (either may be omitted to keep the native). Returns the native descriptor.
   */
  const accessor = (proto, name, get, set) => {
    const owner = proto && ownerOf(proto, name);
    const d = owner && getOwnPropertyDescriptor(owner, name);
    if (!d || !d.get) return undefined;
    const out = { ...d };
    if (get) out.get = fix(get(d.get), d.get);
    if (set && d.set) out.set = fix(set(d.set), d.set);
    defineProperty(owner, name, out);
    return d;
  };

  /**
   * Replace constructor `win[name]` by a Proxy whose construct trap maps the
   * arguments with `mapArgs(args)`; `prototype.constructor` points at the proxy.
   */
  const ctor = (win, name, mapArgs) => {
    const Native = win[name];
    if (typeof Native !== "function") return undefined;
    const d = getOwnPropertyDescriptor(win, name);
    const traps = {
      construct(target, args, newTarget) {
        try {
          return construct(target, mapArgs([...args]), newTarget === proxy ? target : newTarget);
        } catch (err) {
          hideFrames(err, traps.construct);
          throw err;
        }
      },
    };
    const proxy = new Proxy(Native, traps);
    disguise(proxy, Native);
    const pd = Native.prototype && getOwnPropertyDescriptor(Native.prototype, "constructor");
    if (pd && pd.value === Native) defineProperty(Native.prototype, "constructor", { ...pd, value: proxy });
    defineProperty(win, name, { ...d, value: proxy });
    return Native;
  };

  return { apply, method, accessor, ctor, fix };
}

/**
 * A method function (no prototype, not a constructor, like natives) calling
 * `body(thisValue, argsArray)`. With `rejects`, an error becomes a rejected promise,
 * as it does for promise-returning natives such as fetch.
 */
export const wrap = (body, rejects = false) => {
  const w = ({
    w(...args) {
      try {
        return body(realOf(this), args);
      } catch (err) {
        hideFrames(err, w);
        if (rejects) return apply(promiseReject, PromiseCtor, [err]);
        throw err;
      }
    },
  }).w;
  return w;
};
