/**
 * What never leaves the leader's browser. rrweb calls `maskInputFn` for every input
 * value it serialises (snapshot, input events, `value` attribute changes) because
 * every input type is opted in; we answer the real value only for fields that are
 * not sensitive. Text inside masked elements is starred by rrweb's maskTextSelector;
 * blocked elements become empty placeholders of the same size.
 */

// autocomplete tokens whose values are secrets (WHATWG autofill field names).
const SECRET_AUTOCOMPLETE = /(^|\s)(cc-[a-z-]+|current-password|new-password|one-time-code)(\s|$)/i;
// Payment fields named by habit rather than by autocomplete.
const PAYMENT_NAME = /(card.?(number|num|no)|cc.?(num|number|no)|cvc|cvv|csc|security.?code|card.?exp|iban)/i;

export const BUILTIN_MASK = "[data-tandem-mask]";
export const BUILTIN_BLOCK = "[data-tandem-block], tandem-panel";

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

export function makeMasking(doc, extraMask, extraBlock) {
  const maskSelector = [BUILTIN_MASK, ...validSelectors(extraMask, doc)].join(", ");
  const blockSelector = [BUILTIN_BLOCK, ...validSelectors(extraBlock, doc)].join(", ");

  function isSecret(el) {
    if (!el || el.nodeType !== 1) return false;
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (type === "password" || el.hasAttribute("data-rr-is-password")) return true;
    if (SECRET_AUTOCOMPLETE.test(el.getAttribute("autocomplete") || "")) return true;
    if (PAYMENT_NAME.test(el.getAttribute("name") || "") || PAYMENT_NAME.test(el.id || "")) return true;
    try {
      return Boolean(el.closest(maskSelector));
    } catch (_) {
      return true;
    }
  }

  return {
    isSecret,
    maskSelector,
    blockSelector,
    options: {
      maskAllInputs: true,
      maskInputFn: (text, el) => (isSecret(el) ? "*".repeat(text.length) : text),
      maskTextSelector: maskSelector,
      maskTextFn: (text) => text.replace(/\S/g, "*"),
      blockSelector,
    },
  };
}
