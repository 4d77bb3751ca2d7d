/**
 * Installs the runtime into a window, once. Runs before any page script; leaves
 * no global behind but the non-enumerable `Symbol.for("tandem.runtime")` marker.
 */

import { installCookies } from "./cookies.js";
import { captureNatives, installToStringDisguise } from "./native.js";

export const MARKER = Symbol.for("tandem.runtime");

/** Returns false when the runtime was already installed in `win`. */
export function install(win) {
  const natives = captureNatives(win);
  if (natives.apply(natives.hasOwn, win, [MARKER])) return false;
  natives.defineProperty(win, MARKER, { value: true, enumerable: false, writable: false, configurable: false });
  const disguise = installToStringDisguise(win, natives);
  installCookies(win, natives, disguise);
  return true;
}
