"""The one way a rewriter fails: it raises a :class:`RewriteError`, and the caller fails closed.

A rewriter that cannot rewrite a document must never let it through as it came (its URLs would
reach the real site, the runtime would be missing): the proxy turns these into an error page for a
navigation, a failed load for a subresource, or a cut connection once headers are out.

Content a rewriter merely does not understand (a script the grammar rejects, a stylesheet with
bytes it cannot decode) is *not* an error: what the browser cannot parse loads nothing either.
"""

from __future__ import annotations


class RewriteError(Exception):
    """A document could not be rewritten: serve an error, never the original bytes."""

    code = "rewrite_failed"


class RewriteBudgetExceeded(RewriteError):
    """A document needs more than a rewriter's budget (a size, a count or time, each a named limit)."""

    code = "rewrite_budget"


class RewriteFailed(RewriteError):
    """An unexpected internal error while rewriting (a bug): the document is refused."""
