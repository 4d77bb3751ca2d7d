"""The HTML rewriter has two cores (rewriter/html/core.py): modules that use the ``html_core``
fixture run every test once per core, and must see byte-identical results from both."""

from __future__ import annotations

import pytest

from rewriter.html import core


@pytest.fixture(params=["python", "c"])
def html_core(request):
    if request.param not in core.CORES:
        pytest.skip("the compiled core was not built (no C compiler at install time)")
    previous = core.NAME
    core.use(request.param)
    yield request.param
    core.use(previous)
