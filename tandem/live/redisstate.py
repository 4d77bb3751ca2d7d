"""The live state over Redis (``--redis-url``): every node sees the same jar, aliases and room facts.

Layout, per session (the ``{sid}`` hash tag keeps one session's keys on one Redis
Cluster slot):

* ``tandem:{sid}:jar``    hash: cookie key → sealed cookie record. One field per
  cookie, written with HSET/HDEL in one MULTI/EXEC: two nodes storing different
  cookies of the same session at the same moment both keep theirs (a whole-jar
  value would lose one); the same cookie from both ends as the later write, as in a
  browser.
* ``tandem:{sid}:alias``  hash: alias → sealed origin.
* ``tandem:{sid}:facts``  string: the sealed room facts.
* ``tandem:{sid}:page``   string: the sealed host of the tab owner's page, SET before
  that page's first byte leaves the node that serves it (a round trip per top-level
  document of the tab owner) and read (GET) only when an allowlist decision depends
  on it: an unlisted host while some entry has scope ``all`` (proxy.handler).

Values are sealed with the store's cipher (AES-GCM, the session, kind and name in
the associated data), so Redis holds nothing readable and a value moved to
another session fails to open. Every key expires ``ttl`` seconds after its last
write (a session nobody ends cannot pin memory); ``drop`` deletes them at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rewriter.cookies import CookieJar
from rewriter.labels import Origin

from .base import MAX_ALIASES, MAX_FACTS_BYTES, LiveAliases, LiveBackend, LiveJar, OwnerPage, RoomFacts, SessionLive
from .memory import ALIAS, FACTS, JAR, PAGE, _facts, _origin, _origin_text, _records

log = logging.getLogger("tandem.live")

DEFAULT_TTL = 2 * 24 * 3600  # seconds: past a session's own lifetime (24 h) with room to spare
CONNECT_TIMEOUT = 2.0  # seconds to reach Redis: a node that cannot says so instead of hanging requests
COMMAND_TIMEOUT = 2.0  # seconds for one command


class Sealer(Protocol):
    def encrypt(self, plaintext: str, context: str) -> str: ...

    def decrypt(self, value: str, context: str) -> str: ...


class _Keys:
    def __init__(self, sid: str, cipher: Sealer):
        self.sid, self.cipher = sid, cipher

    def key(self, kind: str) -> str:
        return f"tandem:{{{self.sid}}}:{kind}"

    def seal(self, kind: str, name: str, text: str) -> str:
        return self.cipher.encrypt(text, f"live:{self.sid}\x1f{kind}\x1f{name}")

    def open(self, kind: str, name: str, value: bytes | str) -> str | None:
        try:
            return self.cipher.decrypt(value.decode() if isinstance(value, bytes) else value,
                                       f"live:{self.sid}\x1f{kind}\x1f{name}")
        except Exception:  # a value that does not open (wrong session, damaged, old key): as if absent
            log.warning("session %s: a %s value in Redis does not decrypt; ignored", self.sid, kind)
            return None


class RedisJar(LiveJar):
    def __init__(self, r: aioredis.Redis, keys: _Keys, ttl: int):
        self._r, self._k, self._ttl = r, keys, ttl

    async def _open(self) -> CookieJar:
        fields = await self._r.hgetall(self._k.key(JAR))
        jar = CookieJar()
        texts = (self._k.open(JAR, name.decode(), value) for name, value in fields.items())
        jar.load(_records(t for t in texts if t is not None))
        return jar

    async def _commit(self, upserts: dict[str, dict], removed: list[str]) -> None:
        key = self._k.key(JAR)
        async with self._r.pipeline(transaction=True) as pipe:
            if removed:
                pipe.hdel(key, *removed)
            if upserts:
                pipe.hset(key, mapping={name: self._k.seal(JAR, name, json.dumps(rec, separators=(",", ":")))
                                        for name, rec in upserts.items()})
            pipe.expire(key, self._ttl)
            await pipe.execute()


class _Writer:
    """Writes queued by synchronous callers, each awaited by ``flush`` and never lost silently."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def start(self, coro_fn) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the next flush() writes it
        task = loop.create_task(coro_fn())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live state write to Redis failed: %s", task.exception())

    def pending(self) -> asyncio.Future | None:
        """A future that ends when every write started so far has (failed ones logged), or None."""
        return asyncio.gather(*list(self._tasks), return_exceptions=True) if self._tasks else None

    async def wait(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class RedisAliases(LiveAliases):
    def __init__(self, r: aioredis.Redis, keys: _Keys, ttl: int):
        self._r, self._k, self._ttl = r, keys, ttl
        self._map: dict[str, Origin] = {}
        self._pending: dict[str, Origin] = {}
        self._writer = _Writer()

    def get(self, alias: str) -> Origin | None:
        return self._map.get(alias)

    def register(self, alias: str, origin: Origin) -> None:
        if alias in self._map or len(self._map) >= MAX_ALIASES:
            return
        self._map[alias] = origin
        self._pending[alias] = origin
        self._writer.start(self._write)

    async def _write(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        key = self._k.key(ALIAS)
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={a: self._k.seal(ALIAS, a, _origin_text(o)) for a, o in pending.items()})
                pipe.expire(key, self._ttl)
                await pipe.execute()
        except BaseException:
            self._pending = {**pending, **self._pending}  # written by the next flush
            raise

    async def flush(self) -> None:
        await self._writer.wait()
        await self._write()

    async def lookup(self, alias: str) -> Origin | None:
        found = self._map.get(alias)
        if found is not None:
            return found
        value = await self._r.hget(self._k.key(ALIAS), alias)
        text = self._k.open(ALIAS, alias, value) if value is not None else None
        origin = _origin(text) if text is not None else None
        if origin is not None and len(self._map) < MAX_ALIASES:
            self._map[alias] = origin
        return origin

    def __len__(self) -> int:
        return len(self._map)


class RedisFacts(RoomFacts):
    def __init__(self, r: aioredis.Redis, keys: _Keys, ttl: int):
        self._r, self._k, self._ttl = r, keys, ttl
        self._facts: dict | None = None
        self._dirty = False
        self._writer = _Writer()
        self._order = asyncio.Lock()  # one SET at a time: an older text never lands after a newer one

    def get(self) -> dict | None:
        return self._facts

    def put(self, facts: dict) -> None:
        text = json.dumps(facts, separators=(",", ":"), ensure_ascii=False)
        if len(text) > MAX_FACTS_BYTES:
            return
        self._facts = json.loads(text)
        self._dirty = True
        self._writer.start(self._write)

    async def _write(self) -> None:
        async with self._order:
            if not self._dirty or self._facts is None:
                return
            self._dirty = False
            text = json.dumps(self._facts, separators=(",", ":"), ensure_ascii=False)
            try:
                await self._r.set(self._k.key(FACTS), self._k.seal(FACTS, "room", text), ex=self._ttl)
            except BaseException:
                self._dirty = True
                raise

    async def flush(self) -> None:
        await self._writer.wait()
        await self._write()

    def writing(self):
        return self._writer.pending()

    async def load(self) -> dict | None:
        value = await self._r.get(self._k.key(FACTS))
        text = self._k.open(FACTS, "room", value) if value is not None else None
        facts = _facts(text)
        if facts is not None:
            self._facts = facts
        return self._facts


class RedisPage(OwnerPage):
    """Never cached for a decision: another node may have served the tab owner a page since."""

    def __init__(self, r: aioredis.Redis, keys: _Keys, ttl: int):
        self._r, self._k, self._ttl = r, keys, ttl
        self._host: str | None = None

    def known(self) -> str | None:
        return self._host

    async def put(self, host: str) -> None:
        await self._r.set(self._k.key(PAGE), self._k.seal(PAGE, "host", host), ex=self._ttl)
        self._host = host

    async def current(self) -> str | None:
        value = await self._r.get(self._k.key(PAGE))
        if value is None:
            self._host = None
            return None
        self._host = self._k.open(PAGE, "host", value) or ""  # kept but unreadable: "" (the strictest entry)
        return self._host


class RedisBackend(LiveBackend):
    name = "redis"

    def __init__(self, url: str, cipher: Sealer, *, ttl: int = DEFAULT_TTL):
        self._r = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT,
                                          socket_timeout=COMMAND_TIMEOUT, health_check_interval=30)
        self._cipher = cipher
        self._ttl = ttl

    def open(self, sid: str) -> SessionLive:
        keys = _Keys(sid, self._cipher)
        return SessionLive(sid, RedisJar(self._r, keys, self._ttl), RedisAliases(self._r, keys, self._ttl),
                           RedisFacts(self._r, keys, self._ttl), RedisPage(self._r, keys, self._ttl))

    async def drop(self, sid: str) -> None:
        """Every key of the session: jar, aliases, facts, page, spent tickets (``once:*``), the room's lease."""
        keys = _Keys(sid, self._cipher)
        found = {keys.key(JAR), keys.key(ALIAS), keys.key(FACTS), keys.key(PAGE)}
        async for key in self._r.scan_iter(match=keys.key("*").replace("{", "\\{").replace("}", "\\}"), count=100):
            found.add(key.decode() if isinstance(key, bytes) else key)
        await self._r.delete(*found)

    async def claim_once(self, sid: str, key: str, ttl: int) -> bool:
        return bool(await self._r.set(_Keys(sid, self._cipher).key(f"once:{key}"), b"1", nx=True, ex=max(1, int(ttl))))

    async def ready(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._r.aclose()
