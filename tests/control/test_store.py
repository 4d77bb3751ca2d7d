"""Store: metadata encrypted at rest (AES-GCM), key rotation, migrations, retention, PINs, passwords —
every test on both databases (``make_store``: SQLite, and a real PostgreSQL server from the Debian
package on loopback), plus what only several nodes on one PostgreSQL can show."""

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tandem import crypto, policy
from tandem.store import Store, StoreError, open_store, verify_password
from tandem.storedb import migrations, statements
from tests.control.helpers import sqlite_bytes
from tests.servers.postgres import make_store, postgres_server  # noqa: F401 - fixtures


async def rows(s: Store, sql: str, args=()) -> list[tuple]:
    """Raw rows as the database holds them (the test looks under the store)."""
    return [tuple(r) for r in await s.backend.fetchall(sql, args)]


async def raw_text(s: Store) -> str:
    """Every value of every table the store writes, as stored."""
    if s.dialect == "sqlite":
        return (await sqlite_bytes(s, s.data_dir)).decode("latin-1")
    out = []
    for table in ("sessions", "participants", "audit", "live_state", "api_keys", "webhook_log"):
        out.append(repr(await rows(s, f"SELECT * FROM {table}")))
    return "\n".join(out)


async def test_metadata_is_encrypted_at_rest(make_store):
    s = await make_store()
    await s.add_session("abcdefabcdef", "https://secret-bank.example/account?id=991", details={"agent_name": "Zelda Q", "metadata": {"crm": "TICKET-4411"}})
    await s.add_participant("abcdefabcdef", "p1", "follower", "customer", "Marguerite Customer")
    await s.audit("session.started", session_id="abcdefabcdef", detail={"url": "https://secret-bank.example/account?id=991"})
    s.live_write("abcdefabcdef", "jar", {"sess": "COOKIE-VALUE-77"})
    raw = await raw_text(s)
    assert "abcdefabcdef" in raw  # the test does read the rows
    for plain in ("secret-bank", "Zelda Q", "TICKET-4411", "Marguerite", "COOKIE-VALUE-77"):
        assert plain not in raw, plain
    row = await s.get_session("abcdefabcdef")
    assert row.start_url == "https://secret-bank.example/account?id=991"
    assert row.details["metadata"] == {"crm": "TICKET-4411"}
    assert (await s.participants("abcdefabcdef"))[0].name == "Marguerite Customer"
    assert (await s.audit_events())[0].detail["url"].startswith("https://secret-bank")
    assert s.live_read("abcdefabcdef", "jar") == {"sess": "COOKIE-VALUE-77"}


async def test_value_moved_to_another_row_does_not_decrypt(make_store):
    s = await make_store()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    await s.add_session("bbbbbbbbbbbb", "https://b.example/")
    enc = (await rows(s, "SELECT start_url FROM sessions WHERE id='aaaaaaaaaaaa'"))[0][0]
    await s.backend.execute("UPDATE sessions SET start_url=? WHERE id='bbbbbbbbbbbb'", (enc,))
    with pytest.raises(crypto.CryptoError):
        await s.get_session("bbbbbbbbbbbb")


async def test_key_rotation_reencrypts_everything(make_store, tmp_path):
    s = await make_store()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/", details={"agent_name": "X"})
    await s.audit("x", detail={"k": 1})
    old = s.cipher.current
    keyfile = tmp_path / "data" / crypto.KEY_FILE
    old_key = keyfile.read_text().strip()
    new = crypto.new_key()
    crypto.write_key_file(keyfile, [new, old_key])
    s = await make_store()
    assert await s.reencrypt_all() == 3  # start_url, details, audit detail
    assert await s.reencrypt_all() == 0
    crypto.write_key_file(keyfile, [new])
    s = await make_store()
    assert s.cipher.current != old
    assert (await s.get_session("aaaaaaaaaaaa")).details["agent_name"] == "X"
    assert (await s.audit_events())[0].detail == {"k": 1}


async def test_key_from_environment(make_store, tmp_path, monkeypatch):
    key = crypto.new_key()
    monkeypatch.setenv(crypto.KEY_ENV, key)
    s = await make_store()
    assert s.key_source == "env" and not (tmp_path / "data" / crypto.KEY_FILE).exists()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    monkeypatch.setenv(crypto.KEY_ENV, crypto.new_key())  # the wrong key: values refuse to decrypt
    s = await make_store()
    with pytest.raises(crypto.CryptoError):
        await s.get_session("aaaaaaaaaaaa")


@pytest.mark.parametrize("text", ["", "not-base64!!", "YWJj"])
def test_bad_key_material_is_refused(text):
    with pytest.raises(crypto.CryptoError):
        crypto.parse_keys(text, "test")


