// The suite's in-page measurements, installed with page.evaluate() (never served to a page) into a
// direct load, the tab owner's proxied page, or the follower's session page (where the measured
// document is the mirror's, window.tandemMirror.doc()). Defines window.__rp once.
//
// Definitions (the same code measures both sides):
// * words(doc): the innerText of doc.body -- the text a person sees: no display:none or
//   visibility:hidden content, no <script>/<style>, line breaks from layout -- plus, with `deep`,
//   the innerText of every element child of every open shadow root; NFC-normalised, split on
//   Unicode white space, empty strings dropped. Compared as multisets by the Python side.
// * counts(doc): <img> elements, form controls (input, textarea, select) and links (a[href]) in
//   the document (and open shadow roots with `deep`), whether shown or not.
// * todo(doc): a TodoMVC app's state -- the shown items as [label, li has class "completed",
//   the toggle's checked property], the footer count's text, the selected filter's text.
(mode) => {
  if (window.__rp) return;
  const deep = !!(mode && mode.deep);
  const getDoc = mode && mode.mirror ? () => window.tandemMirror && window.tandemMirror.doc() : () => document;

  function roots(doc) {
    const out = [doc];
    if (!deep) return out;
    for (let i = 0; i < out.length; i++) {
      for (const el of out[i].querySelectorAll("*")) if (el.shadowRoot) out.push(el.shadowRoot);
    }
    return out;
  }
  const all = (doc, sel) => roots(doc).flatMap((r) => [...r.querySelectorAll(sel)]);

  function words(doc) {
    if (!doc || !doc.body) return [];
    let text = doc.body.innerText || "";
    for (const root of roots(doc).slice(1)) {
      for (const el of root.children) if (el.innerText !== undefined && el.localName !== "style") text += "\n" + el.innerText;
    }
    return text.normalize("NFC").split(/\s+/u).filter(Boolean);
  }

  function counts(doc) {
    return {
      img: all(doc, "img").length,
      input: all(doc, "input, textarea, select").length,
      link: all(doc, "a[href]").length,
    };
  }

  function shown(el) {
    if (!el.getClientRects().length) return false;
    return el.ownerDocument.defaultView.getComputedStyle(el).visibility !== "hidden";
  }

  function todo(doc) {
    const items = all(doc, ".todo-list li").filter(shown).map((li) => {
      const label = li.querySelector("label");
      const toggle = li.querySelector(".toggle");
      return [label ? label.textContent.trim() : null, li.classList.contains("completed"), !!(toggle && toggle.checked)];
    });
    const count = all(doc, ".todo-count")[0];
    const filter = all(doc, ".filters a.selected")[0];
    return {
      items,
      count: count ? count.textContent.replace(/\s+/g, " ").trim() : null,
      filter: filter ? filter.textContent.trim() : null,
    };
  }

  function check(doc, spec) {
    switch (spec.kind) {
      case "id-text": {
        const el = doc.getElementById(spec.id);
        return !!el && el.textContent === spec.text;
      }
      case "tag-text":
        return [...doc.getElementsByTagName(spec.tag)].some((e) => e.textContent === spec.text);
      case "present":
        return !!doc.querySelector(spec.sel);
      case "value": {
        const el = doc.querySelector(spec.sel);
        return !!el && el.value === spec.value;
      }
      case "scroll":
        return !!doc.defaultView && Math.abs(doc.defaultView.scrollY - spec.y) <= 1;
      case "todo":
        return JSON.stringify(todo(doc)) === spec.json;
      default:
        throw new Error("unknown check " + spec.kind);
    }
  }

  const now = () => performance.timeOrigin + performance.now();
  const POLL_MS = 4; // values and scroll positions change no DOM: they are polled as well as observed

  /** Resolves with the time (ms since the epoch) `spec` first held in the measured document, or null. */
  function wait(spec, timeoutMs) {
    return new Promise((resolve) => {
      let done = false;
      let observed = null;
      let observer = null;
      let poller = 0;
      const finish = (at) => {
        if (done) return;
        done = true;
        if (observer) observer.disconnect();
        if (observed && observed.defaultView) observed.defaultView.removeEventListener("scroll", test, true);
        clearTimeout(poller);
        clearTimeout(timer);
        resolve(at);
      };
      function test() {
        if (done) return;
        const doc = getDoc();
        if (!doc || !doc.documentElement) return;
        if (doc !== observed) {
          if (observer) observer.disconnect();
          observed = doc;
          observer = new MutationObserver(test);
          observer.observe(doc, { subtree: true, childList: true, characterData: true, attributes: true });
          if (doc.defaultView) doc.defaultView.addEventListener("scroll", test, true);
        }
        let ok = false;
        try {
          ok = check(doc, spec);
        } catch (e) {
          ok = false;
        }
        if (ok) finish(now());
      }
      const poll = () => {
        test();
        if (!done) poller = setTimeout(poll, POLL_MS);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      poll();
    });
  }

  const doc = () => getDoc();
  window.__rp = {
    now,
    words: () => words(doc()),
    counts: () => counts(doc()),
    todo: () => todo(doc()),
    check: (spec) => check(doc(), spec),
    wait,
    armed: {},
    arm(key, spec, timeoutMs) {
      this.armed[key] = wait(spec, timeoutMs);
      return true;
    },
    result(key) {
      return this.armed[key];
    },
  };
}
