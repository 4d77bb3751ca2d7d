"""Masking rules: which parts of a page never leave the leader's browser.

Built in (always, in the recorder): password fields (also after a "show password"
toggle), one-time codes, payment fields (``autocomplete=cc-*`` and card-like names),
``[data-tandem-mask]`` (values and text shown as ``*``) and ``[data-tandem-block]``
(the whole element replaced by an empty placeholder of the same size).

Per domain (this module): extra CSS selectors an administrator adds for a site,
``mask`` or ``block``. Patterns use the allowlist syntax: ``example.com`` or
``*.example.com``. An app-level object (``appkeys.MASKING``); the admin UI and its
storage come with the control plane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
MAX_SELECTOR = 500  # characters of one selector: real ones are short; bounds what every page carries
MAX_RULES_PER_DOMAIN = 100  # selectors of one kind for one domain
_BAD_SELECTOR = re.compile(r"[<>\"{}\\]|/\*")  # would break out of the tag attribute or a stylesheet


class MaskingError(ValueError):
    pass


def normalize_pattern(pattern: str) -> str:
    """``example.com`` or ``*.example.com`` (the allowlist's syntax), lower-cased."""
    p = pattern.strip().lower().rstrip(".")
    if not _PATTERN.fullmatch(p):
        raise MaskingError(f"not a host name or *.domain pattern: {pattern!r}")
    return p


def matches(pattern: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    return host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern


def check_selector(selector: str) -> str:
    selector = " ".join(selector.split())
    if not selector or len(selector) > MAX_SELECTOR or _BAD_SELECTOR.search(selector) or "," in selector:
        raise MaskingError(f"not a single CSS selector Tandem accepts: {selector[:80]!r}")
    return selector


@dataclass(frozen=True)
class DomainRules:
    pattern: str
    mask: tuple[str, ...] = ()
    block: tuple[str, ...] = ()


class MaskingPolicy:
    def __init__(self) -> None:
        self._rules: dict[str, DomainRules] = {}

    def set(self, pattern: str, *, mask: tuple[str, ...] | list[str] = (), block: tuple[str, ...] | list[str] = ()) -> DomainRules:
        pattern = normalize_pattern(pattern)
        if len(mask) > MAX_RULES_PER_DOMAIN or len(block) > MAX_RULES_PER_DOMAIN:
            raise MaskingError(f"at most {MAX_RULES_PER_DOMAIN} selectors of each kind per domain")
        rules = DomainRules(pattern, tuple(check_selector(s) for s in mask), tuple(check_selector(s) for s in block))
        self._rules[pattern] = rules
        return rules

    def remove(self, pattern: str) -> bool:
        return self._rules.pop(normalize_pattern(pattern), None) is not None

    def all(self) -> list[DomainRules]:
        return sorted(self._rules.values(), key=lambda r: r.pattern)

    def rules_for(self, host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(mask selectors, block selectors) for a page on ``host``."""
        mask: list[str] = []
        block: list[str] = []
        for rules in self._rules.values():
            if matches(rules.pattern, host):
                mask += rules.mask
                block += rules.block
        return tuple(mask), tuple(block)
