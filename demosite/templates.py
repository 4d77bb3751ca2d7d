"""Loading and filling the `string.Template` files in `demosite/templates/`.

Callers escape every value that comes from a request or the catalogue; the helpers here never
escape, so a value may also be an already-rendered HTML fragment.
"""

from __future__ import annotations

import functools
import importlib.resources
from string import Template


@functools.lru_cache(maxsize=None)
def load(name: str) -> Template:
    text = (importlib.resources.files(__package__) / "templates" / name).read_text("utf-8")
    return Template(text)


def render(template: str, /, **values: object) -> str:
    """Fill a template; a missing value is a bug, so `substitute` (which raises) is used."""
    return load(template).substitute({k: str(v) for k, v in values.items()})
