/**
 * Performs a controlling follower's input on the real page, in the leader's browser.
 *
 * Targets: by rrweb node id (the follower picked the element in its mirror), else
 * by the point (x, y) in the leader's viewport, descending into same-origin frames.
 * Cross-origin frames are refused: their content belongs to another site, and
 * letting the parent page's channel drive them would hand one origin the other's clicks.
 *
 * Text goes in the way framework-controlled inputs (React, Vue) expect: the native
 * `value` setter (bypassing the framework's own tracker), then `beforeinput`/`input`
 * events; contenteditable uses the editing command. Keys are dispatched as events
 * first and their default action performed only when the page did not cancel them.
 * Returns null when done, or {code, text} explaining a refusal.
 */

const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex], [contenteditable=''], [contenteditable=true]";
const TEXT_TYPES = new Set(["", "text", "search", "url", "tel", "email", "password", "number"]);
const SELECTION_TYPES = new Set(["", "text", "search", "url", "tel", "password"]);

function refusal(code, text) {
  return { code, text };
}

function frameOffset(doc) {
  // Sum of frame rectangles from `doc`'s window up to the top document.
  let x = 0;
  let y = 0;
  let win = doc.defaultView;
  while (win && win.frameElement) {
    const r = win.frameElement.getBoundingClientRect();
    x += r.left + win.frameElement.clientLeft;
    y += r.top + win.frameElement.clientTop;
    win = win.parent;
  }
  return { x, y };
}

function deepFromPoint(doc, x, y) {
  let el = doc.elementFromPoint(x, y);
  while (el && el.shadowRoot) {
    const inner = el.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === el) break;
    el = inner;
  }
  if (el && el.tagName === "IFRAME") {
    let inner = null;
    try {
      inner = el.contentDocument;
    } catch (_) {
      inner = null;
    }
    if (!inner) return { el, crossOrigin: true };
    const r = el.getBoundingClientRect();
    return deepFromPoint(inner, x - r.left - el.clientLeft, y - r.top - el.clientTop);
  }
  return { el, x, y };
}

