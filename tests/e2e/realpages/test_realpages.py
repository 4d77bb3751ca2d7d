"""Co-browsing on real pages: saved real web pages and framework apps, a tab owner and a follower.

Targets: the six framework apps (``apps/``) and a deterministic sample of the saved pages in
``../shared/corpus/pages`` (``REALPAGES`` unset: ``SAMPLE_SIZE`` pages; ``REALPAGES=all``: all of
them, as ``make test-full`` runs; ``REALPAGES=N``: the first N of the same order; or a comma list of
file names; ``REALPAGES_APPS=0`` leaves the apps out). Each target is run once (``cobrowse.Runner``) and every check below reads that run's
record; the records also go to ``$REALPAGES_RESULTS`` (default ``$TMPDIR/tandem-realpages/results.jsonl``)
for ``python -m tests.e2e.realpages.report``.

Known failures are listed in ``known.py`` (one reason per target and check, from
/work/notes/realpages-findings.md) and marked ``xfail(strict=True)``: a fix makes them XPASS, which
fails, so the entry gets removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import shutil

import pytest
import pytest_asyncio

from proxy.allowlist import ALL, Entry
from tests.e2e.browser import chromium, needs_chromium
from tests.harness import start_tandem

from .cobrowse import CHECKS, SIMILARITY_MIN, Runner, Target
from .known import KNOWN
from .server import APPS_DIST, HERE as SUITE_DIR, corpus_available, corpus_files, start_realpages

pytestmark = [pytest.mark.e2e, needs_chromium, pytest.mark.asyncio(loop_scope="module")]

# Targets run at once (REALPAGES_LANES, default 1): each has its own contexts and session, and the latencies
# recorded are those of a busier machine. Two lanes gained nothing measured (4 pages at load 18: 102 s with
# one, 105 s with two; a target's run is mostly CPU, Tandem's included, in this one process).
LANES = int(os.environ.get("REALPAGES_LANES") or 1)
SAMPLE_SIZE = 8  # pages in `make test`, kept small so it stays well under 20 minutes (all pages: `make test-full`)
APPS = ("jquery", "backbone", "vue", "svelte", "lit", "webcomponents")
NO_CORPUS = "../shared/corpus/pages is absent (the saved real pages live beside the repo, see shared/corpus/README.md)"


def sampled_pages() -> list[str]:
    files = corpus_files()
    wanted = os.environ.get("REALPAGES", "").strip()
    order = sorted(files, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
    if wanted == "all":
        return files
    if wanted.isdigit():
        return order[: int(wanted)]
    if wanted:
        return [name for name in wanted.split(",") if name in files]
    return sorted(order[:SAMPLE_SIZE])


PAGES = sampled_pages()
# REALPAGES_APPS=0 leaves the apps out (a run over pages only, e.g. one half of the corpus).
RUN_APPS = APPS if os.environ.get("REALPAGES_APPS", "1") != "0" else ()
TARGETS = [f"app:{name}" for name in RUN_APPS] + PAGES


def params(check: str, targets: list[str]) -> list:
    out = []
    for name in targets:
        reason = KNOWN.get((name, check))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(name, id=name, marks=marks))
    if not corpus_available() and check != "app_state":  # the saved pages: one visible skip, with its reason
        out.append(pytest.param(None, id="corpus-pages", marks=pytest.mark.skip(reason=NO_CORPUS)))
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner(request, tmp_path_factory):
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to build the framework apps (make install)")
    build = subprocess.run([node, str(SUITE_DIR / "apps" / "build.mjs")], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, f"the apps did not build: {build.stderr.strip()}"
    site = await start_realpages()
    tandem = await start_tandem(tmp_path_factory.mktemp("realpages"),
                                extra_allow=tuple(Entry(h, scope=ALL) for h in site.hosts))
    try:
        async with chromium() as browser:
            runner = Runner(browser, tandem, site)
            runner.plan(planned(request, runner), LANES)
            try:
                yield runner
            finally:
                await runner.close()
    finally:
        await tandem.close()
        await site.close()


def planned(request, runner: Runner) -> list[Target]:
    """The targets this module's selected tests ask for, in the order they ask."""
    names: list[str] = []
    for item in request.session.items:
        name = item.callspec.params.get("name") if hasattr(item, "callspec") else None
        if (item.module is request.module and isinstance(name, str) and name not in names  # an empty parameter set: no str
                and (name.startswith("app:") or corpus_available())):
            names.append(name)
    return [target(runner, name) for name in names]


