"""Failures still open when the suite was last run, one reason per (target, check), each written up
with its evidence in /work/notes/realpages-findings.md. Marked xfail(strict=True) by the tests: when
a fix makes one pass, the XPASS fails the run and the entry here must go.

(Gone: the SRI and <meta> CSP parity failures of realpages-findings 09:54 -- ma.ttias.be, mindmegette.hu,
scmp.com, theverge.com, www.littlethings.com -- fixed by proxy/sri.py and rewriter.headers.rewrite_csp.)"""

KNOWN: dict[tuple[str, str], str] = {}
