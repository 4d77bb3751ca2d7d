"""The public compatibility matrix: web platform features through Tandem in Chromium, from the probe suite.

``python -m tests.e2e.probes.compat`` (``make compat``) runs every probe directly and through Tandem
and writes ``docs/compat.json`` and ``docs/compat.md``: features named and grouped as in MDN's
browser-compat-data (``api.*``, ``html.elements.*``, ``http.headers.*``, ``javascript.*``), each
with its status through Tandem and the probes (behaviours) that prove it.

A feature's status: ``fail`` when any of its behaviours fails through Tandem (an expected failure
included: its reason is listed), ``n/a`` when the browser itself lacks all of them, else ``pass``.
A probe page names its features (``probeParts`` parts carry ``bcd``); the single-behaviour pages of
the first suite are mapped in :data:`FEATURES` below.

``tests/e2e/probes/test_probes.py`` holds the committed JSON to account: a feature that passed
there and fails now fails the test.
"""

from __future__ import annotations

import asyncio
import json
import platform
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
JSON_PATH = ROOT / "docs" / "compat.json"
MD_PATH = ROOT / "docs" / "compat.md"

# single-behaviour probe pages -> browser-compat-data feature
FEATURES = {
    "css-constructable-sheet": "api.CSSStyleSheet.replaceSync",
    "css-csstext": "api.CSSStyleDeclaration.cssText",
    "css-insertrule": "api.CSSStyleSheet.insertRule",
    "css-setproperty": "api.CSSStyleDeclaration.setProperty",
    "css-style-attribute": "html.global_attributes.style",
    "css-style-element-text": "html.elements.style",
    "css-style-property": "api.HTMLElement.style",
    "css-style-text-node": "html.elements.style",
    "dom-anchor-host-setter": "api.HTMLAnchorElement.hostname",
    "dom-anchor-parts": "api.HTMLAnchorElement.host",
    "dom-anchor-relative": "api.HTMLAnchorElement.href",
    "dom-attr-node": "api.Element.setAttributeNode",
    "dom-button-formaction": "api.HTMLButtonElement.formAction",
    "dom-form-action": "api.HTMLFormElement.action",
    "dom-iframe-src": "api.HTMLIFrameElement.src",
    "dom-link-stylesheet": "html.elements.link.rel.stylesheet",
    "dom-object-data": "api.HTMLObjectElement.data",
    "dom-property-src": "api.HTMLImageElement.src",
    "dom-script-src": "api.HTMLScriptElement.src",
    "dom-setattribute-src": "api.Element.setAttribute",
    "dom-srcset": "api.HTMLImageElement.srcset",
    "dom-svg-href-baseval": "api.SVGAnimatedString.baseVal",
    "dom-svg-xlink-href": "api.Element.setAttributeNS",
    "dom-video-poster": "api.HTMLVideoElement.poster",
    "frame-about-blank-fetch": "html.elements.iframe",
    "frame-about-blank-img": "html.elements.iframe",
    "frame-blob-document": "api.URL.createObjectURL_static",
    "frame-data-document": "http.data-url",
    "frame-document-open-write": "api.Document.open",
    "frame-javascript-url": "javascript.javascript-url",
    "frame-javascript-url-html": "javascript.javascript-url",
    "frame-nested-blank": "html.elements.iframe",
    "frame-parser-inserted-blank": "html.elements.iframe",
    "frame-sandboxed": "html.elements.iframe.sandbox",
    "frame-srcdoc": "html.elements.iframe.srcdoc",
    "frame-srcdoc-reads-back": "api.HTMLIFrameElement.srcdoc",
    "html-contextual-fragment": "api.Range.createContextualFragment",
    "html-document-write": "api.Document.write",
    "html-document-write-split": "api.Document.write",
    "html-domparser": "api.DOMParser.parseFromString",
    "html-innerhtml": "api.Element.innerHTML",
    "html-insertadjacenthtml": "api.Element.insertAdjacentHTML",
    "html-outerhtml": "api.Element.outerHTML",
    "html-sethtmlunsafe": "api.Element.setHTMLUnsafe",
    "html-template-clone": "html.elements.template",
    "id-base-uri": "api.Node.baseURI",
    "id-cookie-after-fetch": "api.Document.cookie",
    "id-cookie-other-frame": "api.Document.cookie",
    "id-cookie-roundtrip": "api.Document.cookie",
    "id-document-domain": "api.Document.domain",
    "id-document-location": "api.Document.location",
    "id-document-url": "api.Document.URL",
    "id-error-stack": "javascript.builtins.Error.stack",
    "id-location-href": "api.Location.href",
    "id-location-parts": "api.Location.origin",
    "id-message-origin": "api.MessageEvent.origin",
    "id-no-globals": "api.Window",
    "id-postmessage-self-target": "api.Window.postMessage",
    "id-postmessage-to-frame-target": "api.Window.postMessage",
    "id-postmessage-to-parent-target": "api.Window.postMessage",
    "id-referrer": "api.Document.referrer",
    "id-referrer-same-origin": "api.Document.referrer",
    "id-stack-no-runtime-frames": "javascript.builtins.Error.stack",
    "id-window-origin": "api.Window.origin",
    "id-wrappers-native": "javascript.builtins.Function.toString",
    "js-dynamic-import": "javascript.operators.import",
    "js-static-import-inline": "javascript.statements.import",
    "nav-form-get": "html.elements.form.method",
    "nav-form-post-attribute": "api.HTMLFormElement.requestSubmit",
    "nav-history-pushstate": "api.History.pushState",
    "nav-link-blank": "html.elements.a.target",
    "nav-link-in-frame": "html.elements.a.href",
    "nav-location-assign": "api.Location.assign",
    "nav-location-href": "api.Location.href",
    "nav-location-replace": "api.Location.replace",
    "nav-location-self": "api.Location.href",
    "nav-meta-refresh": "html.elements.meta.http-equiv",
    "nav-navigation-api": "api.Navigation.navigate",
    "nav-navigation-api-intercept": "api.NavigateEvent.intercept",
    "nav-window-open": "api.Window.open",
    "nav-window-open-blank-write": "api.Window.open",
    "net-audio-constructor": "api.HTMLAudioElement.Audio",
    "net-eventsource": "api.EventSource",
    "net-fetch-absolute": "api.fetch",
    "net-fetch-credentials-omit": "api.fetch.init_credentials_parameter",
    "net-fetch-post-echo": "api.fetch",
    "net-fetch-protocol-relative": "api.fetch",
    "net-fetch-request": "api.Request.Request",
    "net-fetch-url-object": "api.fetch",
    "net-fontface": "api.FontFace.FontFace",
    "net-image-constructor": "api.HTMLImageElement.Image",
    "net-performance-entries": "api.PerformanceEntry.name",
    "net-request-url": "api.Request.url",
    "net-response-url": "api.Response.url",
    "net-response-url-redirect": "api.Response.url",
    "net-sendbeacon": "api.Navigator.sendBeacon",
    "net-websocket": "api.WebSocket",
    "net-websocket-http-scheme": "api.WebSocket.WebSocket",
    "net-worklet": "api.Worklet.addModule",
    "net-xhr-absolute": "api.XMLHttpRequest.open",
    "net-xhr-sync": "api.XMLHttpRequest.open",
    "worker-blob": "api.Worker.Worker",
    "worker-data-url": "api.Worker.Worker",
    "worker-dedicated": "api.Worker",
    "worker-importscripts": "api.WorkerGlobalScope.importScripts",
    "worker-module": "api.Worker.Worker",
    "worker-service": "api.ServiceWorkerContainer.register",
    "worker-service-controls-page": "api.FetchEvent.respondWith",
    "worker-shared": "api.SharedWorker",
}
GROUPS = [("api", "Web APIs (api.*)"), ("html", "HTML (html.*)"), ("http", "HTTP (http.*)"),
          ("javascript", "JavaScript (javascript.*)")]