def target(runner: Runner, name: str) -> Target:
    if name.startswith("app:"):
        app = name.split(":", 1)[1]
        assert (APPS_DIST / app / "index.html").is_file()
        return Target(name, runner.site.app_url(app), "app")
    if not corpus_available():
        pytest.skip(NO_CORPUS)
    return Target(name, runner.site.page_url(name), "page")


async def record(runner: Runner, name: str) -> dict:
    return await runner.result(target(runner, name))


def failure(rec: dict, check: str) -> str | None:
    found = rec["failures"].get(check)
    if found is None:
        return None
    return f"{rec['target']}: {check}: {json.dumps(found, ensure_ascii=False)[:1500]}"


@pytest.mark.parametrize("name", params("tandem_errors", TARGETS))
async def test_no_error_from_tandems_scripts(runner, name):
    """No uncaught error or console error in the tab owner's page names /__tandem/."""
    rec = await record(runner, name)
    assert failure(rec, "tandem_errors") is None, failure(rec, "tandem_errors")


@pytest.mark.parametrize("name", params("error_parity", TARGETS))
async def test_page_errors_same_direct_and_through_tandem(runner, name):
    """The page's own errors (URLs and numbers normalised, failed resource loads aside) are the
    same set loaded directly and through Tandem with a follower watching."""
    rec = await record(runner, name)
    assert failure(rec, "error_parity") is None, failure(rec, "error_parity")


@pytest.mark.parametrize("name", params("mirror_text", TARGETS))
async def test_mirror_shows_the_pages_text(runner, name):
    f"""Word similarity of the page's and the mirror's visible text >= {SIMILARITY_MIN}."""
    rec = await record(runner, name)
    assert failure(rec, "mirror_text") is None, failure(rec, "mirror_text")


@pytest.mark.parametrize("name", params("element_counts", TARGETS))
async def test_mirror_has_the_same_images_inputs_and_links(runner, name):
    rec = await record(runner, name)
    assert failure(rec, "element_counts") is None, failure(rec, "element_counts")


@pytest.mark.parametrize("name", params("live_updates", TARGETS))
async def test_paragraph_heading_and_typing_reach_the_mirror(runner, name):
    rec = await record(runner, name)
    assert failure(rec, "live_updates") is None, failure(rec, "live_updates")


@pytest.mark.parametrize("name", params("scroll", TARGETS))
async def test_scroll_reaches_the_mirror(runner, name):
    rec = await record(runner, name)
    assert failure(rec, "scroll") is None, failure(rec, "scroll")


@pytest.mark.parametrize("name", params("app_state", [f"app:{a}" for a in RUN_APPS]))
async def test_app_state_same_on_both_sides_and_after_reload(runner, name):
    """Add three items, tick one, filter, delete one, reload: the app (direct and through Tandem)
    shows the expected list, count and filter after each step, and the mirror shows the same."""
    rec = await record(runner, name)
    direct = rec.get("direct_app") or []
    assert not direct, f"the app itself misbehaves loaded directly: {direct}"
    assert failure(rec, "app_state") is None, failure(rec, "app_state")


async def test_checks_are_all_covered():
    """Every check the runner decides has a test above (a check added without one would go unseen)."""
    names = {"tandem_errors", "error_parity", "mirror_text", "element_counts", "live_updates", "scroll", "app_state"}
    assert set(CHECKS) == names