export function makeControl({ mirror, doc }) {
  const win = doc.defaultView;

  function resolve(i) {
    let el = typeof i.id === "number" ? mirror.getNode(i.id) : null;
    if (el && el.nodeType === 3) el = el.parentElement;
    if (el && el.nodeType === 1 && el.isConnected && el.tagName !== "IFRAME") {
      const off = frameOffset(el.ownerDocument);
      return { el, x: (i.x || 0) - off.x, y: (i.y || 0) - off.y };
    }
    if (typeof i.x !== "number" || typeof i.y !== "number") return { el: null };
    return deepFromPoint(doc, i.x, i.y);
  }

  function activeElement() {
    let el = doc.activeElement;
    for (;;) {
      if (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
      else if (el && el.tagName === "IFRAME") {
        let inner = null;
        try {
          inner = el.contentDocument;
        } catch (_) {
          inner = null;
        }
        if (!inner || !inner.activeElement) break;
        el = inner.activeElement;
      } else break;
    }
    return el;
  }

  function mouse(el, type, x, y, extra) {
    const w = el.ownerDocument.defaultView;
    const Ctor = type.startsWith("pointer") ? w.PointerEvent || w.MouseEvent : type === "wheel" ? w.WheelEvent : w.MouseEvent;
    const init = {
      bubbles: true, cancelable: true, composed: true, view: w, clientX: x, clientY: y,
      screenX: x, screenY: y, button: 0, buttons: 0, detail: 1, pointerId: 1, pointerType: "mouse", isPrimary: true,
      ...extra,
    };
    return el.dispatchEvent(new Ctor(type, init));
  }

  function key(el, type, k) {
    const w = el.ownerDocument.defaultView;
    return el.dispatchEvent(new w.KeyboardEvent(type, {
      bubbles: true, cancelable: true, composed: true, view: w, key: k.key, code: k.code || "",
      ctrlKey: !!k.ctrl, shiftKey: !!k.shift, altKey: !!k.alt, metaKey: !!k.meta,
    }));
  }

  function isFileInput(el) {
    if (!el) return false;
    if (el.tagName === "INPUT" && (el.type || "").toLowerCase() === "file") return true;
    const label = el.closest && el.closest("label");
    return Boolean(label && label.control && label.control.type === "file");
  }

  function isTextField(el) {
    if (!el) return false;
    if (el.tagName === "TEXTAREA") return true;
    return el.tagName === "INPUT" && TEXT_TYPES.has((el.getAttribute("type") || "").toLowerCase());
  }

  function nativeValueSetter(el) {
    const w = el.ownerDocument.defaultView;
    const proto = el.tagName === "TEXTAREA" ? w.HTMLTextAreaElement.prototype
      : el.tagName === "SELECT" ? w.HTMLSelectElement.prototype : w.HTMLInputElement.prototype;
    return Object.getOwnPropertyDescriptor(proto, "value").set;
  }

  function selection(el) {
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (el.tagName === "TEXTAREA" || SELECTION_TYPES.has(type)) {
      const s = el.selectionStart;
      const e = el.selectionEnd;
      if (typeof s === "number" && typeof e === "number") return [s, e];
    }
    return [el.value.length, el.value.length];
  }

  function editValue(el, makeNext, inputType, data) {
    const w = el.ownerDocument.defaultView;
    if (el.readOnly || el.disabled) return refusal("read_only", "That field cannot be edited.");
    const [start, end] = selection(el);
    const next = makeNext(el.value, start, end);
    if (!next) return null;
    if (!el.dispatchEvent(new w.InputEvent("beforeinput", { bubbles: true, cancelable: true, composed: true, inputType, data }))) return null;
    let value = next.value;
    const max = el.maxLength;
    if (typeof max === "number" && max >= 0 && value.length > max && value.length > el.value.length) return null;
    nativeValueSetter(el).call(el, value);
    try {
      el.setSelectionRange(next.caret, next.caret);
    } catch (_) {
      /* types without a selection API */
    }
    el.dispatchEvent(new w.InputEvent("input", { bubbles: true, composed: true, inputType, data }));
    return null;
  }

  function insertText(el, text) {
    if (isTextField(el)) {
      if (el.tagName === "INPUT") text = text.replace(/[\r\n]+/g, " ");
      return editValue(el, (v, s, e) => ({ value: v.slice(0, s) + text + v.slice(e), caret: s + text.length }), "insertText", text);
    }
    if (el && el.isContentEditable) {
      el.ownerDocument.execCommand("insertText", false, text);
      return null;
    }
    return refusal("no_field", "Click into a text field first.");
  }

  function deleteText(el, forward) {
    if (isTextField(el)) {
      return editValue(el, (v, s, e) => {
        if (s !== e) return { value: v.slice(0, s) + v.slice(e), caret: s };
        if (forward) return s < v.length ? { value: v.slice(0, s) + v.slice(s + 1), caret: s } : null;
        return s > 0 ? { value: v.slice(0, s - 1) + v.slice(s), caret: s - 1 } : null;
      }, forward ? "deleteContentForward" : "deleteContentBackward", null);
    }
    if (el && el.isContentEditable) el.ownerDocument.execCommand(forward ? "forwardDelete" : "delete", false);
    return null;
  }

  function focusables(root) {
    return [...root.querySelectorAll(FOCUSABLE)].filter(
      (e) => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0 && !(e.type === "hidden"),
    );
  }

  function moveFocus(el, back) {
    const list = focusables((el && el.ownerDocument) || doc);
    const at = list.indexOf(el);
    const next = list[(at + (back ? -1 : 1) + list.length) % list.length];
    if (next) next.focus();
  }

  function click(el, x, y, detail) {
    const down = mouse(el, "pointerdown", x, y, { buttons: 1, detail }) && mouse(el, "mousedown", x, y, { buttons: 1, detail });
    if (down) {
      const focusable = el.closest(FOCUSABLE);
      if (focusable && typeof focusable.focus === "function") focusable.focus();
      else if (doc.activeElement && doc.activeElement !== doc.body) doc.activeElement.blur();
    }
    mouse(el, "pointerup", x, y, { detail });
    mouse(el, "mouseup", x, y, { detail });
    mouse(el, "click", x, y, { detail });
  }

  function scrollTarget(el, dx, dy) {
    for (let n = el; n && n.nodeType === 1; n = n.parentElement || (n.getRootNode && n.getRootNode().host)) {
      const style = n.ownerDocument.defaultView.getComputedStyle(n);
      const canY = dy && /(auto|scroll|overlay)/.test(style.overflowY) && n.scrollHeight > n.clientHeight;
      const canX = dx && /(auto|scroll|overlay)/.test(style.overflowX) && n.scrollWidth > n.clientWidth;
      if (canY || canX) return n;
    }
    return null;
  }

  const perform = {
    click(i) {
      const t = resolve(i);
      if (t.crossOrigin) return refusal("frame", "Control inside embedded pages from other sites is not available.");
      if (!t.el) return refusal("no_target", "Nothing to click there.");
      if (isFileInput(t.el)) return refusal("file_input", "Only the tab owner can choose files to upload.");
      if (t.el.tagName === "SELECT" || t.el.closest("select")) {
        (t.el.closest("select") || t.el).focus();
        return null;
      }
      click(t.el, t.x, t.y, 1);
      return null;
    },
    dblclick(i) {
      const t = resolve(i);
      if (t.crossOrigin) return refusal("frame", "Control inside embedded pages from other sites is not available.");
      if (!t.el || isFileInput(t.el)) return null;
      click(t.el, t.x, t.y, 1);
      click(t.el, t.x, t.y, 2);
      mouse(t.el, "dblclick", t.x, t.y, { detail: 2 });
      return null;
    },
    contextmenu(i) {
      const t = resolve(i);
      if (t.el && !t.crossOrigin) mouse(t.el, "contextmenu", t.x, t.y, { button: 2, buttons: 2 });
      return null;
    },
    wheel(i) {
      const t = resolve(i);
      const dx = Number(i.dx) || 0;
      const dy = Number(i.dy) || 0;
      if (t.crossOrigin || !t.el) {
        win.scrollBy(dx, dy);
        return null;
      }
      if (!mouse(t.el, "wheel", t.x, t.y, { deltaX: dx, deltaY: dy, deltaMode: 0 })) return null;
      const box = scrollTarget(t.el, dx, dy);
      if (box) box.scrollBy(dx, dy);
      else t.el.ownerDocument.defaultView.scrollBy(dx, dy);
      return null;
    },
    text(i) {
      const el = activeElement();
      if (!el || el === doc.body) return refusal("no_field", "Click into a text field first.");
      if (i.text.length === 1) {
        const k = { key: i.text };
        if (!key(el, "keydown", k)) return null;
        key(el, "keypress", k);
        const r = insertText(el, i.text);
        key(el, "keyup", k);
        return r;
      }
      return insertText(el, i.text);
    },
    key(i) {
      const el = activeElement() || doc.body;
      const k = { key: i.key, code: i.code, ctrl: i.ctrl, shift: i.shift, alt: i.alt, meta: i.meta };
      if (!key(el, "keydown", k)) {
        key(el, "keyup", k);
        return null;
      }
      let result = null;
      switch (i.key) {
        case "Backspace":
        case "Delete":
          result = deleteText(el, i.key === "Delete");
          break;
        case "Enter":
          if (el.tagName === "TEXTAREA") result = insertText(el, "\n");
          else if (el.isContentEditable) el.ownerDocument.execCommand("insertParagraph", false);
          else if (el.tagName === "INPUT" && el.form) {
            if (["checkbox", "radio", "submit", "button", "reset"].includes(el.type)) el.click();
            else el.form.requestSubmit();
          } else if (el.tagName === "A" || el.tagName === "BUTTON" || el.tagName === "SUMMARY") el.click();
          break;
        case " ":
          if (["checkbox", "radio", "submit", "button"].includes(el.type) || el.tagName === "BUTTON") el.click();
          else result = insertText(el, " ");
          break;
        case "Tab":
          moveFocus(el, i.shift);
          break;
        case "ArrowLeft":
        case "ArrowRight":
        case "Home":
        case "End":
          if (isTextField(el)) {
            const [s] = selection(el);
            const pos = i.key === "Home" ? 0 : i.key === "End" ? el.value.length : Math.max(0, Math.min(el.value.length, s + (i.key === "ArrowLeft" ? -1 : 1)));
            try {
              el.setSelectionRange(pos, pos);
            } catch (_) {
              /* no selection API */
            }
          }
          break;
        case "Escape":
          break;
        default:
          break;
      }
      key(el, "keyup", k);
      return result;
    },
    select(i) {
      const el = typeof i.id === "number" ? mirror.getNode(i.id) : null;
      if (!el || el.tagName !== "SELECT" || !el.isConnected) return refusal("no_target", "That list is gone.");
      if (el.disabled) return refusal("read_only", "That list cannot be changed.");
      const index = Number(i.index);
      if (!(index >= 0 && index < el.options.length)) return refusal("bad_input", "No such option.");
      const w = el.ownerDocument.defaultView;
      el.focus();
      nativeValueSetter(el).call(el, el.options[index].value);
      el.selectedIndex = index;
      el.dispatchEvent(new w.Event("input", { bubbles: true, composed: true }));
      el.dispatchEvent(new w.Event("change", { bubbles: true }));
      return null;
    },
    focus(i) {
      const t = resolve(i);
      if (t.el && typeof t.el.focus === "function") t.el.focus();
      return null;
    },
    nav(i) {
      if (i.action === "back") win.history.back();
      else if (i.action === "forward") win.history.forward();
      else if (i.action === "reload") win.location.reload();
      else if (i.action === "go" && typeof i.url === "string") win.location.href = i.url;
      return null;
    },
  };

  return function performInput(i) {
    const fn = i && Object.prototype.hasOwnProperty.call(perform, i.kind) ? perform[i.kind] : null;
    if (!fn) return refusal("bad_input", "Tandem does not know that kind of input.");
    try {
      return fn(i);
    } catch (err) {
      return refusal("failed", "That action could not be performed on the page.");
    }
  };
}
