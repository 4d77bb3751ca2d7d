"""HtmlRewriter: ties the tokenizer, the tree-builder simulator, the policy table and the value
helpers together, and decides what changes (see the package docstring for the whole design).
"""

from __future__ import annotations

import codecs
import re
from typing import Callable, Iterable, Iterator

from ..errors import RewriteBudgetExceeded, RewriteError, RewriteFailed
from ..jsonurls import rewrite_importmap, rewrite_speculation_rules
from ..urls import IdentityRewriter, UrlRewriter
from . import core, limits
from .charset import (
    ASCII_COMPATIBLE, BLANK, BOM_SNIFF, META_CHARSET_RE, TRANSCODE, from_unicode, resolve_charset, to_unicode,
)
from .entities import decode_attr_value, decode_value
from .policy import (
    ATTR_DICT_TAGS, CLASSIC, CSP_NAMES, CSP_REPLACEMENT, CSS, DATA_URL, DROP, IMPLY_HEAD_END, IMPORTMAP,
    JS, MODULE, ORIGINAL_PREFIX, RELATIVE_URL_RE, SPECULATION, SRCDOC, SRCSET, SRI_LINK_RELS, SRI_URL_ATTR, URL,
    URL_HEAD_RE, URL_LIST,
    script_kind, table_for,
)
from .tokenizer import (
    ABS_HTTP_RE, ASCII_LOWER, ATTR_RE, DATA, LETTERS, PLAINTEXT, RAWTEXT, RCDATA, SCRIPT, STATE_NAMES, TAG_RE,
    WS, WS_TOKEN_RE, NON_WS_RE, Tokenizer,
)
from .treebuilder import TREE_NAMES, TreeBuilderSimulator
from .values import (
    Edit, diff_many, diff_url, javascript_url_body, percent_decode_ascii, refresh_url_span, splice,
    srcset_url_spans, tight_log,
)

_INJECT_SCRIPT_RE = re.compile("<script(?=[\\t\\n\\f\\r />])(?![^>]*\\bxmlns=)")


def xml_safe_markup(text: str) -> str:
    """HTML markup made well-formed enough for an XML document: valueless attributes get ="".

    For the injected tags (``<script defer src=...>``), which the XML parser would otherwise reject
    and with them the whole document.
    """
    def tag(m: re.Match[str]) -> str:
        if m.group(1) or m.start(3) == m.end(3):
            return m.group(0)
        out, at = [], m.start(3)
        for am in ATTR_RE.finditer(m.string, m.start(3), m.end(3)):
            if am.group(2) is None:
                out.append(m.string[at: am.end(1)] + '=""')
                at = am.end(1)
        out.append(m.string[at: m.end()])
        return m.string[m.start(): m.start(3)] + "".join(out)

    return TAG_RE.sub(tag, text)



class _Transcoder:
    """A body in an encoding that is not ASCII-compatible (UTF-16, ISO-2022-JP): decoded as it streams,
    rewritten as UTF-8 (``rewrite(latin-1 text of UTF-8 bytes, final) -> bytes``) and encoded back.

    UTF-16 round-trips exactly (lone surrogates included); a trailing odd byte is kept as it came.
    """

    def __init__(self, codec: str, rewrite: Callable[[str, bool], bytes]) -> None:
        errors = "surrogatepass" if codec.startswith("utf-16") else "replace"
        self._decoder = codecs.getincrementaldecoder(codec)(errors)
        self._utf8 = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        self._encoder = codecs.getincrementalencoder(codec)(
            "surrogatepass" if codec.startswith("utf-16") else "xmlcharrefreplace")
        self._rewrite = rewrite

    def feed(self, data: bytes, final: bool) -> bytes:
        text = self._decoder.decode(data, False)
        tail = b""
        if final:
            tail = self._decoder.getstate()[0]  # an incomplete code unit: kept as it came
        inner = text.encode("utf-8", "surrogatepass").decode("latin-1")
        out = self._rewrite(inner, final)
        return self._encoder.encode(self._utf8.decode(out, final), final) + tail


RewriteHook = Callable[[str, str, str, str], "str | None"]


