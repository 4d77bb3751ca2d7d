"""The probe suite: every probe page in real Chromium, directly and through Tandem.

A probe passes when it reports the same success through Tandem as without it and
the proxied run made no request outside ``*.BASE``. Probes marked with a
``probe-xfail`` reason are known to fail through Tandem (README.md lists them):
they must still work directly, and must fail through Tandem, so the table never
goes stale.
"""

import asyncio

import pytest

from tests.e2e.browser import needs_chromium

from .runner import run_suite
from .server import probe_names

pytestmark = [pytest.mark.e2e, needs_chromium]

NAMES = probe_names()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return asyncio.run(run_suite(NAMES, tmp_path_factory.mktemp("probes")))


def test_there_are_enough_probes():
    assert len(NAMES) >= 60


def test_there_are_enough_behaviours(suite):
    assert len(suite) >= 250


@pytest.mark.parametrize("name", NAMES)
def test_probe(suite, name):
    """Every behaviour of the page (the page itself, or each of its parts)."""
    bad = [f"{r.name} ({r.what}): {r.verdict}" for r in suite.values()
           if (r.name == name or r.name.startswith(name + "/")) and r.verdict not in ("ok", "xfail", "n/a")]
    assert not bad, "\n".join(bad)


def test_compat_matrix_does_not_regress(suite):
    """Every feature docs/compat.json says passes through Tandem still passes (make compat rewrites it)."""
    import json

    from .compat import JSON_PATH, regressions

    if not JSON_PATH.exists():
        pytest.skip("docs/compat.json not generated yet (make compat)")
    bad = regressions(suite, json.loads(JSON_PATH.read_text()))
    assert not bad, "features that passed in docs/compat.json fail now:\n" + "\n".join(bad)