async def test_migrates_a_schema_1_database(tmp_path):
    """SQLite only: databases from before the migration files keep working."""
    db = sqlite3.connect(tmp_path / "tandem.db")
    for st in statements(migrations()[0][2]):
        db.execute(st)
    db.execute("INSERT INTO sessions (id, created_at, start_url) VALUES ('oldoldoldold', 1.0, 'https://legacy.example/')")
    db.execute("INSERT INTO allowlist (pattern, scope, created_at) VALUES ('legacy.example', 'all', 1.0)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    s = Store(tmp_path)
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
    assert (await s.get_session("oldoldoldold")).start_url == "https://legacy.example/"
    assert s.db.execute("SELECT start_url FROM sessions").fetchone()[0].startswith("v1.")
    assert (await s.allowlist())[0].scope == "all" and (await s.allowlist())[0].redirect is None


async def test_every_migration_file_runs_once_on_either_database(make_store):
    s = await make_store()
    assert await s.schema_version() == len(migrations())
    again = await make_store()  # a restart, or a second node: nothing to do, nothing lost
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    assert await again.schema_version() == len(migrations())
    assert (await again.get_session("aaaaaaaaaaaa")).start_url == "https://a.example/"


async def test_retention_purges_old_metadata_only(make_store):
    s = await make_store()
    await s.set_retention_days(7)
    now = time.time()
    await s.add_session("oldoldoldold", "https://old.example/")
    await s.add_participant("oldoldoldold", "p", "leader", "agent", "A")
    await s.add_session("newnewnewnew", "https://new.example/")
    await s.backend.execute("UPDATE sessions SET created_at=?, ended_at=?, state='ended' WHERE id='oldoldoldold'",
                            (now - 9 * 86400, now - 8 * 86400))
    await s.audit("session.started", session_id="oldoldoldold")
    await s.backend.execute("UPDATE audit SET at=?", (now - 8 * 86400,))
    await s.audit("session.started", session_id="newnewnewnew")
    counts = await s.purge(now)
    assert counts["sessions"] == 1 and counts["audit"] == 1
    assert await s.get_session("oldoldoldold") is None and await s.participants("oldoldoldold") == []
    assert await s.get_session("newnewnewnew") is not None
    assert [e.session_id for e in await s.audit_events()] == ["newnewnewnew"]


@pytest.mark.parametrize("days", [0, -1, 100000, "7", True])
async def test_retention_bounds(make_store, days):
    s = await make_store()
    with pytest.raises(StoreError):
        await s.set_retention_days(days)


async def test_pins_expire_are_spent_and_replaced(make_store):
    s = await make_store()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    pin, _ = await s.new_pin("aaaaaaaaaaaa", "follower", 600, 2)
    assert len(pin) == 6 and pin.isdigit()
    assert await s.redeem_pin(pin) == ("aaaaaaaaaaaa", "follower")
    assert await s.redeem_pin(pin) == ("aaaaaaaaaaaa", "follower")
    assert await s.redeem_pin(pin) is None  # uses spent
    pin2, _ = await s.new_pin("aaaaaaaaaaaa", "follower", 600, 2)
    pin3, _ = await s.new_pin("aaaaaaaaaaaa", "follower", 600, 2)
    if pin2 != pin3:
        assert await s.redeem_pin(pin2) is None  # a new PIN replaces the old one
    expired, _ = await s.new_pin("aaaaaaaaaaaa", "follower", -1, 2)
    assert await s.redeem_pin(expired) is None
    # stored as a keyed hash, never the digits
    assert await rows(s, "SELECT count(*) FROM pins WHERE digest=?", (pin3,)) == [(0,)]
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert await s.redeem_pin(bad) is None


async def test_a_pin_is_spent_once_even_when_redeemed_at_once(make_store):
    s = await make_store()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    pin, _ = await s.new_pin("aaaaaaaaaaaa", "follower", 600, 3)
    got = await asyncio.gather(*(s.redeem_pin(pin) for _ in range(10)))
    assert sum(1 for g in got if g is not None) == 3


async def test_passwords_are_argon2id_and_verified(make_store):
    s = await make_store()
    a = await s.create_agent("Ann", "Ann", "correct horse battery")
    h = await s.password_hash(a.id)
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")  # unknown user: same work, never true
    with pytest.raises(StoreError):
        await s.create_agent("ann", "Other", "another long password")
    with pytest.raises(StoreError):
        await s.create_agent("bob", "Bob", "short")
    await s.update_agent(a.id, disabled=True)
    assert await s.password_hash(a.id) is None


async def test_mask_selectors_by_host(make_store):
    s = await make_store()
    await policy.set_masking(s, "*.bank.example", ["#ssn", ".acct", "#ssn"])
    await policy.set_masking(s, "www.bank.example", ["input[name=iban]"])
    assert sorted((await policy.selectors(s, "www.bank.example"))[0]) == sorted(["#ssn", ".acct", "input[name=iban]"])
    assert (await policy.selectors(s, "bank.example"))[0] == ()
    assert (await policy.selectors(s, "other.example"))[0] == ()
    await policy.set_masking(s, "*.bank.example", [], [".statement"])
    assert await policy.selectors(s, "login.bank.example") == ((), (".statement",))
    await policy.set_masking(s, "*.bank.example", [])
    assert await s.masking() == {"www.bank.example": {"mask": ["input[name=iban]"], "block": []}}
    for bad in (["a{color:red}"], ["<script>"], ["x" * 600], ["a, b"]):
        with pytest.raises(StoreError):
            await policy.set_masking(s, "bank.example", bad)


def test_the_store_imports_nothing_from_the_layers_above():
    """proxy/, sync/ and viewer/ use the store; the store never reaches back into them."""
    import ast

    for name in ("store.py", "storedb.py"):
        tree = ast.parse((Path(__file__).resolve().parents[2] / "tandem" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in ("proxy", "sync", "viewer"), (name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] in ("proxy", "sync", "viewer") for a in node.names), name


async def test_sessions_invites_keys_and_agents_round_trip(make_store):
    s = await make_store()
    row = await s.add_session("aaaaaaaaaaaa", "https://a.example/", agent_id="ann", key_id=None, visitor_id="v_1",
                              expires_at=time.time() + 60, details={"agent_name": "Ann"})
    assert [r.id for r in await s.list_sessions(state="live", visitor_id="v_1")] == [row.id]
    assert await s.count_sessions(state="live") == 1
    await s.add_invite("inv1", row.id, "follower", "consent", time.time() + 60, True)
    assert await s.use_invite("inv1") and not await s.use_invite("inv1")  # single use
    assert (await s.get_invite("inv1")).used_at is not None
    key, record, secret = await s.create_api_key_full("crm", webhook_url="https://hooks.example/x")
    assert await s.check_api_key(key) == record.id and secret.startswith("whsec_")
    assert await s.webhooks_for(record.id) == [(record.id, "https://hooks.example/x", secret)]
    assert await s.revoke_api_key(record.id) and await s.check_api_key(key) is None
    agent = await s.create_agent("ann", "Ann", "correct horse battery", is_admin=True)
    token = await s.create_login(agent.id, 60)
    assert (await s.agent_for_login(token)).username == "ann" and await s.active_admins() == 1
    assert await s.end_session(row.id) and not await s.end_session(row.id)
    await s.webhook_record(record.id, "dlv_1", "session.ended", row.id, 1, 500, 12.5, "HTTP 500", b'{"detail":"BODY-PLAINTEXT-9"}', 200)
    attempt, body = await s.webhook_body((await s.webhook_attempts())[0][0])
    assert body == b'{"detail":"BODY-PLAINTEXT-9"}' and "BODY-PLAINTEXT-9" not in await raw_text(s)
    assert await s.webhook_failed(record.id, time.time(), 0.0) and (await s.webhook_state(record.id))[1] is not None


async def test_event_counts_of_a_session_are_distinct_under_concurrency(make_store):
    """Webhook sequence numbers come from the audit count: twenty events at once get 1..20."""
    s = await make_store()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    counts = await asyncio.gather(*(s.audit("x", session_id="aaaaaaaaaaaa") for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))


async def test_policy_changes_are_seen_by_another_node(make_store):
    """The allowlist and masking are cached per node; an edit on one node moves every node's stamp."""
    a = await make_store()
    b = await make_store()
    before = await b.policy_stamp()
    await policy.allow(a, "shop.example")
    deadline = time.monotonic() + 5
    while await b.policy_stamp() == before:
        assert time.monotonic() < deadline, "the other node never heard of the allowlist change"
        await asyncio.sleep(0.02)
    assert [e.pattern for e in await b.allowlist()] == ["shop.example"]
    stamp = await b.policy_stamp()
    await policy.set_masking(a, "shop.example", ["#card"])
    deadline = time.monotonic() + 5
    while await b.policy_stamp() == stamp:
        assert time.monotonic() < deadline, "the other node never heard of the masking change"
        await asyncio.sleep(0.02)


async def test_sqlite_reads_other_processes_commits_at_most_every_so_often_and_its_own_edits_at_once(tmp_path, monkeypatch):
    """``PRAGMA data_version`` moves on any other connection's commit (live state on every Set-Cookie,
    the worker's statements), and every proxied request asks for the stamp: its answer is taken as
    current for DATA_VERSION_EVERY seconds. An edit through the node itself changes the stamp at once."""
    from tandem import storedb

    clock = [1000.0]
    monkeypatch.setattr(storedb.time, "monotonic", lambda: clock[0])
    other = await open_store(tmp_path / "data")  # another process on the same file (the CLI)
    node = await open_store(tmp_path / "data")
    try:
        first = await node.policy_stamp()
        await policy.allow(other, "shop.example")
        assert await node.policy_stamp() == first  # within the window: not asked again
        clock[0] += 2 * storedb.DATA_VERSION_EVERY
        seen = await node.policy_stamp()
        assert seen != first  # past it: the other process's commit is seen
        node.backend.live_conn.execute("BEGIN IMMEDIATE")
        node.backend.live_conn.execute("COMMIT")
        await policy.allow(node, "own.example")  # through the node itself: at once, the clock unmoved
        assert await node.policy_stamp() != seen
    finally:
        await node.close()
        await other.close()


async def test_live_state_is_shared_and_gone_when_the_session_ends(make_store):
    a = await make_store()
    b = await make_store()  # another node, or this one after a restart
    await a.add_session("aaaaaaaaaaaa", "https://a.example/", expires_at=time.time() + 60)
    a.live_write("aaaaaaaaaaaa", "jar", {"k1": "one", "k2": "two"})
    b.live_write("aaaaaaaaaaaa", "jar", {"k3": "three"}, removed=["k1"])
    assert a.live_read("aaaaaaaaaaaa", "jar") == {"k2": "two", "k3": "three"}
    assert a.live_claim("aaaaaaaaaaaa", "once", "t1", "1") and not b.live_claim("aaaaaaaaaaaa", "once", "t1", "1")
    assert b.live_sessions() == ["aaaaaaaaaaaa"]
    await b.end_session("aaaaaaaaaaaa")
    assert a.live_read("aaaaaaaaaaaa", "jar") == {} and a.live_sessions() == []
    a.live_write("aaaaaaaaaaaa", "jar", {"late": "x"})  # an ended session keeps nothing
    assert a.live_read("aaaaaaaaaaaa", "jar") == {}


async def test_three_nodes_starting_together_migrate_once(make_store, tmp_path):
    if make_store.database_url is None:
        pytest.skip("several nodes share one database only with PostgreSQL")
    nodes = await asyncio.gather(*(open_store(tmp_path / "data", make_store.database_url) for _ in range(3)))
    try:
        assert [await n.schema_version() for n in nodes] == [len(migrations())] * 3
        assert await rows(nodes[0], "SELECT count(*) FROM schema_version") == [(len(migrations()),)]
    finally:
        for n in nodes:
            await n.close()


async def test_a_postgresql_restart_needs_no_node_restart(tmp_path):
    """PostgreSQL stops and starts again under two open stores (nodes): a call on a connection the
    restart broke fails once, then every call works again, the live-state connection reconnects,
    and the nodes still hear each other's policy changes (the LISTEN connection comes back)."""
    import tempfile

    from tests.servers.postgres import PostgresServer, available

    if available():
        pytest.skip(available())
    pg = PostgresServer(Path(tempfile.mkdtemp(prefix="tandem-pg-"))).start()
    a = b = None
    try:
        url = pg.new_database()
        a = await open_store(tmp_path / "a", url)
        b = await open_store(tmp_path / "b", url)
        await a.add_session("aaaaaaaaaaaa", "https://a.example/", expires_at=time.time() + 60)
        pg.restart()
        failures = 0
        for _ in range(5):
            try:
                assert (await a.get_session("aaaaaaaaaaaa")).start_url == "https://a.example/"
            except Exception:  # noqa: BLE001 - the one call on a connection the restart closed
                failures += 1
        assert failures <= 1
        for _ in range(2):
            try:
                a.live_write("aaaaaaaaaaaa", "jar", {"k": "v"})
            except Exception:  # noqa: BLE001
                pass
        assert a.live_read("aaaaaaaaaaaa", "jar") == {"k": "v"}
        await asyncio.sleep(1.5)  # the listener's retry
        stamp = await b.policy_stamp()
        await policy.allow(a, "after-restart.example")
        deadline = time.monotonic() + 5
        while await b.policy_stamp() == stamp:
            assert time.monotonic() < deadline, "the other node stopped hearing policy changes"
            await asyncio.sleep(0.05)
    finally:
        for s in (a, b):
            if s is not None:
                await s.close()
        pg.stop()
        shutil.rmtree(pg.workdir, ignore_errors=True)