class HtmlRewriter(Tokenizer):
    """Rewrite one HTML body as it streams: ``feed`` chunks, then ``close``.

    ``inject`` goes first in <head>; ``css`` rewrites stylesheet text (style
    attributes and <style> contents); ``charset`` is the Content-Type label, if
    any (a BOM wins over it). After ``close``, ``stats`` counts what was done and
    ``base_href`` holds the first <base href> value seen (upstream form).

    ``on_rewrite(tag, attr, old_raw, new_raw)`` may be set to learn of each
    rewritten attribute; if it returns text, that text is inserted right after the
    attribute (e.g. a ``data-tandem-orig-*`` attribute), so the hook decides.

    With an :class:`IdentityRewriter` nothing at all changes (no attribute is
    dropped, no CSP neutralised): the output equals the input.

    Fails closed: a document it cannot rewrite (over a budget in :mod:`.limits`, or an internal
    error) raises a :class:`~rewriter.errors.RewriteError` from ``feed``/``close``; the caller
    must then serve an error, never the document. The rewriter is unusable afterwards.
    """

    def __init__(
        self,
        urls: UrlRewriter,
        *,
        inject: str = "",
        charset: str | None = None,
        css: Callable[[str], str] | None = None,
        js: Callable[[str], str] | None = None,
        keep_original: bool = False,
        xml: bool = False,
    ) -> None:
        super().__init__()
        self._sim = TreeBuilderSimulator(xml)
        self._xml = bool(xml)
        self._foreign = self._sim.foreign  # the same list: a cheap "in foreign content?" test
        self.urls = urls
        self.css = css
        self.js = js
        self.keep_original = keep_original
        self.on_rewrite: RewriteHook | None = None
        # csp(policy) -> the policy on proxied origins: a <meta> CSP stays in force (else neutralised);
        # sri(integrity) -> a query marker carrying the integrity to the proxy, which checks the upstream
        # bytes (proxy/sri.py); the attribute itself goes (the browser would check rewritten bytes)
        self.csp: Callable[[str], str] | None = None
        self.sri: Callable[[str], str] | None = None
        self._sri_attr: re.Match[str] | None = None
        self.base_href: str | None = None
        self.stats: dict[str, int] = {
            "rewritten": 0,  # attribute values changed (URL, srcset, refresh, style)
            "removed": 0,  # integrity / nonce attributes dropped
            "csp_neutralised": 0,
            "css_blocks": 0,  # <style> elements whose text the css callable changed
            "css_skipped": 0,  # <style> not decodable: passed through
            "js_blocks": 0,  # inline scripts (classic, module, import map, speculation rules) changed
            "js_skipped": 0,  # inline scripts not decodable: passed through
            "start_tags": 0,
            "injected": 0,
            "transcoded": 0,  # 1 when the body was decoded (UTF-16, ISO-2022-JP), rewritten, encoded back
            "passed_through": 0,  # 1 for the "replacement" encoding: the browser shows nothing of it
            "bytes_in": 0,
            "bytes_out": 0,
        }
        self._active = not isinstance(urls, IdentityRewriter)
        self._inject_src = inject
        self._inject_pending = bool(inject)
        self._label = charset
        self._codec: str | None = None
        self._codec_locked = False  # transport charset or BOM: a <meta charset> cannot override
        self._mode = "sniff"  # sniff -> rewrite | transcode | pass | failed
        self._head = b""
        self._transcoder: _Transcoder | None = None
        # plain URL head -> mapped head (_plain_url; the core reads it): the mapper's context's
        # shared memo when it has one (UrlRewriter.markup_memo), else this rewriter's own
        shared = getattr(urls, "markup_memo", None)
        shared = shared() if shared is not None else None
        self._memo: dict[str, str | bool] = {} if shared is None else shared
        self._share: Callable[[dict, str, str | bool], None] | None = (
            None if shared is None else urls.remember_markup)
        self._memo_cap = limits.MAX_URL_MEMO  # entries this rewriter's own memo may hold
        self._parts: list[str] | None = None  # contents of a <style>/<script> being collected
        self._parts_len = 0
        self._parts_kind = ""  # "css", or a script kind (CLASSIC, MODULE, IMPORTMAP, SPECULATION)
        self._xml_root = ""  # XML mode: name of the root element once seen
        self._depth = 0  # srcdoc nesting level of this document
        self._tree = True  # False: bare tokenizer (html5lib vectors), no tree-builder effects
        self._tag_sink: Callable[[tuple[str, list[tuple[str, str]]]], None] | None = None
        self._closed = False

    @property
    def xml(self) -> bool:
        """XHTML/SVG document: every element is markup, CDATA anywhere, the injection inside the root."""
        return self._xml

    @xml.setter
    def xml(self, value: bool) -> None:
        self._xml = self._sim.xml = bool(value)

    # -- byte level --------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        if self._closed:
            raise ValueError("feed() after close()")
        self.stats["bytes_in"] += len(data)
        mode = self._mode
        if mode == "rewrite":
            out = self._text(data.decode("latin-1"), final=False)
        elif mode == "sniff":
            self._head += data
            if len(self._head) < BOM_SNIFF:
                return b""
            data, self._head = self._head, b""
            out = self._start(data)
        elif mode == "transcode":
            out = self._transcoder.feed(data, final=False)
        elif mode == "pass":
            out = bytes(data)
        else:
            raise RewriteFailed("feed() after the rewriter failed")
        self.stats["bytes_out"] += len(out)
        return out

    def close(self) -> bytes:
        if self._closed:
            return b""
        out = b""
        if self._mode == "sniff":
            data, self._head = self._head, b""
            out = self._start(data)
        if self._mode == "rewrite":
            out += self._text("", final=True)
        elif self._mode == "transcode":
            out += self._transcoder.feed(b"", final=True)
        elif self._mode == "failed":
            raise RewriteFailed("close() after the rewriter failed")
        self._closed = True
        self.stats["bytes_out"] += len(out)
        return out

    def _start(self, data: bytes) -> bytes:
        """Decide the encoding from the first bytes, then process them."""
        bom = b""
        codec, how = None, ASCII_COMPATIBLE
        if data.startswith(codecs.BOM_UTF8):
            bom, codec = codecs.BOM_UTF8, "utf-8"
        elif data.startswith(codecs.BOM_UTF16_LE):
            bom, codec, how = codecs.BOM_UTF16_LE, "utf-16-le", TRANSCODE
        elif data.startswith(codecs.BOM_UTF16_BE):
            bom, codec, how = codecs.BOM_UTF16_BE, "utf-16-be", TRANSCODE
        else:
            codec, how = resolve_charset(self._label)
        if how == BLANK:
            self._mode = "pass"
            self.stats["passed_through"] = 1
            return data
        self._codec_locked = codec is not None
        if how == TRANSCODE:  # rewritten as UTF-8 in between: the tokenizer needs ASCII-compatible text
            self._mode = "transcode"
            self._codec = "utf-8"
            self.stats["transcoded"] = 1
            self._transcoder = _Transcoder(codec, self._text)
            self._use_core()
            return bom + self._transcoder.feed(data[len(bom):], final=False)
        self._codec = codec
        self._mode = "rewrite"
        self._use_core()
        return bom + self._text(data[len(bom):].decode("latin-1"), final=False)

    def _use_core(self) -> None:
        """Let the core walk over unchanged tokens (not for XML, nor for the bare tokenizer)."""
        if self._xml or not self._tree or self._tag_sink is not None:
            return
        if limits.MAX_TAG <= core.LONG_TAG:  # the core walks over tags up to LONG_TAG: a tighter budget
            return  # is the tokenizer's to enforce, tag by tag
        self._skip = core.ACTIVE
        self._skip_foreign = core.ACTIVE_FOREIGN
        self._splice = core.ACTIVE_SPLICE
        self._text_end = core.ACTIVE_TEXT_END
        self._core_learn = self._learn_url
        self._skip_flags = self._core_flags()

    def _core_flags(self) -> int:
        """What the core may assume of this rewriter's callables and document (core.F_*)."""
        active = self._active
        flags = ((core.F_JS if active and self.js is not None else 0)
                 | (core.F_CSS if active and self.css is not None else 0)
                 | (core.F_ACTIVE if active else 0))
        if getattr(self.js, "trigger_words", None) == core.JS_TRIGGER_WORDS:
            flags |= core.F_JS_WORDS  # the real JS rewriter: what has none of its words passes
        if getattr(self.css, "mapper", None) is self.urls:
            flags |= core.F_CSS_URLS  # the real CSS rewriter, on this mapper: plain url() heads from the memo
        if self._codec in (None, "utf-8"):
            flags |= core.F_UTF8
        if self._codec_locked:
            flags |= core.F_CODEC_LOCKED  # <meta charset> can change nothing now (_meta)
        if self.csp is not None:
            flags |= core.F_KEEP_NONCE
        if limits.MAX_SCRIPT >= core.RAW_WALK_MAX and limits.MAX_STYLE >= core.RAW_WALK_MAX:
            flags |= core.F_RAW_WALK  # else a tighter budget is the rewriter's to enforce
        return flags

    def _text(self, text: str, final: bool) -> bytes:
        """Rewrite latin-1 text (the page's bytes); fail closed on anything unexpected."""
        try:
            out = self._process(text, final).encode("latin-1")
            if self._skipped_tags:
                self.stats["start_tags"] += self._skipped_tags
                self._skipped_tags = 0
            return out
        except RewriteError:
            self._mode = "failed"
            raise
        except Exception as exc:  # a bug must not let the page through unrewritten
            self._mode = "failed"
            raise RewriteFailed(f"internal error: {type(exc).__name__}") from exc

    def _core_memo(self) -> dict | None:
        """The URL head memo the core may edit from: only while its edits are all there is to do
        (no hook, no kept originals, a real mapper)."""
        if self._active and self.on_rewrite is None and not self.keep_original:
            return self._memo
        return None

    def _learn_url(self, url: str, end: int) -> None:
        """The core's question about a plain URL whose head the memo lacks: what the mapper makes
        of it, remembered (_mapped). The mapper's counts are left as they were: whoever makes the
        edit counts it (the core's edits, or this rewriter's own path when the core stops)."""
        urls = self.urls
        rewritten, invalid = urls.rewritten, urls.invalid
        self._mapped(url, end)
        urls.rewritten, urls.invalid = rewritten, invalid

    def _push_foreign(self, names: list[str]) -> None:
        self._sim.push_foreign(names)

    def _core_edits(self, edits: list[Edit], urls: int) -> None:
        """Values the core rewrote from the memo (``urls``: the URLs they map; a srcset may map
        several): as _plain_url and _srcset_edits would have."""
        if self._edit_log is not None:
            for a, b, text in edits:
                self._replace(a, b, text)
        else:  # _replace inlined: the unchanged run before each value, then the value (in order), at once
            self._out.append(self._splice(self._buf, self._copied, edits))
            self._copied = edits[-1][1]
        self.stats["rewritten"] += len(edits)
        self.urls.rewritten += urls

    def _cdata_allowed(self) -> bool:
        return self._sim.cdata_allowed()

    def _at_eof(self) -> None:
        if self._inject_pending and not self._xml:  # XML: nothing may follow the root
            self._inject_now(None)

    def _emit_text(self, buf: str, a: int, b: int) -> None:
        """Text between tags: copied through; while the injection waits, text content places it."""
        if a >= b or not self._inject_pending or self._xml:
            return
        m = NON_WS_RE.search(buf, a, b)
        if m:  # text content makes the parser open <head> (and <body>): runtime first
            self._inject_now(m.start())

    def _inject_now(self, pos: int | None) -> None:
        """Insert the injection before buffer position ``pos`` (None: at the end of the output)."""
        self._inject_pending = False
        text = self._inject_src
        if self._xml:
            text = xml_safe_markup(text)
            if self._xml_root != "html":  # e.g. an SVG document: scripts must be XHTML's to load by src
                text = _INJECT_SCRIPT_RE.sub('<script xmlns="http://www.w3.org/1999/xhtml"', text)
        if not text.isascii():
            text = text.encode(self._codec or "utf-8", "xmlcharrefreplace").decode("latin-1")
        if pos is not None:
            self._flush_to(pos)
        self._insert(text)
        self.stats["injected"] = 1


    def _raw_text(self, buf: str, a: int, b: int, last: bool) -> None:
        """buf[a:b] is text of a raw text element or a script: copied through, or collected."""
        parts = self._parts
        if parts is None:
            return
        if b > a:
            self._replace(a, b, "")  # held back: written (rewritten) when the element ends
            parts.append(buf[a:b])
            self._parts_len += b - a
        limit = limits.MAX_STYLE if self._parts_kind == "css" else limits.MAX_SCRIPT
        if self._parts_len > limit:  # too big to hold, and passing it through would leak its URLs
            what = "<style>" if self._parts_kind == "css" else "inline script"
            raise RewriteBudgetExceeded(f"an {what} over {limit} bytes")
        if last:
            self._parts = None
            raw = "".join(parts)
            if self._parts_kind == "css":
                self._insert(self._rewrite_css(raw))
            else:
                self._insert(self._rewrite_script(raw, self._parts_kind))

    def _rewrite_script(self, raw: str, kind: str) -> str:
        if not raw:
            return raw
        as_bytes = getattr(self.js, "rewrite_bytes", None)
        if as_bytes is not None and kind in (CLASSIC, MODULE) and self._codec in (None, "utf-8"):
            data = raw.encode("latin-1")  # the page's own bytes: UTF-8, as the JS rewriter reads them
            out = as_bytes(data)  # raises only a RewriteError (budget): the document fails closed
            if out is data or out == data:
                return raw
            self.stats["js_blocks"] += 1
            return out.decode("latin-1")
        text = self._to_unicode(raw)
        if text is None:
            self.stats["js_skipped"] += 1
            return raw
        if kind == IMPORTMAP:
            new = rewrite_importmap(text, self.urls)
        elif kind == SPECULATION:
            new = rewrite_speculation_rules(text, self.urls)
        else:
            new = self.js(text)
        if new == text:
            return raw
        back = self._from_unicode(new)
        if back is None:
            self.stats["js_skipped"] += 1
            return raw
        self.stats["js_blocks"] += 1
        return back

    def _rewrite_css(self, raw: str) -> str:
        if not raw or not core.ACTIVE_CSS_WANTED(raw):  # no url(), no @import, no escape: no URL
            return raw
        text = self._to_unicode(raw)
        if text is None:
            self.stats["css_skipped"] += 1
            return raw
        new = self.css(text)
        if new == text:
            return raw
        back = self._from_unicode(new)
        if back is None:
            self.stats["css_skipped"] += 1
            return raw
        self.stats["css_blocks"] += 1
        return back


    def _end_tag(self, m: re.Match[str]) -> None:
        name = m.group(2)
        if not name.islower():
            name = name.translate(ASCII_LOWER)
        if self._inject_pending and name in IMPLY_HEAD_END and not self._xml:
            self._inject_now(m.start())
        if self._foreign:
            self._sim.end_tag(name)

    def _start_tag(self, buf: str, m: re.Match[str]) -> bool:
        """Emit a start tag (rewritten if need be); True if the tokenizer state changed."""
        self._skipped_tags += 1  # start tags not yet in stats (added once per _text)
        name = m.group(2)
        if not name.islower():
            name = name.translate(ASCII_LOWER)
        a_start, a_end = m.span(3)
        attrs: dict[str, re.Match[str]] = {}
        if a_start < a_end and self._tag_sink is None and not self._foreign and name not in ATTR_DICT_TAGS:
            # the common case: no tree-builder decision needs the attributes, only the table does
            edits = self._table_edits(buf, name, a_start, a_end)
            a_start = a_end
        else:
            edits = None
        if a_start < a_end:
            for am in ATTR_RE.finditer(buf, a_start, a_end):
                an = am.group(1)
                if not an.islower():
                    an = an.translate(ASCII_LOWER)
                if an not in attrs:  # duplicates: the first one wins
                    attrs[an] = am
        if self._tag_sink is not None:
            self._tag_sink((name.replace("\0", "\ufffd"), [
                (an.replace("\0", "\ufffd"), decode_attr_value(_unquote(am.group(2)))[0])
                for an, am in attrs.items()
            ]))
        if attrs:
            edits = self._attr_edits(buf, name, attrs)
        if self._sri_attr is not None:
            edits = self._sri_edits(buf, name, m, edits)
        after = False  # inject right after this tag
        if self._inject_pending and name != "html":
            if name == "head" or (self._xml and not self._xml_root):  # XML: inside the root element
                if buf[m.end() - 2] == "/" and name != "head":
                    self._inject_pending = False  # an empty root: nowhere to put it
                else:
                    after = True
            else:
                self._inject_now(m.start())
        if edits:
            for s, e, text in sorted(edits):
                self._replace(s, e, text)
        if after:
            self._inject_now(m.end())
        if self._xml and not self._xml_root:
            self._xml_root = name
        if self._state != DATA:  # a <meta charset> of a non-ASCII-compatible encoding
            return True
        if self._foreign or name in TREE_NAMES:
            return self._tree and self._tree_effects(name, attrs, m)
        return False

    def _tree_effects(self, name: str, attrs: dict[str, re.Match[str]], m: re.Match[str]) -> bool:
        """Ask the tree-builder simulator what this start tag does; True if the state changed."""
        self_closing = m.string[m.end(3): m.end() - 1].endswith("/")
        state = self._sim.start_tag(name, attrs, lambda an: _attr_text(attrs.get(an)), self_closing)
        if state is None:
            return False
        if state == PLAINTEXT:
            self._state = PLAINTEXT
            return True
        self._enter(state, name)
        if name == "script" or name == "style":
            self._collect_for(name, attrs)
        return True

    def _collect_for(self, name: str, attrs: dict[str, re.Match[str]]) -> None:
        """Start collecting the contents of a <style> or <script> that has something to rewrite."""
        if not self._active:
            return
        if name == "style":
            kind = "css" if self.css is not None else ""
        else:
            kind = self._script_kind(attrs)
            if kind in (CLASSIC, MODULE) and self.js is None:
                kind = ""
        if kind:
            self._parts, self._parts_len, self._parts_kind = [], 0, kind

    @staticmethod
    def _script_kind(attrs: dict[str, re.Match[str]]) -> str:
        """What a <script>'s contents are (policy.script_kind)."""
        t, lang = attrs.get("type"), attrs.get("language")
        return script_kind(None if t is None else _attr_text(t), None if lang is None else _attr_text(lang))

    # -- attributes -----------------------------------------------------------

    def _attr_edits(self, buf: str, tag: str, attrs: dict[str, re.Match[str]]) -> list[Edit]:
        table = table_for(tag)
        edits: list[Edit] = []
        for an, am in attrs.items():
            kind = table.get(an)
            if kind is None:
                kind = self._prefix_kind(an, am)
                if kind is None:
                    continue
            self._attr_edit(buf, tag, an, am, kind, edits)
        if tag == "meta":
            edits.extend(self._meta(buf, attrs))
        return edits

    def _table_edits(self, buf: str, tag: str, a_start: int, a_end: int) -> list[Edit]:
        """Like _attr_edits, straight from the attribute text: no dictionary of every attribute,
        only the names the table knows are remembered (the first of duplicates wins)."""
        table = table_for(tag)
        edits: list[Edit] = []
        seen: set[str] | None = None
        handlers = self.js is not None and self._active
        for am in ATTR_RE.finditer(buf, a_start, a_end):
            an = am.group(1)
            if not an.islower():
                an = an.translate(ASCII_LOWER)
            kind = table.get(an)
            if kind is None:  # _prefix_kind, inlined (most attributes end here)
                if an[:5] == "data-" and am.group(2):
                    kind = DATA_URL
                elif handlers and an[:2] == "on":
                    kind = JS
                else:
                    continue
            if seen is None:
                seen = {an}
            elif an in seen:
                continue
            else:
                seen.add(an)
            # _rewrite_value's fast paths, inlined (no <base> here: _start_tag sends it to _attr_edits)
            if kind == DATA_URL:  # most data-* values do not start "http": nothing to map
                v = am.group(2)
                head = v[1:5] if v[0] in "\"'" else v[:4]
                if head[:1] != "&" and head.lower() != "http":
                    continue
            elif kind == URL:  # a relative URL (or none): nothing to map
                v = am.group(2)
                if not v or RELATIVE_URL_RE.match(v, 1 if v[0] in "\"'" else 0):
                    continue
            self._attr_edit(buf, tag, an, am, kind, edits)
        return edits

    def _prefix_kind(self, an: str, am: re.Match[str]) -> str | None:
        if an.startswith("data-") and am.group(2):
            return DATA_URL
        if an.startswith("on") and self.js is not None and self._active:
            return JS
        return None

    def _attr_edit(self, buf: str, tag: str, an: str, am: re.Match[str], kind: str, edits: list[Edit]) -> None:
        if kind == DROP:
            if an == "nonce" and self.csp is not None:
                return  # the page's CSP is in force: its nonces are what let its scripts run
            if an == "integrity" and self.sri is not None and self._active:
                self._sri_attr = am
            if self._active:
                if self.keep_original:  # the name only: the value stays readable to the runtime
                    edits.append((am.start(1), am.start(1), ORIGINAL_PREFIX))
                else:
                    edits.append(self._drop(buf, am))
                self.stats["removed"] += 1
            return
        if kind == CSS and (self.css is None or not self._active):
            return
        v = am.group(2)
        if v is None:
            return
        if tag == "base" and an == "href" and self.base_href is None:
            self.base_href = decode_attr_value(self._value(am)[0])[0]
        if not v:  # "href=" and nothing after: an empty value, nothing to map
            return
        edit = self._rewrite_value(am, kind, tag, an)
        if edit is not None:
            edits.append(edit)

    def _sri_edits(self, buf: str, tag: str, m: re.Match[str], edits: list[Edit] | None) -> list[Edit] | None:
        """The integrity of a <script src> or <link rel=stylesheet|preload|modulepreload href> carried
        to the proxy as a marker at the end of the URL's query (rewriter/urls.py)."""
        sri, self._sri_attr = self._sri_attr, None
        want = SRI_URL_ATTR.get(tag)
        if want is None or sri.group(2) is None:
            return edits
        found: dict[str, re.Match[str]] = {}
        for am in ATTR_RE.finditer(buf, *m.span(3)):
            found.setdefault(am.group(1).translate(ASCII_LOWER), am)
        um = found.get(want)
        if um is None or not um.group(2) or found["integrity"].span() != sri.span():
            return edits
        if tag == "link":
            rel = found.get("rel")
            rels = set(decode_attr_value(self._value(rel)[0])[0].lower().split()) if rel and rel.group(2) else set()
            if not rels & SRI_LINK_RELS:
                return edits
        marker = self.sri(decode_attr_value(self._value(sri)[0])[0])
        if not marker:
            return edits
        vs, ve = um.span(2)
        same = [e for e in edits or () if e[0] == vs and e[1] == ve]
        text = same[0][2] if same else buf[vs:ve]
        quote = text[0] if text[:1] in "\"'" and text.endswith(text[0]) and len(text) > 1 else ""
        body = text[1:-1] if quote else text
        cut = body.find("#")
        cut = len(body) if cut < 0 else cut
        body = f"{body[:cut]}{'&' if '?' in body[:cut] else '?'}{marker}{body[cut:]}"
        return [e for e in edits or () if e not in same] + [(vs, ve, quote + body + quote)]

    def _drop(self, buf: str, am: re.Match[str]) -> Edit:
        start, end = am.span()
        if end < len(buf) and buf[end] not in WS and buf[end] != ">":
            return start, end, " "  # keep the next attribute from joining the previous one
        return start, end, ""

    @staticmethod
    def _value(am: re.Match[str]) -> tuple[str, str]:
        """(raw value without quotes, quote) of an attribute that has a value."""
        v = am.group(2)
        q = v[:1]
        if q == '"' or q == "'":
            return v[1:-1], q
        return v, ""

    def _rewrite_value(self, am: re.Match[str], kind: str, tag: str, attr: str) -> Edit | None:
        if kind == URL:
            v = am.group(2)
            if RELATIVE_URL_RE.match(v, 1 if v[0] in "\"'" else 0):  # fast path: nothing to map
                return None
            fast = self._plain_url(am, v, tag, attr)
            if fast is not False:
                return fast
            edit_fn = self._url_edits
        elif kind == SRCSET:
            edit_fn = self._srcset_edits
        elif kind == URL_LIST:
            edit_fn = self._list_edits
        elif kind == CSS:
            if not core.style_wanted(self._value(am)[0]):  # no url(), no @import: nothing to map
                return None
            edit_fn = self._css_edits
        elif kind == JS:
            edit_fn = self._js_edits
        elif kind == SRCDOC:
            if not self._active:
                return None
            if self._depth >= limits.MAX_SRCDOC_DEPTH:  # left as it is, its URLs would reach the site
                raise RewriteBudgetExceeded(f"iframe srcdoc nested over {limits.MAX_SRCDOC_DEPTH} deep")
            edit_fn = self._srcdoc_edits
        else:  # DATA_URL: only a whole absolute http(s) URL; most data-* values are not (fast path)
            v = am.group(2)
            head = v[1:5] if v[0] in "\"'" else v[:4]
            if head[:1] != "&" and head.lower() != "http":
                return None
            if head[:1] == "&" and head[1:2] in LETTERS:  # no named reference decodes to "h": not http
                return None
            q = 1 if v[0] in "\"'" else 0
            if "&" not in v and v.isascii():  # reads as written
                if not ABS_HTTP_RE.fullmatch(v, q, len(v) - q):
                    return None  # not a whole absolute URL: never rewritten (as the core leaves it)
                fast = self._plain_url(am, v, tag, attr)  # the memo's fast path (as the core edits it)
                if fast is not False:
                    return fast
            edit_fn = self._data_url_edits
        return self._edit_value(am, edit_fn, tag, attr)

    def _edit_value(self, am: re.Match[str], edit_fn: Callable[[str], list[Edit]], tag: str, attr: str) -> Edit | None:
        """Decode the value, let ``edit_fn`` edit it, splice the edits into the raw text.

        Returns an edit of the buffer replacing the value (quotes included), or None.
        """
        raw, quote = self._value(am)
        u = self._to_unicode(raw)
        if u is None:
            return None
        value, pos = decode_value(u)  # pos: where the decoded characters are in u (None: the same)
        edits = edit_fn(value)  # an exception fails the document (closed), never skips a value
        if not edits:
            return None
        if pos is not None:  # references were decoded: offsets differ after the first "&"
            amp = u.find("&")
            if amp >= 0 and max(e for _, e, _ in edits) <= amp:
                pos = None
        new = splice(u, value, pos, edits, quote)
        if new is None:
            return None
        new = self._from_unicode(new)
        if new is None:
            return None
        return self._finish(am, new, tag, attr)

    def _finish(self, am: re.Match[str], new: str, tag: str, attr: str) -> Edit:
        """The edit replacing an attribute's value (quotes included) with ``new``; hooks applied."""
        self.stats["rewritten"] += 1
        vs, ve = am.span(2)
        if self.keep_original:
            new += f" {ORIGINAL_PREFIX}{attr.replace(':', '_')}={am.group(2)}"
        if self.on_rewrite is not None:
            extra = self.on_rewrite(tag, attr, am.group(2), new)
            if extra:
                new += extra
        return vs, ve, new

    def _plain_url(self, am: re.Match[str], v: str, tag: str, attr: str) -> Edit | None | bool:
        """Fast path for a plain URL value: ASCII, no tab/newline/NUL, no character reference up to
        the end of its authority. Then the raw text reads as itself where the mapper looks, and the
        mapper's output (origin replaced, the rest as given) is the new raw value. False: not plain.

        The mapper only reads the head (``URL_HEAD_RE``: scheme, slashes, authority) and keeps the
        rest as written, so what it made of a head is remembered (``_memo``: head -> new head, or
        False for a ``javascript:`` URL) and reused for every URL of the page with that head. The
        compiled core reads the same memo (core.py)."""
        plain = core.plain_url(v)
        if plain is None:
            return False
        q, raw, end = plain
        new = self._mapped(raw, end)
        if new is False or new is None:
            return new
        return self._finish(am, q + new + q, tag, attr)

    def _mapped(self, raw: str, end: int) -> str | None | bool:
        """What the mapper makes of the plain URL ``raw`` whose head ends at ``end``, through the
        memo: the new URL, None when it stays, False when the memo cannot say (a ``javascript:``
        URL, or a head the mapper refused: the caller maps it the long way, the mapper counts it)."""
        head = raw[:end]
        new_head = self._memo.get(head)
        if new_head is False:
            return False
        if new_head is not None:
            if new_head == head:
                return None
            self.urls.rewritten += 1  # the mapper's count stays the number of URLs mapped
            return new_head + raw[end:]
        if javascript_url_body(raw) is not None:
            self._remember(head, False)
            return False
        invalid = self.urls.invalid
        new = self.urls.rewrite(raw)
        tail = len(raw) - end
        if self.urls.invalid != invalid:
            self._remember(head, False)  # refused: counted again wherever it is (as _srcset_edits would)
        elif new.endswith(raw[end:]):
            self._remember(head, new[: len(new) - tail])
        return None if new == raw else new

    def _remember(self, head: str, entry: str | bool) -> None:
        if len(self._memo) >= limits.MAX_URL_MEMO:
            if self._share is None:
                if len(self._memo) >= self._memo_cap:
                    return
            else:  # the session's shared memo is full: the rest of this page learns into a copy of
                # its own with room for as many again, not once per URL
                self._memo, self._share = dict(self._memo), None
                self._memo_cap = len(self._memo) + limits.MAX_URL_MEMO
        if self._share is None:
            self._memo[head] = entry
        else:  # the mapper keeps out of its shared memo what it does not know holds for others
            self._share(self._memo, head, entry)

    def _url_edits(self, value: str) -> list[Edit]:
        body = javascript_url_body(value)
        if body is not None:
            return self._javascript_url_edits(value, body) if self.js is not None and self._active else []
        return diff_url(value, self._map_url(value))

    def _map_url(self, url: str) -> str:
        """``self.urls.rewrite(url)`` of a decoded URL value, through the memo when the URL is
        plain (ASCII, no tab, newline, CR or NUL: what _plain_url asks of a raw value)."""
        if url.isascii() and "\t" not in url and "\n" not in url and "\r" not in url and "\0" not in url:
            new = self._mapped(url, URL_HEAD_RE.match(url).end())
            if new is None:
                return url
            if new is not False:
                return new
        return self.urls.rewrite(url)

    def _javascript_url_edits(self, value: str, at: int) -> list[Edit]:
        """A javascript: URL: its body is percent-decoded script (ASCII escapes decoded here)."""
        raw = value[at:]
        if "%" not in raw:
            return [(at + a, at + b, t) for a, b, t in diff_many(raw, self.js(raw))]
        code, starts = percent_decode_ascii(raw)
        new = self.js(code)
        if new == code:
            return []
        edits = []
        for a, b, t in diff_many(code, new):
            edits.append((at + starts[a], at + starts[b], t.replace("%", "%25")))
        return edits

    def _js_edits(self, value: str) -> list[Edit]:
        return diff_many(value, self.js(value))

    def _srcdoc_edits(self, value: str) -> list[Edit]:
        inner = HtmlRewriter(
            self.urls, inject=self._inject_src, charset="utf-8", css=self.css, js=self.js,
            keep_original=self.keep_original,
        )
        inner._depth = self._depth + 1
        inner.on_rewrite = self.on_rewrite
        inner.csp, inner.sri = self.csp, self.sri
        inner._edit_log = []
        data = value.encode("utf-8", "surrogateescape")
        out = inner.feed(data) + inner.close()
        if out == data:
            return []
        if inner.stats["passed_through"] or data.startswith(codecs.BOM_UTF8):
            return diff_many(value, out.decode("utf-8", "surrogateescape"))
        # the inner rewriter's own log: exactly what changed, in UTF-8 byte offsets of ``data``
        edits: list[Edit] = []
        byte_at = char_at = 0
        for a, b, text in tight_log(inner._edit_log, data):
            ca = char_at + len(data[byte_at:a].decode("utf-8", "surrogateescape"))
            cb = ca + len(data[a:b].decode("utf-8", "surrogateescape"))
            byte_at, char_at = b, cb
            text = text.encode("latin-1").decode("utf-8", "surrogateescape")
            if edits and edits[-1][0] == edits[-1][1] == ca and a == b:  # two insertions at one place
                edits[-1] = (ca, ca, edits[-1][2] + text)
            else:
                edits.append((ca, cb, text))
        return edits

    def _srcset_edits(self, value: str) -> list[Edit]:
        edits = []
        for s, e in srcset_url_spans(value):
            url = value[s:e]
            if RELATIVE_URL_RE.match(url):  # nothing to map (as for a URL attribute)
                continue
            new: str | None | bool = False
            if url.isascii() and "\0" not in url and "&" not in url:  # plain (a candidate has no whitespace):
                new = self._mapped(url, URL_HEAD_RE.match(url).end())  # through the memo the core reads
                if new is None:
                    continue
            if new is False:
                new = self.urls.rewrite(url)
            edits.extend(diff_url(url, new, s))
        return edits

    def _list_edits(self, value: str) -> list[Edit]:
        edits = []
        for t in WS_TOKEN_RE.finditer(value):
            edits.extend(diff_url(t.group(), self.urls.rewrite(t.group()), t.start()))
        return edits

    def _css_edits(self, value: str) -> list[Edit]:
        return diff_many(value, self.css(value))

    def _data_url_edits(self, value: str) -> list[Edit]:
        if not ABS_HTTP_RE.fullmatch(value):
            return []
        return diff_url(value, self._map_url(value))

    def _meta(self, buf: str, attrs: dict[str, re.Match[str]]) -> list[Edit]:
        edits: list[Edit] = []
        he = attrs.get("http-equiv")
        content = attrs.get("content")
        if content is not None and content.group(2) is None:
            content = None
        equiv = ""
        if he is not None and he.group(2):
            equiv = decode_attr_value(self._value(he)[0])[0].translate(ASCII_LOWER)
        if equiv == "refresh" and content is not None:
            def refresh(value: str) -> list[Edit]:
                span = refresh_url_span(value)
                if span is None:
                    return []
                s, e = span
                return diff_url(value[s:e], self.urls.rewrite(value[s:e]), s)

            edit = self._edit_value(content, refresh, "meta", "content")
            if edit is not None:
                edits.append(edit)
        elif equiv in CSP_NAMES and self._active and self.csp is not None:
            if content is not None:  # kept in force, on the proxied origins
                edit = self._edit_value(content, lambda v: [(0, len(v), self.csp(v))], "meta", "content")
                if edit is not None:
                    edits.append(edit)
        elif equiv in CSP_NAMES and self._active:
            vs, ve = he.span(2)
            quote = self._value(he)[1]
            edits.append((vs, ve, quote + CSP_REPLACEMENT + quote))
            self.stats["csp_neutralised"] += 1
        if not self._codec_locked:
            label = None
            if "charset" in attrs and attrs["charset"].group(2):
                label = decode_attr_value(self._value(attrs["charset"])[0])[0]
            elif equiv == "content-type" and content is not None:
                cm = META_CHARSET_RE.search(decode_attr_value(self._value(content)[0])[0])
                label = cm.group(2) if cm else None
            if label:
                self._codec_locked = True
                low = label.strip().lower()
                if low.startswith(("utf-16", "utf-32")):  # a meta cannot say UTF-16: it means UTF-8
                    low = "utf-8"
                codec, how = resolve_charset(low)
                if how == TRANSCODE:  # ISO-2022-JP declared in the document: its bytes were read as ASCII
                    raise RewriteError(f"a <meta> declares {codec}, which is only rewritten when declared in the header")
                self._codec = codec
                if self._skip is not None:
                    self._skip_flags = self._core_flags()
                if how == BLANK:  # the browser decodes the document as one U+FFFD: nothing loads
                    self._state = PLAINTEXT
                    self.stats["passed_through"] = 1
        return edits

    # -- charset conversion of the spans we rewrite ------------------------------

    def _to_unicode(self, s: str) -> str | None:
        return s if s.isascii() else to_unicode(s, self._codec)

    def _from_unicode(self, u: str) -> str | None:
        return u if u.isascii() else from_unicode(u, self._codec)


