"""Hypothesis settings, input strategies and cheap mutations shared by the fuzz tests.

Each example Hypothesis generates is a structured seed (HTML-, CSS-, JS-, URL-shaped text,
headers, cookies, JSON) plus a seeded random generator; the test runs its target on the seed
and on ``VARIANTS`` cheap mutations of it (cuts, splices, inserted awkward tokens, flipped
bytes). Every one of those is an input, counted in :data:`COUNTS` and printed at the end of
the run. Hypothesis still shrinks a failure to a small seed.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default) — more than 100,000 inputs in all, the
same every run (derandomized) so a CI failure reproduces; ``big`` — 20 times as many,
randomized, for a session by hand::

    HYPOTHESIS_PROFILE=big .venv/bin/python -m pytest -q tests/fuzz -p no:cacheprovider

``FUZZ_SCALE`` multiplies the example counts (``FUZZ_SCALE=0.05`` for a quick look).
Budget: no single input may take more than ``BUDGET_S`` of CPU time (CPU, not wall time:
the figure must not depend on what else the machine runs).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings, strategies as st

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = float(os.environ.get("FUZZ_SCALE", 20 if PROFILE == "big" else 1))  # FUZZ_SCALE=0.01: a quick look
BUDGET_S = 0.5  # CPU seconds for one input: real pages take milliseconds; a hang or a blow-up takes far longer
VARIANTS = 28  # mutations run per generated seed: cheap, where generating a seed costs milliseconds
COUNTS: dict[str, int] = {}

_BASE = settings(
    deadline=None,  # wall time depends on the machine's load; the budget is checked in CPU time (run())
    derandomize=PROFILE != "big",
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def fuzz(examples: int) -> settings:
    """Settings for one fuzz target: ``examples`` inputs in the CI profile (times SCALE in ``big``)."""
    return settings(_BASE, max_examples=max(1, int(examples * SCALE)))


# -- text that looks like what the parsers look for ----------------------------------------------------------
SCHEMES = ["http", "https", "HTTP", "ws", "wss", "javascript", "JaVaScRiPt", "data", "blob", "about", "file", "ftp", "", "//"]
HOSTS = ["example.com", "EXAMPLE.com.", "xn--bcher-kva.example", "bücher.example", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
         "%9c", "%00", "a..b", "-a-", "tandem.localhost:8080", "abcdefgh2345-h-x.tandem.localhost:8080", "x:99999", "a@b", ""]
ODD = ["\x00", "\t", "\n", "\r", "\\", "%", "%%", "%2", "%zz", "\ufeff", "\u2028", "\ud800", "\udfff", "\U0001f600", "&#", "&amp;",
       "&#x0;", "&#1114112;", "\u0085", "\x7f", "\xa0", "\u202e", "'", '"', "`", "<", ">", "/", "*/", "/*", "-->", "<!--", "]]>"]


def _join(parts):
    return "".join(parts)


odd_text = st.lists(st.one_of(st.sampled_from(ODD), st.text(max_size=8)), max_size=12).map(_join)

urls = st.one_of(
    st.builds(lambda s, h, p, q: (f"{s}://" if s not in ("", "//") else s) + h + p + q,
              st.sampled_from(SCHEMES), st.one_of(st.sampled_from(HOSTS), st.text(max_size=12)),
              st.one_of(st.just(""), st.just("/"), st.text(max_size=15).map(lambda t: "/" + t)),
              st.one_of(st.just(""), odd_text.map(lambda t: "?" + t))),
    odd_text,
    st.text(max_size=40),
)

TAGS = ["a", "img", "script", "style", "link", "iframe", "frame", "form", "base", "meta", "svg", "math", "template", "noscript",
        "textarea", "title", "plaintext", "xmp", "object", "embed", "video", "source", "image", "use", "body", "html", "head",
        "input", "button", "area", "foreignObject", "annotation-xml", "select", "option", "table", "p", "div", "x-y"]
ATTRS = ["href", "src", "srcset", "action", "formaction", "style", "srcdoc", "content", "http-equiv", "charset", "integrity",
         "nonce", "xlink:href", "data", "poster", "background", "ping", "imagesrcset", "type", "rel", "on" + "click", "target",
         "xmlns", "is", "id"]


def _attr(name, value, quote):
    return f" {name}" if value is None else f" {name}={quote}{value}{quote}"


attribute = st.builds(_attr, st.one_of(st.sampled_from(ATTRS), st.text(max_size=6)),
                      st.one_of(st.none(), urls, st.sampled_from(["refresh", "0;url=/x", "text/html; charset=utf-16", "a 1x, b 2x"])),
                      st.sampled_from(['"', "'", ""]))
tag = st.builds(lambda close, name, attrs, end: f"<{close}{name}{''.join(attrs)}{end}",
                st.sampled_from(["", "/", "!", "?", "!--"]), st.one_of(st.sampled_from(TAGS), st.text(max_size=5)),
                st.lists(attribute, max_size=4), st.sampled_from([">", "/>", "", " ", "--!>", "-->"]))
css_text = st.lists(st.one_of(
    st.builds(lambda q, u: f"url({q}{u}{q})", st.sampled_from(["", "'", '"']), urls),
    st.builds(lambda u: f'@import "{u}";', urls),
    st.sampled_from(["a{b:c}", "@font-face{src:url(x)}", "/*", "*/", "\\", "\\75 rl(", "image-set(", "@namespace url(", "{", "}", ";",
                     "@charset \"utf-16\";", "\\\n", "url(", "u\\rl("]),
    odd_text), max_size=12).map(_join)
js_text = st.lists(st.one_of(
    st.builds(lambda u: f'import("{u}");', urls),
    st.builds(lambda u: f"fetch(`{u}${{x}}`);", urls),
    st.builds(lambda u: f"location.href = '{u}';", urls),
    st.builds(lambda u: f'importScripts("{u}");', urls),
    st.sampled_from(["//# sourceMappingURL=x.map\n", "/*", "*/", "`", "${", "}", "'", '"', "\\", "\n", "import.meta.url", "eval(",
                     "postMessage(x, '*')", "new Worker('w.js')", "export default 1;", "<!--", "-->", "#!x\n", "/re/g", "a?.b"]),
    odd_text), max_size=14).map(_join)
html_text = st.lists(st.one_of(tag, odd_text, st.sampled_from(["<!doctype html>", "<![CDATA[", "]]>", "&", "&lt", "<!--", "-->",
                                                               "<script>", "</script>", "<style>", "</style>", "<svg>", "</svg>",
                                                               "<math>", "<template>", "\ufeff", "<meta charset=utf-16>"]),
                                  css_text, js_text), max_size=16).map(_join)


# -- cheap mutations and the budget --------------------------------------------------------------------------
TOKENS = ["<", ">", "</script>", "<!--", "-->", "\"", "'", "`", "url(", ")", "\\", "%", "&#x", ";", "\x00", "\ud800", "\U0001f600",
          "\n", "\r\n", "/*", "*/", "${", "}", "{", "[", "]", ":", ",", "=", " ", "javascript:", "//", "?", "#", "@import "]


# The generator the mutations draw from: a plain Random seeded from the example (derandomized in the CI
# profile, so a failure reproduces; it prints as Random(<seed>)). Not one whose every call is a Hypothesis
# draw (use_true_random=False): the ~300 draws of an example's mutations cost more than running its 29
# inputs, and a shrunk seed already gives a small failing input (run() notes the input itself).
MUTATION_RANDOMS = st.randoms(use_true_random=True)


def variants(seed, rnd, k: int = VARIANTS):
    """``seed`` (str or bytes) and ``k`` mutations of it."""
    yield seed
    is_bytes = isinstance(seed, bytes)
    for _ in range(k):
        s = seed
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randrange(6)
            n = len(s)
            i, j = sorted((rnd.randint(0, n), rnd.randint(0, n)))
            tok = rnd.choice(TOKENS)
            tok = tok.encode("utf-8", "surrogatepass") if is_bytes else tok
            if op == 0:
                s = s[:i]  # cut
            elif op == 1:
                s = s[:i] + tok + s[i:]  # insert an awkward token
            elif op == 2:
                s = s[:i] + s[j:]  # delete a span
            elif op == 3:
                s = s[:j] + s[i:j] + s[j:]  # duplicate a span
            elif op == 4 and n:
                c = rnd.randrange(256) if is_bytes else chr(rnd.choice([0, 0x80, 0xad, 0xd800, 0xfeff, rnd.randrange(0x110000)]))
                s = s[:i] + (bytes([c]) if is_bytes else c) + s[i + 1:]  # replace one unit
            else:
                s = s + s[i:j]  # repeat a tail
        yield s


def run(name: str, fn, *args):
    """``fn(*args)`` as one counted input within the CPU budget."""
    import gc
    import time

    COUNTS[name] = COUNTS.get(name, 0) + 1
    # A full collection of the whole test process's heap can land inside any one input and cost
    # half a second that is not the input's: the budget measures the code under test, so the
    # collector waits until the input is done.
    gc.disable()
    try:
        start = time.process_time()
        result = fn(*args)
        spent = time.process_time() - start
    except BaseException as exc:
        exc.add_note(f"{name}: the input was {args!r:.2000}")
        raise
    finally:
        gc.enable()
    assert spent < BUDGET_S, f"{name}: one input took {spent:.2f} s of CPU (budget {BUDGET_S} s): {args!r:.300}"
    return result
