/**
 * The full snapshot in slices (issue 11: a 10,000-node page froze the tab owner's page for
 * 0.4-0.6 s in one task when a follower joined). rrweb serialises the whole document in one
 * synchronous walk. Here the walk is a generator (derived from rrweb's own serializeNodeWithId, so
 * every node is serialised by the same code) that yields between children; a driver runs it in
 * slices of SLICE_MS and lets the page's own tasks run in between (a MessageChannel task: not
 * throttled in background tabs, no timer clamp). The result stays what a synchronous snapshot
 * taken at the end would give:
 *  - a native MutationObserver watches the document during the walk; at the end (one synchronous
 *    step) the serialised tree is mended from its records: the child list of every element whose
 *    children changed is taken again (nodes already serialised are reused, new ones serialised
 *    now), and every node whose attributes or text changed is serialised again in place;
 *  - rrweb's own mutation buffer for the document drops the records of the walk (the mending
 *    covers them; replaying them after would add nodes the snapshot already holds);
 *  - every other event emitted during the walk (input, scroll, shadow roots' mutations, custom
 *    events) is held and sent after Meta + FullSnapshot, in order; iframe and stylesheet load
 *    callbacks that fire during the walk run after it, as they do after a synchronous snapshot;
 *  - shadow hosts are serialised whole in one step (rrweb starts observing a root before its
 *    children are serialised), and anything the mending cannot place (a change under such a
 *    host, in a frame or link element) falls back to a synchronous snapshot at the end.
 * A new takeFullSnapshot during a walk asks for one more after it (a second joiner).
 */

const SLICE_MS = 8;

function once(text, find, replace) {
  const found = text.split(find).length - 1;
  if (found !== 1) throw new Error(`rrweb slice patch expected 1 of ${JSON.stringify(find.slice(0, 80))}, found ${found}`);
  return text.replace(find, () => replace);
}

function between(text, start, end) {
  const i = text.indexOf(start);
  const j = text.indexOf(end, i);
  if (i < 0 || j < 0 || text.indexOf(start, i + 1) >= 0) throw new Error(`rrweb slice patch: cannot find ${JSON.stringify(start)}`);
  return [i, j];
}

const STATE = `
let tandemWalkRoot = null; // the document whose snapshot is being walked in slices
let tandemHeld = null; // events emitted meanwhile: [event, isCheckout], sent after the snapshot
let tandemAfterWalk = null; // load callbacks that fired meanwhile
let tandemWalk = null; // the walk under way: {again, stopped}
const tandemOptions = new WeakMap(); // node -> the options it was serialised with by the walk
const tandemKids = new WeakMap(); // element -> the options its children were serialised with
const tandemLater = (fn) => (...a) => tandemAfterWalk ? tandemAfterWalk.push(() => fn(...a)) : fn(...a);
const tandemNextTask = (() => {
	let queue = [];
	let port = null;
	return (fn) => {
		if (!port) {
			const ch = new MessageChannel();
			ch.port1.onmessage = () => {
				const run = queue;
				queue = [];
				for (const f of run) f();
			};
			port = ch.port2;
		}
		queue.push(fn);
		port.postMessage(0);
	};
})();
`;

/** The walk's end: make the serialised tree what the document is now, from the observer's records.
 * Returns false when a change is out of the walk's reach (then the caller snapshots synchronously). */
const MEND = `
function tandemMend(records, done, mirror) {
	const own = new Set();
	const lists = new Set();
	for (const r of records) {
		(r.type === "childList" ? lists : own).add(r.target);
		const s = r.target.nodeType === 3 ? r.target.parentNode : r.target;
		if (s && s.nodeName === "STYLE") own.add(s);
	}
	for (const p of lists) if (!tandemKids.has(p) && tandemOptions.has(p)) own.add(p);
	for (const t of own) {
		if (!done.has(t)) continue;
		const opts = tandemOptions.get(t);
		const old = mirror.getMeta(t);
		if (!opts || !old || t.nodeName === "IFRAME" || t.nodeName === "LINK") return false;
		const fresh = serializeNodeWithId(t, { ...opts, skipChild: true, onSerialize: null });
		mirror.add(t, old);
		if (!fresh) return false;
		for (const k of Object.keys(old)) if (!(k in fresh)) delete old[k];
		Object.assign(old, fresh, { childNodes: old.childNodes });
	}
	for (const p of lists) {
		if (!done.has(p) || !tandemKids.has(p)) {
			if (done.has(p) && !tandemOptions.has(p)) return false;
			continue;
		}
		const opts = tandemKids.get(p);
		const meta = mirror.getMeta(p);
		if (!meta || !meta.childNodes) return false;
		const list = [];
		for (const c of Array.from(src_default$2.childNodes(p))) {
			const sn = done.has(c) ? mirror.getMeta(c) : serializeNodeWithId(c, opts);
			if (sn && sn.id !== -2) list.push(sn);
		}
		meta.childNodes = list;
	}
	return true;
}
`;

