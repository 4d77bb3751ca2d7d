"""Settings declared once (tandem/settings.py OPTIONS): the CLI, --help, the README table and the
frozen Settings all come from the one table; environment variables are read there only."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tandem import settings as S
from tandem.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def test_every_option_is_a_flag_of_serve_and_in_its_help():
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    for o in S.OPTIONS:
        if o.flag:
            assert o.flag in help_text
        if o.env and o.flag:
            assert o.env in help_text, o.env


def test_readme_table_is_the_table():
    assert S.markdown_table() in README.read_text(), "README's option table differs: paste settings.markdown_table()"


def test_flag_wins_over_environment_which_wins_over_default(tmp_path):
    env = {"TANDEM_PORT": "9000", "TANDEM_HOST": "0.0.0.0", "TANDEM_REDIS_URL": "redis://127.0.0.1:6390/0"}
    s = S.load(parse("--port", "9100"), env)
    assert (s.port, s.host, s.redis_url) == (9100, "0.0.0.0", "redis://127.0.0.1:6390/0")
    assert s.base_domain == "tandem.localhost:9100"
    d = S.load(parse(), {})
    assert (d.port, d.host, d.redis_url, d.data_dir, d.allow_private, d.demo) == (
        8080, "127.0.0.1", None, Path("./tandem-data"), (), False)


def test_demo_allows_loopback_and_domains_append():
    s = S.load(parse("--demo", "--allow-domain", "a.example", "--allow-domain", "*.b.example"), {})
    assert s.demo and s.allow_private and s.allow_domains == ("a.example", "*.b.example")


@pytest.mark.parametrize("argv, env, where", [
    (("--port", "0"), {}, "--port"),
    ((), {"TANDEM_PORT": "http"}, "TANDEM_PORT"),
    (("--redis-url", "localhost:6379"), {}, "--redis-url"),
    (("--allow-private-networks", "bogus"), {}, "--allow-private-networks"),
    (("--upstream-proxy-bypass", "x.example"), {}, "--upstream-proxy-bypass"),
    (("--upstream-ca", "/nonexistent.pem"), {}, "--upstream-ca"),
    (("--base-domain", " "), {}, "--base-domain"),
])
def test_a_bad_value_names_its_flag_or_variable(argv, env, where):
    with pytest.raises(S.SettingsError, match="^" + re.escape(where)):
        S.load(parse(*argv), env)


def test_serve_options_read_no_environment_elsewhere():
    """The serve options' variables are read in settings.py only."""
    root = README.parent
    names = [o.env for o in S.OPTIONS if o.env]
    for path in [*root.glob("tandem/*.py"), *root.glob("proxy/*.py"), *root.glob("viewer/*.py"), *root.glob("sync/*.py")]:
        if path.name in ("settings.py", "rewritecmd.py", "cli_control.py"):
            continue  # settings.py is the place; `tandem rewrite` and the store commands are other commands
        text = path.read_text()
        for name in names:
            if name in ("TANDEM_DATA_DIR", "TANDEM_DATABASE_URL") and path.name in ("cli.py", "cli_control.py"):
                continue  # the store commands (allowlist, agent, keys) take --data-dir/--database-url with the same variables
            assert f'"{name}"' not in text, f"{path.relative_to(root)} reads {name}"
