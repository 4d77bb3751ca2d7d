// Probe harness, loaded by every probe page before its own script.
// Globals for probes: O (this origin), O2 (the other origin), K (this run's key),
// probe(fn), probeParts({part: [what, fn, xfail?]}), check(cond, what), eq(actual, expected, what), hits(k, origin),
// message(pred), loaded(el), sleep(ms), frame(src).
(function () {
  const config = JSON.parse(document.querySelector('meta[name="probe-config"]').content);
  window.O = config.o;
  window.O2 = config.o2;
  window.K = config.k;
  const TIMEOUT = 10000; // generous: the suite shares a loaded 2-core machine with everything else
  window.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  window.check = (cond, what) => {
    if (!cond) throw new Error(what || "check failed");
  };
  window.eq = (actual, expected, what) => {
    if (actual !== expected) throw new Error(`${what || "value"}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  };
  // How many requests carrying k=KEY reached `origin` (polls until one did, or gives up).
  window.hits = async (k = K, origin = O2, atLeast = 1) => {
    const until = Date.now() + TIMEOUT;
    for (;;) {
      const r = await fetch(`${origin}/hits?k=${encodeURIComponent(k)}`);
      const n = (await r.json()).hits;
      if (n >= atLeast || Date.now() > until) return n;
      await sleep(50);
    }
  };
  window.message = (pred = () => true, timeout = TIMEOUT) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no message")), timeout);
    addEventListener("message", function on(e) {
      if (!pred(e.data, e)) return;
      clearTimeout(t);
      removeEventListener("message", on);
      resolve(e);
    });
  });
  // The message matching `pred`, which its sender posted before the one matching `last`: messages
  // from one sender arrive in order, so a dropped message fails as soon as the later one arrives and
  // a slow one (a frame loading on a loaded machine) never fails on a timer.
  window.messageBefore = (pred, last) => new Promise((resolve, reject) => {
    let got = null;
    const t = setTimeout(() => reject(new Error("no message")), 3 * TIMEOUT);
    addEventListener("message", function on(e) {
      if (!got && pred(e.data, e)) {
        got = e;
      } else if (last(e.data, e)) {
        clearTimeout(t);
        removeEventListener("message", on);
        if (got) resolve(got);
        else reject(new Error("no message (the one posted after it arrived)"));
      }
    });
  });
  window.loaded = (el) => new Promise((resolve, reject) => {
    if (el.localName === "img" && el.complete) {
      if (el.naturalWidth > 0) resolve(el);
      else reject(new Error("img failed to load"));
      return;
    }
    el.addEventListener("load", () => resolve(el), { once: true });
    el.addEventListener("error", () => reject(new Error(`${el.localName} failed to load`)), { once: true });
  });
  window.frame = (src, attrs = {}) => {
    const f = document.createElement("iframe");
    for (const [k, v] of Object.entries(attrs)) f.setAttribute(k, v);
    if (src !== null) f.src = src;
    document.body.appendChild(f);
    return f;
  };
  const outcome = async (fn) => {
    try {
      const out = await fn();
      if (out === undefined || out === true) return { pass: true };
      // this run's key differs between the direct and the proxied run: it never counts as a difference
      if (out && typeof out === "object" && "same" in out) return { pass: true, same: JSON.stringify(out.same).split(K).join("<K>") };
      if (out && typeof out === "object" && "na" in out) return { pass: true, na: String(out.na) };
      return { pass: false, detail: String(out) };
    } catch (err) {
      return { pass: false, detail: String((err && err.message) || err) };
    }
  };
  const whenLoaded = (run) => {
    if (document.readyState === "complete") run();
    else addEventListener("load", run, { once: true });
  };
  // One behaviour. fn returns/resolves true or undefined (pass), {same: value} (pass here; the
  // runner also requires the value to be the same directly and through Tandem), anything else or
  // a throw (fail, with that detail).
  window.probe = (fn) => whenLoaded(async () => {
    window.__probe = await outcome(fn);
  });
  // Several behaviours in one page: {part: [what, fn, extra?]}, run in order. extra: an expected
  // failure's reason (string), or {xfail, bcd} (bcd: the browser-compat-data feature it proves).
  // fn may also return {na: reason}: the browser itself lacks the feature (not applicable).
  window.probeParts = (spec) => whenLoaded(async () => {
    const parts = {};
    for (const [name, [what, fn, extra]] of Object.entries(spec)) {
      const meta = typeof extra === "string" ? { xfail: extra } : extra || {};
      parts[name] = { what, xfail: meta.xfail || null, bcd: meta.bcd || null, ...(await outcome(fn)) };
    }
    window.__probe = { pass: true, parts };
  });
})();
