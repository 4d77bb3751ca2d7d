"""Web app manifests (``<link rel=manifest>``, JSON): every URL member goes through the proxy.

Policy is the table :data:`MANIFEST_URLS` of member paths (Web App Manifest, W3C, plus the
widely shipped extensions: share target, protocol and file handlers, shortcuts, widgets, note
taking, scope extensions). Relative URLs resolve against the manifest's own (proxied) URL and stay
as written; ``related_applications[].url`` names store listings, which the browser does not load
for the page, so it is left alone. Bytes outside the changed URL spans are kept; a body that is not
JSON (or not UTF-8, which the spec requires) is returned unchanged and counted.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from .jsonurls import rewrite_json_urls
from .urls import UrlRewriter

MANIFEST_URLS: tuple[tuple, ...] = (
    ("start_url",),
    ("scope",),
    ("id",),  # resolved against start_url; must stay same-origin with it to count
    ("serviceworker", "src"),
    ("serviceworker", "scope"),
    ("icons", "*", "src"),
    ("screenshots", "*", "src"),
    ("shortcuts", "*", "url"),
    ("shortcuts", "*", "icons", "*", "src"),
    ("share_target", "action"),
    ("protocol_handlers", "*", "url"),
    ("file_handlers", "*", "action"),
    ("file_handlers", "*", "icons", "*", "src"),
    ("note_taking", "new_note_url"),
    ("scope_extensions", "*", "origin"),
    ("widgets", "*", "template"),
    ("widgets", "*", "ms_ac_template"),
    ("widgets", "*", "data"),
    ("widgets", "*", "icons", "*", "src"),
    ("widgets", "*", "screenshots", "*", "src"),
)


@dataclass(slots=True)
class ManifestStats:
    """Counters of the caller (``rewrite_manifest(..., stats=)``); the module keeps no process-wide state."""

    rewritten: int = 0  # manifests in which some URL changed
    not_json: int = 0  # not JSON or not UTF-8: passed through unchanged
    failed: int = 0  # unexpected internal error: passed through unchanged



def rewrite_manifest_text(text: str, urls: UrlRewriter) -> str:
    return rewrite_json_urls(text, urls, MANIFEST_URLS)


def rewrite_manifest(data: bytes, urls: UrlRewriter, stats: ManifestStats | None = None) -> bytes:
    """Rewrite a manifest body; ``data`` itself when nothing changes."""
    if stats is None:
        stats = ManifestStats()  # counted, then forgotten: the caller did not ask
    try:
        bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
        try:
            text = data[len(bom):].decode("utf-8")
        except UnicodeDecodeError:
            stats.not_json += 1
            return data
        new = rewrite_manifest_text(text, urls)
        if new is text:
            if text.strip() and not text.lstrip().startswith("{"):
                stats.not_json += 1
            return data
        stats.rewritten += 1
        return bom + new.encode("utf-8")
    except Exception:  # noqa: BLE001 - rewriters never raise into a response
        stats.failed += 1
        return data