/** The generator twin of serializeNodeWithId (and of snapshot), from rrweb's own text. */
function deriveWalk(text) {
  const [i, j] = between(text, "function serializeNodeWithId(n, options) {\n", "\n}\n");
  let fn = text.slice(i, j + 3);
  fn = once(fn, "function serializeNodeWithId(n, options) {\n",
    "function* tandemSerializeSliced(n, options) {\n\tif (src_default$2.shadowRoot(n)) return serializeNodeWithId(n, options);\n\ttandemOptions.set(n, options);\n");
  fn = once(fn, "\t\t\tcssCaptured: false\n\t\t};\n", "\t\t\tcssCaptured: false\n\t\t};\n\t\ttandemKids.set(n, bypassOptions);\n");
  // the light DOM's children (the shadow root's, second, are never reached: hosts go whole)
  const child = "const serializedChildNode = serializeNodeWithId(childN, bypassOptions);";
  const k = fn.indexOf(child);
  if (k < 0) throw new Error("rrweb slice patch: no child loop");
  fn = `${fn.slice(0, k)}yield;\n\t\t\t\tconst serializedChildNode = yield* tandemSerializeSliced(childN, bypassOptions);${fn.slice(k + child.length)}`;
  const [a, b] = between(text, "function snapshot(n, options) {\n", "\n}\n");
  let snap = text.slice(a, b + 3);
  snap = once(snap, "function snapshot(n, options) {\n", "function* tandemSnapshotSliced(n, options) {\n");
  snap = once(snap, "return serializeNodeWithId(n, {", "return yield* tandemSerializeSliced(n, {");
  return `${fn}${snap}${MEND}`;
}

const TAKE = `	takeFullSnapshot$1 = (isCheckout = false) => {
		if (!recordDOM) return;
		if (tandemWalk) {
			tandemWalk.again = true;
			return;
		}
		stylesheetManager.reset();
		shadowDomManager.init();
		canvasManager.lock();
		mutationBuffers.forEach((buf) => buf.lock());
		const done = new WeakSet();
		const snapOptions = {
			mirror,
			blockClass,
			blockSelector,
			maskTextClass,
			maskTextSelector,
			inlineStylesheet,
			maskAllInputs: maskInputOptions,
			maskTextFn,
			maskInputFn,
			slimDOM: slimDOMOptions,
			dataURLOptions,
			recordCanvas,
			inlineImages,
			onSerialize: (n) => {
				done.add(n);
				if (isSerializedIframe(n, mirror)) iframeManager.addIframe(n);
				if (isSerializedStylesheet(n, mirror)) stylesheetManager.trackLinkElement(n);
				if (hasShadowRoot(n)) shadowDomManager.addShadowRoot(src_default.shadowRoot(n), document);
			},
			onIframeLoad: (iframe, childSn) => {
				iframeManager.attachIframe(iframe, childSn);
				shadowDomManager.observeAttachShadow(iframe);
			},
			onStylesheetLoad: (linkEl, childSn) => {
				stylesheetManager.attachLinkElement(linkEl, childSn);
			},
			keepIframeSrcFn
		};
		const walk = tandemWalk = { again: false, stopped: false };
		const records = [];
		const [ObserverCtor, releaseObserver] = mutationObserverCtor();
		const watch = new ObserverCtor((list) => { records.push(...list); });
		watch.observe(document, { attributes: true, characterData: true, childList: true, subtree: true });
		tandemHeld = [];
		tandemAfterWalk = [];
		tandemWalkRoot = document;
		const walker = tandemSnapshotSliced(document, snapOptions);
		const end = () => {
			records.push(...watch.takeRecords());
			watch.disconnect();
			releaseObserver();
			tandemWalkRoot = null;
			if (tandemWalk === walk) tandemWalk = null;
		};
		const finish = (node) => {
			end();
			if (node && !tandemMend(records, done, mirror)) node = snapshot(document, snapOptions);
			const held = tandemHeld || [];
			const later = tandemAfterWalk || [];
			tandemHeld = tandemAfterWalk = null;
			if (!node) {
				canvasManager.unlock();
				mutationBuffers.forEach((buf) => buf.unlock());
				return console.warn("Failed to snapshot the document");
			}
			wrappedEmit({
				type: EventType.Meta,
				data: {
					href: window.location.href,
					width: getWindowWidth(),
					height: getWindowHeight()
				}
			}, isCheckout);
			wrappedEmit({
				type: EventType.FullSnapshot,
				data: {
					node,
					initialOffset: getWindowScroll(window)
				}
			}, isCheckout);
			canvasManager.unlock();
			mutationBuffers.forEach((buf) => buf.unlock());
			if (document.adoptedStyleSheets && document.adoptedStyleSheets.length > 0) stylesheetManager.adoptStyleSheets(document.adoptedStyleSheets, mirror.getId(document));
			for (const [e, c] of held) wrappedEmit(e, c);
			if (typeof options.tandemAfterSnapshot === "function") queueMicrotask(() => recording && !walk.stopped && options.tandemAfterSnapshot());
			for (const f of later) f();
			if (walk.again) takeFullSnapshot$1(true);
		};
		const step = () => {
			if (walk.stopped) return;
			try {
				const until = performance.now() + ${SLICE_MS};
				let r;
				let k = 0;
				while (!(r = walker.next()).done) {
					if ((++k & 15) === 0 && performance.now() > until) return tandemNextTask(step);
				}
				finish(r.value);
			} catch (err) {
				walk.stopped = true;
				end();
				tandemHeld = tandemAfterWalk = null;
				canvasManager.unlock();
				mutationBuffers.forEach((buf) => buf.unlock());
				throw err;
			}
		};
		walk.stop = () => {
			walk.stopped = true;
			end();
			tandemHeld = tandemAfterWalk = null;
		};
		// The first slice in a task of its own too: record() starts its observers after this call, in
		// the same task (the longest one after a join with the slice in it).
		tandemNextTask(step);
	};
`;

