"""CLI commands for the control plane: ``tandem agent ...`` and ``tandem keys ...``.

Errors end with one line on stderr and a non-zero exit (raised as ``CliError``,
printed by ``tandem.cli``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

PASSWORD_ENV = "TANDEM_AGENT_PASSWORD"


class CliError(Exception):
    pass


def add_parsers(sub, default_data_dir) -> None:
    g = sub.add_parser("agent", help="manage console agents")
    g.add_argument("--data-dir", type=Path, default=default_data_dir())
    g.add_argument("--database-url", default=os.environ.get("TANDEM_DATABASE_URL") or None, metavar="URL",
                   help="the store's PostgreSQL database (as given to serve); SQLite in the data directory when unset")
    gs = g.add_subparsers(dest="action", required=True)
    c = gs.add_parser("create", help="create an agent (password from --password-stdin, $TANDEM_AGENT_PASSWORD, or a prompt)")
    c.add_argument("username")
    c.add_argument("--name", help="display name customers see (default: the user name)")
    c.add_argument("--admin", action="store_true", help="may use the admin pages")
    c.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    gs.add_parser("list", help="print the agents")
    d = gs.add_parser("disable", help="disable an agent and sign them out")
    d.add_argument("username")
    p = gs.add_parser("password", help="set a new password (signs the agent out)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")

    k = sub.add_parser("keys", help="metadata encryption keys: rotate, re-encrypt")
    k.add_argument("--data-dir", type=Path, default=default_data_dir())
    k.add_argument("--database-url", default=os.environ.get("TANDEM_DATABASE_URL") or None, metavar="URL",
                   help="the store's PostgreSQL database (as given to serve); SQLite in the data directory when unset")
    ks = k.add_subparsers(dest="action", required=True)
    ks.add_parser("rotate", help="new key in the key file, re-encrypt every value, drop the old keys (stop the server first)")
    ks.add_parser("reencrypt", help="re-encrypt every value under the first key of the ring (after changing $TANDEM_METADATA_KEY)")
    ks.add_parser("status", help="which keys are in the ring and where they come from")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise CliError(f"no password: use --password-stdin or set {PASSWORD_ENV}")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise CliError("the passwords differ")
    return first


def agent(args: argparse.Namespace) -> None:
    asyncio.run(_agent(args))


async def _open(args: argparse.Namespace):
    from tandem.crypto import CryptoError
    from tandem.store import StoreError, open_store

    try:
        return await open_store(args.data_dir, getattr(args, "database_url", None))
    except (CryptoError, StoreError) as exc:
        raise CliError(str(exc)) from exc


async def _agent(args: argparse.Namespace) -> None:
    from tandem.store import StoreError

    store = await _open(args)
    try:
        if args.action == "create":
            a = await store.create_agent(args.username, args.name or args.username, _password(args), is_admin=args.admin)
            await store.audit("agent.created", actor="cli", detail={"username": a.username})
            print(f"created {'admin' if a.is_admin else 'agent'} {a.username} (id {a.id})")
        elif args.action == "list":
            for a in await store.agents():
                state = "disabled" if a.disabled_at else "active"
                print(f"{a.id}\t{a.username}\t{a.name}\t{'admin' if a.is_admin else 'agent'}\t{state}")
        else:
            a = await store.agent_by_username(args.username)
            if a is None:
                raise CliError(f"no agent named {args.username!r}")
            if args.action == "disable":
                await store.update_agent(a.id, disabled=True)
                await store.audit("agent.disabled", actor="cli", detail={"username": a.username})
                print(f"disabled {a.username}")
            elif args.action == "password":
                await store.update_agent(a.id, password=_password(args))
                await store.audit("agent.updated", actor="cli", detail={"username": a.username, "fields": ["password"]})
                print(f"password changed for {a.username}")
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    finally:
        await store.close()


def keys(args: argparse.Namespace) -> None:
    asyncio.run(_keys(args))


async def _keys(args: argparse.Namespace) -> None:
    from tandem import crypto

    if args.action == "rotate" and os.environ.get(crypto.KEY_ENV):
        raise CliError(f"keys come from ${crypto.KEY_ENV}: put a new key first in it, run 'tandem keys reencrypt', then drop the old one")
    store = await _open(args)
    try:
        if args.action == "status":
            print(f"source: {store.key_source}")
            for i, k in enumerate(store.cipher.keys):
                print(f"{crypto.key_id(k)}\t{'current' if i == 0 else 'old (decrypt only)'}")
        elif args.action == "reencrypt":
            n = await store.reencrypt_all()
            print(f"re-encrypted {n} value(s) under key {store.cipher.current}")
        elif args.action == "rotate":
            path = Path(args.data_dir) / crypto.KEY_FILE
            old = [crypto._b64(k) for k in store.cipher.keys]
            new = crypto.new_key()
            crypto.write_key_file(path, [new, *old])  # 1. new key first; old ones still decrypt
            await store.close()
            store = await _open(args)
            n = await store.reencrypt_all()  # 2. one transaction: all values or none move to the new key
            crypto.write_key_file(path, [new])  # 3. the old keys are gone
            print(f"rotated to key {crypto.key_id(crypto.parse_keys(new, 'new key')[0])}; re-encrypted {n} value(s)")
    except crypto.CryptoError as exc:
        raise CliError(str(exc)) from exc
    finally:
        await store.close()