def feature_of(result) -> str:
    if result.bcd:
        return result.bcd
    page = result.name.split("/")[0]
    return FEATURES.get(page, "api.unmapped." + page)


def status_of(verdict: str) -> str:
    if verdict == "ok":
        return "pass"
    if verdict == "n/a":
        return "n/a"
    return "fail"


def matrix(results) -> dict:
    """Features -> status and the behaviours that prove it (results: run_suite's output)."""
    feats: dict[str, list[dict]] = defaultdict(list)
    for r in results.values():
        entry = {"probe": r.name, "checks": r.what, "status": status_of(r.verdict)}
        if entry["status"] == "fail":
            entry["reason"] = r.xfail or r.verdict
        feats[feature_of(r)].append(entry)
    out = {}
    for name in sorted(feats):
        probes = feats[name]
        statuses = {p["status"] for p in probes}
        status = "fail" if "fail" in statuses else "n/a" if statuses == {"n/a"} else "pass"
        out[name] = {"status": status, "probes": probes}
    return out


def chromium_version() -> str:
    from tests.e2e.browser import CHROMIUM

    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "Chromium (version unknown)"


def document(results) -> dict:
    feats = matrix(results)
    behaviours = list(results.values())
    counted = [r for r in behaviours if r.verdict != "n/a"]
    passed = [r for r in counted if r.verdict == "ok"]
    return {
        "generated_by": "make compat (tests/e2e/probes/compat.py)",
        "browser": chromium_version(),
        "summary": {
            "features": len(feats),
            "features_pass": sum(1 for f in feats.values() if f["status"] == "pass"),
            "features_fail": sum(1 for f in feats.values() if f["status"] == "fail"),
            "features_na": sum(1 for f in feats.values() if f["status"] == "n/a"),
            "behaviours": len(behaviours),
            "behaviours_pass": len(passed),
            "behaviours_na": len(behaviours) - len(counted),
            "pass_rate": round(len(passed) / len(counted), 4) if counted else None,
        },
        "features": feats,
    }


def markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [
        "# Tandem compatibility matrix",
        "",
        "Generated by `make compat` from the probe suite (`tests/e2e/probes/`): every probe runs in",
        f"{doc['browser']} directly and through Tandem, and passes only when both give the same result",
        "and nothing leaves the proxy. Feature names follow MDN's",
        "[browser-compat-data](https://github.com/mdn/browser-compat-data). Do not edit by hand.",
        "",
        f"**{s['behaviours_pass']} of {s['behaviours'] - s['behaviours_na']} behaviours pass through Tandem "
        f"({100 * (s['pass_rate'] or 0):.1f}%)**; features: {s['features_pass']} pass, {s['features_fail']} fail, "
        f"{s['features_na']} not applicable.",
        "",
        "Status: **pass** (every behaviour the same through Tandem as directly), **fail** (at least one differs;",
        "the reason is listed), **n/a** (this browser lacks the feature).",
        "",
    ]
    for prefix, title in GROUPS:
        names = [n for n in doc["features"] if n.split(".")[0] == prefix]
        if not names:
            continue
        lines += [f"## {title}", "", "| feature | through Tandem | probes |", "|---|---|---|"]
        for n in names:
            f = doc["features"][n]
            probes = ", ".join(f"`{p['probe']}`" for p in f["probes"])
            lines.append(f"| `{n}` | {f['status']} | {probes} |")
        lines.append("")
    fails = [(n, p) for n, f in doc["features"].items() for p in f["probes"] if p["status"] == "fail"]
    lines += ["## What fails, and why", ""]
    if not fails:
        lines.append("Nothing.")
    for n, p in fails:
        lines.append(f"* `{p['probe']}` ({n}): {p['checks']}. {p['reason'].replace('|', '/')}")
    lines.append("")
    return "\n".join(lines)


def write(results) -> dict:
    doc = document(results)
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    MD_PATH.write_text(markdown(doc))
    return doc


def regressions(results, committed: dict) -> list[str]:
    """Features that pass in the committed matrix and fail now (with the behaviours that fail)."""
    now = matrix(results)
    out = []
    for name, f in committed.get("features", {}).items():
        if f["status"] != "pass":
            continue
        cur = now.get(name)
        if cur is None:
            continue  # its probes were not run (a subset), or renamed: not a regression by itself
        bad = [p["probe"] for p in cur["probes"] if p["status"] == "fail"]
        if bad:
            out.append(f"{name}: {', '.join(bad)}")
    return out


def main() -> int:
    from .runner import run_suite

    results = asyncio.run(run_suite())
    doc = write(results)
    s = doc["summary"]
    print(f"{JSON_PATH.relative_to(ROOT)}, {MD_PATH.relative_to(ROOT)}: {s['features']} features, "
          f"{s['behaviours_pass']}/{s['behaviours'] - s['behaviours_na']} behaviours pass ({platform.system()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
