"""The ``tandem`` command. Errors end with one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

EXIT_USAGE = 2
EXIT_ERROR = 1


def _fail(message: str, code: int = EXIT_ERROR) -> "NoReturn":  # noqa: F821
    print(f"tandem: {message}", file=sys.stderr)
    raise SystemExit(code)


def _version() -> str:
    """``tandem X.Y.Z`` and which HTML rewriter core is in use (compiled or pure Python)."""
    from importlib.metadata import PackageNotFoundError, version

    from rewriter.html import core

    try:
        number = version("tandem")
    except PackageNotFoundError:
        number = "unknown"
    return f"tandem {number}; {core.describe()}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tandem", description="Self-hosted proxy-based co-browsing server.")
    p.add_argument("--version", action="version", version=_version(), help="print the version and which HTML core runs")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the server")
    from tandem.settings import add_arguments

    add_arguments(s)  # every serve option comes from the one table in tandem/settings.py

    a = sub.add_parser("allowlist", help="show or edit the domain allowlist")
    a.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TANDEM_DATA_DIR", "./tandem-data")))
    a.add_argument("--database-url", default=os.environ.get("TANDEM_DATABASE_URL") or None, metavar="URL",
                   help="the store's PostgreSQL database (as given to serve); SQLite in the data directory when unset")
    asub = a.add_subparsers(dest="action", required=True)
    asub.add_parser("list", help="print the entries")
    add = asub.add_parser("add", help="add a host or *.domain pattern")
    add.add_argument("pattern")
    add.add_argument("--scope", choices=("navigation", "all"), default="navigation",
                     help="navigation: pages on it may be opened; all: its pages may load only listed hosts too")
    add.add_argument("--redirect", default=None, metavar="URL", help="send navigations to matching hosts to this address instead")
    rm = asub.add_parser("remove", help="remove a pattern")
    rm.add_argument("pattern")

    from tandem.cli_control import add_parsers

    add_parsers(sub, lambda: Path(os.environ.get("TANDEM_DATA_DIR", "./tandem-data")))
    from tandem import rewritecmd

    rewritecmd.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            serve(args)
        elif args.command == "allowlist":
            allowlist(args)
        elif args.command == "rewrite":
            from tandem import rewritecmd

            rewritecmd.run(args, _fail)
        elif args.command in ("agent", "keys"):
            from tandem import cli_control

            try:
                getattr(cli_control, args.command)(args)
            except cli_control.CliError as exc:
                _fail(str(exc))
    except KeyboardInterrupt:
        pass


def allowlist(args) -> None:
    asyncio.run(_allowlist(args))


async def _allowlist(args) -> None:
    from proxy.allowlist import PatternError
    from tandem import policy
    from tandem.store import StoreError, open_store

    from tandem.crypto import CryptoError

    try:
        store = await open_store(args.data_dir, getattr(args, "database_url", None))
    except (CryptoError, StoreError) as exc:
        _fail(str(exc))
    try:
        if args.action == "list":
            entries = await store.allowlist()
            if not entries:
                print("(empty: every public site may be co-browsed)")
            for e in entries:
                print(f"{e.pattern}\t{e.scope}")
        elif args.action == "add":
            e = await policy.allow(store, args.pattern, args.scope, args.redirect)
            print(f"added {e.pattern} ({e.scope})")
        elif args.action == "remove":
            if not await policy.disallow(store, args.pattern):
                _fail(f"{args.pattern} is not on the allowlist")
            print(f"removed {args.pattern}")
    except (PatternError, StoreError) as exc:
        _fail(str(exc))
    finally:
        await store.close()


def serve(args) -> None:
    from tandem.settings import SettingsError, load

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        settings = load(args, os.environ)
    except SettingsError as exc:
        _fail(str(exc), EXIT_USAGE)
    from tandem.crypto import CryptoError
    from tandem.store import StoreError

    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        _fail(f"cannot start: {exc.strerror or exc}")
    except (CryptoError, StoreError) as exc:
        _fail(f"cannot start: {exc}")


async def _serve(settings) -> None:
    from aiohttp import web

    from proxy.allowlist import Entry
    from tandem.app import create_app
    from tandem.store import open_store
    from viewer.routes import DEMO_START

    store = await open_store(settings.data_dir, getattr(settings, "database_url", None))
    demo = snippet_runner = snippet_demo = None
    extra: tuple[Entry, ...] = ()
    if settings.demo:
        from demosite import start_demo

        p = settings.port
        demo = await start_demo("127.0.0.1", (p + 1, p + 2, p + 3))
        extra = tuple(Entry(h) for h in demo.hosts)
        from viewer.snippet.demo import DEMO_HOST, demo_site_app

        snippet_runner = web.AppRunner(demo_site_app(f"{settings.public_scheme}://{settings.base_domain}"), access_log=None)
        await snippet_runner.setup()
        from .listen import start_sites  # the browser opens it as site.localhost: [::1] first

        await start_sites(snippet_runner, "127.0.0.1", p + 4, DEMO_HOST)
        snippet_demo = f"http://{DEMO_HOST}:{p + 4}/"
        extra += (Entry(DEMO_HOST),)
    app = create_app(settings, store=store, extra_allow=extra)
    if demo is not None:
        app[DEMO_START] = demo.shop + "/"

    new_key = None
    if not settings.admin_key and not await store.has_api_keys():
        from .scopes import SCOPES

        new_key = await store.create_api_key("admin", scopes=SCOPES)  # stands in for TANDEM_ADMIN_KEY: every scope
    demo_agent = None
    if settings.demo and not await store.agents():
        import secrets as _secrets

        demo_agent = ("admin", _secrets.token_urlsafe(12))
        await store.create_agent(demo_agent[0], "Demo Admin", demo_agent[1], is_admin=True)
    from .httpserver import TandemRunner  # header limits, fixed answers to unreadable requests, slow clients

    runner = TandemRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    base = app[__import__("tandem.appkeys", fromlist=["BASE"]).BASE]
    from .listen import start_sites  # *.localhost: the other loopback address too (browsers try [::1] first)

    await start_sites(runner, settings.host, settings.port, base.hostname)
    lines = [f"Tandem is running. Open {base.url}/"]
    if new_key:
        lines.append(f"Admin API key (shown once, stored hashed): {new_key}")
    if demo_agent:
        lines.append(f"Agent console: {base.url}/console  user {demo_agent[0]}, password {demo_agent[1]} (shown once)")
    elif not await store.agents():
        lines.append("No console agents yet: create one with `tandem agent create NAME --admin`.")
    if demo is not None:
        lines.append(f"Demo site: {demo.shop}  (also {demo.cdn}, {demo.widgets})")
        lines.append(f"Snippet demo (a customer's own site): {snippet_demo}")
    allow = app[__import__("tandem.appkeys", fromlist=["ALLOWLIST"]).ALLOWLIST]
    if allow.open:
        lines.append("Allowlist is empty: every public site may be co-browsed.")
    else:
        lines.append("Allowlist: " + ", ".join(e.pattern for e in allow.entries))
    if settings.allow_private:
        lines.append("Private networks allowed for: " + ", ".join(str(n) for n in settings.allow_private[:4]) + (" …" if len(settings.allow_private) > 4 else ""))
    if settings.egress.enabled:
        lines.append("Upstream proxy: " + settings.egress.describe())
    print("\n".join(lines), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if demo is not None:
            await demo.close()
        if snippet_runner is not None:
            await snippet_runner.cleanup()
        await store.close()


if __name__ == "__main__":
    main()