export function sliceSnapshot(text) {
  text = once(text, "var __defProp$2 = Object.defineProperty;\n", `var __defProp$2 = Object.defineProperty;\n${STATE}`);
  // the twins go right after rrweb's own snapshot()
  const [, snapEnd] = between(text, "function snapshot(n, options) {\n", "\n}\n");
  text = `${text.slice(0, snapEnd + 3)}${deriveWalk(text)}${text.slice(snapEnd + 3)}`;
  text = once(text, "function onceIframeLoaded(iframeEl, listener, iframeLoadTimeout) {\n",
    "function onceIframeLoaded(iframeEl, listener, iframeLoadTimeout) {\n\tlistener = tandemLater(listener);\n");
  text = once(text, "function onceStylesheetLoaded(link, listener, styleSheetLoadTimeout) {\n",
    "function onceStylesheetLoaded(link, listener, styleSheetLoadTimeout) {\n\tlistener = tandemLater(listener);\n");
  text = once(text, "\tmutationBuffer.init(options);\n", "\tmutationBuffer.init(options);\n\tmutationBuffer.tandemRoot = rootEl;\n");
  text = once(text, "\tprocessMutations = (mutations) => {\n", "\tprocessMutations = (mutations) => {\n\t\tif (this.tandemRoot && this.tandemRoot === tandemWalkRoot) return;\n");
  text = once(text, "\twrappedEmit = (r, isCheckout) => {\n\t\tconst e = r;\n\t\te.timestamp = nowTimestamp();\n\t\tif (e.type !== EventType.FullSnapshot && !(e.type === EventType.IncrementalSnapshot && e.data.source === IncrementalSource.Mutation)) {\n\t\t\tcanvasManager",
    "\twrappedEmit = (r, isCheckout) => {\n\t\tif (tandemHeld) return void tandemHeld.push([r, isCheckout]);\n\t\tconst e = r;\n\t\te.timestamp = nowTimestamp();\n\t\tif (e.type !== EventType.FullSnapshot && !(e.type === EventType.IncrementalSnapshot && e.data.source === IncrementalSource.Mutation)) {\n\t\t\tcanvasManager");
  const [t0, t1] = between(text, "\ttakeFullSnapshot$1 = (isCheckout = false) => {\n", "\ttry {\n\t\tconst handlers = [];\n");
  const old = text.slice(t0, t1);
  if (!old.includes("const node = snapshot(document, {") || old.split("\n").length > 70) throw new Error("rrweb slice patch: takeFullSnapshot changed");
  text = text.slice(0, t0) + TAKE + text.slice(t1);
  text = once(text, "\t\t\tiframeObservers.clear();\n", "\t\t\tiframeObservers.clear();\n\t\t\tif (tandemWalk) tandemWalk.stop();\n");
  return text;
}
