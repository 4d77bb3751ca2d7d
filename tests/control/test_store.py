"""Store: metadata encrypted at rest (AES-GCM), key rotation, migrations from schema 1, retention, PINs, passwords."""

import sqlite3
import time

import pytest

from tandem import crypto
from tandem.store import Store, StoreError, verify_password


def db_bytes(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("tandem.db"))


async def test_metadata_is_encrypted_at_rest(tmp_path):
    s = Store(tmp_path)
    await s.add_session("abcdefabcdef", "https://secret-bank.example/account?id=991", details={"agent_name": "Zelda Q", "metadata": {"crm": "TICKET-4411"}})
    await s.add_participant("abcdefabcdef", "p1", "follower", "customer", "Marguerite Customer")
    await s.audit("session.started", session_id="abcdefabcdef", detail={"url": "https://secret-bank.example/account?id=991"})
    s.db.execute("PRAGMA wal_checkpoint(FULL)")
    raw = db_bytes(tmp_path)
    for plain in (b"secret-bank", b"Zelda Q", b"TICKET-4411", b"Marguerite"):
        assert plain not in raw, plain
    row = await s.get_session("abcdefabcdef")
    assert row.start_url == "https://secret-bank.example/account?id=991"
    assert row.details["metadata"] == {"crm": "TICKET-4411"}
    assert (await s.participants("abcdefabcdef"))[0].name == "Marguerite Customer"
    assert (await s.audit_events())[0].detail["url"].startswith("https://secret-bank")


async def test_value_moved_to_another_row_does_not_decrypt(tmp_path):
    s = Store(tmp_path)
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    await s.add_session("bbbbbbbbbbbb", "https://b.example/")
    enc = s.db.execute("SELECT start_url FROM sessions WHERE id='aaaaaaaaaaaa'").fetchone()[0]
    s.db.execute("UPDATE sessions SET start_url=? WHERE id='bbbbbbbbbbbb'", (enc,))
    with pytest.raises(crypto.CryptoError):
        await s.get_session("bbbbbbbbbbbb")


async def test_key_rotation_reencrypts_everything(tmp_path):
    s = Store(tmp_path)
    await s.add_session("aaaaaaaaaaaa", "https://a.example/", details={"agent_name": "X"})
    await s.audit("x", detail={"k": 1})
    old = s.cipher.current
    await s.close()
    keyfile = tmp_path / crypto.KEY_FILE
    old_key = keyfile.read_text().strip()
    new = crypto.new_key()
    crypto.write_key_file(keyfile, [new, old_key])
    s = Store(tmp_path)
    assert await s.reencrypt_all() == 3  # start_url, details, audit detail
    assert await s.reencrypt_all() == 0
    await s.close()
    crypto.write_key_file(keyfile, [new])
    s = Store(tmp_path)
    assert s.cipher.current != old
    assert (await s.get_session("aaaaaaaaaaaa")).details["agent_name"] == "X"
    assert (await s.audit_events())[0].detail == {"k": 1}


async def test_key_from_environment(tmp_path, monkeypatch):
    key = crypto.new_key()
    monkeypatch.setenv(crypto.KEY_ENV, key)
    s = Store(tmp_path)
    assert s.key_source == "env" and not (tmp_path / crypto.KEY_FILE).exists()
    await s.add_session("aaaaaaaaaaaa", "https://a.example/")
    await s.close()
    monkeypatch.setenv(crypto.KEY_ENV, crypto.new_key())  # the wrong key: values refuse to decrypt
    s = Store(tmp_path)
    with pytest.raises(crypto.CryptoError):
        await s.get_session("aaaaaaaaaaaa")


@pytest.mark.parametrize("text", ["", "not-base64!!", "YWJj"])
def test_bad_key_material_is_refused(text):
    with pytest.raises(crypto.CryptoError):
        crypto.parse_keys(text, "test")


async def test_migrates_a_schema_1_database(tmp_path):
    from tandem.storedb import migrations, statements

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


async def test_retention_purges_old_metadata_only(tmp_path):
    s = Store(tmp_path)
    await s.set_retention_days(7)
    now = time.time()
    await s.add_session("oldoldoldold", "https://old.example/")
    await s.add_participant("oldoldoldold", "p", "leader", "agent", "A")
    await s.add_session("newnewnewnew", "https://new.example/")
    s.db.execute("UPDATE sessions SET created_at=?, ended_at=?, state='ended' WHERE id='oldoldoldold'", (now - 9 * 86400, now - 8 * 86400))
    await s.audit("session.started", session_id="oldoldoldold")
    s.db.execute("UPDATE audit SET at=?", (now - 8 * 86400,))
    await s.audit("session.started", session_id="newnewnewnew")
    counts = await s.purge(now)
    assert counts["sessions"] == 1 and counts["audit"] == 1
    assert await s.get_session("oldoldoldold") is None and await s.participants("oldoldoldold") == []
    assert await s.get_session("newnewnewnew") is not None
    assert [e.session_id for e in await s.audit_events()] == ["newnewnewnew"]


@pytest.mark.parametrize("days", [0, -1, 100000, "7", True])
async def test_retention_bounds(tmp_path, days):
    with pytest.raises(StoreError):
        await Store(tmp_path).set_retention_days(days)


async def test_pins_expire_are_spent_and_replaced(tmp_path):
    s = Store(tmp_path)
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
    assert s.db.execute("SELECT count(*) FROM pins WHERE digest=?", (pin3,)).fetchone()[0] == 0
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert await s.redeem_pin(bad) is None


async def test_passwords_are_argon2id_and_verified(tmp_path):
    s = Store(tmp_path)
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


async def test_mask_selectors_by_host(tmp_path):
    s = Store(tmp_path)
    await s.set_masking("*.bank.example", ["#ssn", ".acct", "#ssn"])
    await s.set_masking("www.bank.example", ["input[name=iban]"])
    assert sorted(await s.mask_selectors("www.bank.example")) == sorted(["#ssn", ".acct", "input[name=iban]"])
    assert await s.mask_selectors("bank.example") == []
    assert await s.mask_selectors("other.example") == []
    await s.set_masking("*.bank.example", [], [".statement"])
    assert await s.mask_selectors("login.bank.example") == [] and await s.block_selectors("login.bank.example") == [".statement"]
    await s.set_masking("*.bank.example", [])
    assert await s.masking() == {"www.bank.example": {"mask": ["input[name=iban]"], "block": []}}
    for bad in (["a{color:red}"], ["<script>"], ["x" * 600], ["a, b"]):
        with pytest.raises(StoreError):
            await s.set_masking("bank.example", bad)
