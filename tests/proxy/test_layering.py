"""The proxy's layering (issue 10, the request path restructured): proxy/ never imports the control
plane, and the decision stage is pure (no I/O, no aiohttp, no app state)."""

import ast
from pathlib import Path

PROXY = Path(__file__).resolve().parents[2] / "proxy"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
    return names


def test_no_proxy_module_imports_the_control_plane():
    for path in PROXY.glob("*.py"):
        bad = {n for n in _imports(path) if n == "viewer" or n.startswith("viewer.")}
        assert not bad, f"{path.name} imports {bad}"


def test_decide_is_pure():
    allowed = {"__future__", "dataclasses", ".", ".guard"}
    assert _imports(PROXY / "decide.py") <= allowed