def _attr_text(am: re.Match[str] | None) -> str | None:
    """The decoded value of an attribute match ("" when valueless), None when absent."""
    if am is None:
        return None
    return decode_attr_value(_unquote(am.group(2)))[0]


def _unquote(raw: str | None) -> str:
    if not raw:
        return ""
    if raw[0] in "\"'":
        return raw[1:-1]
    return raw



def rewrite_html(data: bytes, urls: UrlRewriter, **kw) -> bytes:
    """Rewrite a whole document (see :class:`HtmlRewriter` for the keywords)."""
    rw = HtmlRewriter(urls, **kw)
    return rw.feed(data) + rw.close()



def iter_start_tags(
    text: str,
    state: str = "Data state",
    last_start_tag: str | None = None,
    chunk: int = 0,
    *,
    tree: bool = False,
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The start tags the tokenizer sees in ``text``: (name, [(attr, value), ...]).

    Names are lower-cased, values decoded, duplicates dropped. By default there is no
    tree builder: a <script> start tag does not switch states (this is what the
    html5lib tokenizer vectors describe); ``tree=True`` gives the rewriter's view, with
    raw text elements and foreign content. ``state`` is an html5lib initial state name;
    ``last_start_tag`` names the appropriate end tag for the text states. ``chunk`` > 0
    feeds the text in pieces of that size.
    """
    rw = HtmlRewriter(IdentityRewriter())
    rw._tree = tree
    tags: list[tuple[str, list[tuple[str, str]]]] = []
    rw._tag_sink = tags.append
    rw._mode = "rewrite"
    st = STATE_NAMES[state.lower()]
    if st in (RCDATA, RAWTEXT, SCRIPT):
        rw._enter(st, last_start_tag or "\0no end tag\0")
    else:
        rw._state = st
    pieces: Iterable[str] = [text] if chunk <= 0 else (text[i: i + chunk] for i in range(0, len(text), chunk))
    for piece in pieces:
        rw._process(piece, final=False)
        yield from tags
        tags.clear()
    rw._process("", final=True)
    yield from tags
