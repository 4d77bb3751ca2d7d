"""REST API at ``/api/v1``: sessions, visitors, allowlist, masking, agents, API keys, settings, audit.

Auth: ``Authorization: Bearer <key>`` (the ``TANDEM_ADMIN_KEY`` or a stored key);
nothing here reads a cookie, so a proxied page's ambient credentials count for
nothing. Each route needs one scope (:mod:`tandem.scopes`), declared in ROUTES and in
the OpenAPI document's security requirements; a key without it gets 403
``insufficient_scope``. Requests are rate limited per address and per key
(:mod:`viewer.apilimits`). Bodies are JSON objects validated by pydantic models with unknown fields
forbidden; the same models give the OpenAPI 3 document at ``/api/v1/openapi.json``.
Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proxy.allowlist import PatternError
from proxy.sessions import CONSENT, DIRECT, INVITE_TTL, Session
from tandem import appkeys, events, policy
from tandem import scopes as sc
from tandem.store import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, SessionRow, StoreError

from . import apilimits
from .jsonbody import query_int, read_json
from .routes import ApiError, create_session, enter_url, new_pin, save_session_details, validate_start_url

API_MAX_BODY = 64 * 1024  # an API body is a few fields and a metadata object
MAX_METADATA = 16 * 1024  # caller metadata per session, serialized; it is stored (encrypted) and echoed in webhooks
MAX_LIST = 200  # rows per page in list endpoints
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- body models ---------------------------------------------------------------------------
class Strict(BaseModel):
    # strict: JSON types as declared ("yes" is not a boolean, "5" is not a number)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok or len(value) > 2048:
        raise ValueError("must be an absolute http:// or https:// address (at most 2048 characters)")
    return value


class AgentRef(Strict):
    id: str = Field(min_length=1, max_length=200, description="Your identifier for the agent; sessions can be filtered by it.")
    name: str = Field(default="", max_length=100, description="Shown to the customer on the consent screen ('NAME invites you to browse together').")


class Branding(Strict):
    naked: bool = Field(default=False, description="The session page shows the mirror alone: no Tandem bar or people list.")
    retry_url: str | None = Field(default=None, description="Offered ('Try again') to whoever cannot join; not a Tandem address.")
    no_bottom_bar: bool = Field(default=False, description="Hide the tab owner's session bar (the session goes on).")
    on_end_url: str | None = Field(default=None, description="Where every participant is sent when the session ends; not a Tandem address.")

    _urls = field_validator("retry_url", "on_end_url")(_http_url)


class Permissions(Strict):
    allow_click: bool = True
    allow_type: bool = True
    allow_scroll: bool = True
    allow_draw: bool = True
    allow_agent_redirect: bool = Field(default=True, description="The agent may navigate the leader's tab to another address.")


def _required_string(schema: dict) -> None:
    schema.pop("default", None)
    schema["type"] = "string"


class SessionCreate(Strict):
    # Checked by validate_start_url (422 invalid_url), so a missing url reads like a bad one.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, json_schema_extra={"required": ["url"]})
    url: Any = Field(default=None, description="Absolute http(s) address to co-browse; its host must be allowed.",
                     json_schema_extra=_required_string)
    agent: AgentRef | None = None
    branding: Branding = Field(default_factory=Branding)
    permissions: Permissions = Field(default_factory=Permissions)
    metadata: dict[str, Any] = Field(default_factory=dict, description=f"Your own data, at most {MAX_METADATA} bytes as JSON.")
    customer_role: Literal["leader", "follower"] = Field(default="follower", description="The role the invite_url and PIN carry.")


class WatchUrlCreate(Strict):
    agent: AgentRef | None = None
    branding: Branding | None = None
    permissions: Permissions | None = None


class InviteCreate(Strict):
    role: Literal["leader", "follower"] = "follower"
    consent: bool = Field(default=True, description="Customer link through the consent screen (true) or a direct link (false).")
    single_use: bool = False
    expires_in: int = Field(default=INVITE_TTL, ge=60, le=7 * 86400, description="Seconds the link stays valid.")


class AllowCreate(Strict):
    pattern: str = Field(description="'example.com' (exactly that host) or '*.example.com' (its subdomains).")
    scope: Literal["navigation", "all"] = "navigation"
    redirect: str | None = Field(default=None, description="Send navigations to matching hosts to this address instead.")


class MaskingSet(Strict):
    selectors: list[str] = Field(max_length=100, description="CSS selectors whose values are masked (shown as *) on hosts matching the pattern.")
    block: list[str] = Field(default_factory=list, max_length=100, description="CSS selectors whose elements are replaced by an empty placeholder.")


class AgentCreate(Strict):
    username: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=10, max_length=256)
    is_admin: bool = False


class AgentUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    password: str | None = Field(default=None, min_length=10, max_length=256)
    is_admin: bool | None = None
    disabled: bool | None = None


Scope = Literal["sessions:read", "sessions:write", "admin"]  # tandem.scopes.SCOPES


class KeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(default=None, min_length=1, max_length=3, description=(
        "What the key may do. Left out: [\"sessions:read\", \"sessions:write\"]; \"admin\" only when asked for."))
    webhook_url: str | None = Field(default=None, description="Receives session.started, session.ended, participant.joined, participant.left, control.changed and leader.changed, HMAC-signed, each with a per-session sequence.")

    _url = field_validator("webhook_url")(_http_url)


class KeyUpdate(Strict):
    scopes: list[Scope] = Field(min_length=1, max_length=3, description="Replaces the key's scopes.")


class SettingsUpdate(Strict):
    retention_days: int = Field(ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS)


# -- response shapes (documentation: the OpenAPI document describes what the handlers return) ----------
class SessionCreated(BaseModel):
    session_id: str
    leader_url: str = Field(description="Direct link: whoever opens it enters as leader (agents, integrators).")
    follower_url: str = Field(description="Direct link: enters as follower.")
    invite_url: str = Field(description="The customer's link: consent screen first, role customer_role.")
    pin: str = Field(description="6 digits for BASE/join, valid until pin_expires_at.")
    pin_expires_at: float
    expires_at: float
    created_at: float


class ParticipantOut(BaseModel):
    id: str
    role: Literal["leader", "follower"]
    kind: Literal["agent", "customer"]
    name: str
    joined_at: float


class SessionOut(BaseModel):
    session_id: str
    state: Literal["live", "ended"]
    url: str
    created_at: float
    ended_at: float | None
    expires_at: float | None
    agent: AgentRef | None
    customer_role: Literal["leader", "follower"]
    branding: dict[str, Any]
    permissions: dict[str, Any]
    metadata: dict[str, Any]
    visitor_id: str | None
    participants: list[ParticipantOut] | None = Field(default=None, description="Only on GET /sessions/{id}.")


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_before: float | None = Field(description="Pass as ?before= for the next page; null on the last page.")


# -- plumbing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    key_id: int | None  # None: the TANDEM_ADMIN_KEY from the environment
    scopes: tuple[str, ...] = sc.SCOPES

    @property
    def actor(self) -> str:
        return "admin-key" if self.key_id is None else f"key:{self.key_id}"


async def authenticate(request: web.Request) -> Caller:
    auth = request.headers.get("Authorization", "")
    scheme, _, key = auth.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'.")
    key = key.strip()
    admin = request.app[appkeys.SETTINGS].admin_key
    if admin and hmac.compare_digest(key.encode(), admin.encode()):
        return Caller(None, sc.SCOPES)
    record = await request.app[appkeys.STORE].api_key_for(key)
    if record is not None:
        return Caller(record.id, record.scopes)
    raise ApiError(401, "unauthorized", "The API key is not valid.")


async def authorize(request: web.Request, scope: str) -> Caller:
    """The caller, counted against its key's rate limit, when its key has ``scope``; else 401/403/429 JSON."""
    caller = await authenticate(request)
    await apilimits.count_key(request, caller.actor)
    if scope not in caller.scopes:
        have = ", ".join(caller.scopes) or "none"
        raise ApiError(403, "insufficient_scope", f"This API key lacks the '{scope}' scope (it has: {have}).")
    return caller


async def json_body(request: web.Request) -> dict:
    """The body as a JSON object, read by the one bounded reader every endpoint uses (:mod:`viewer.jsonbody`)."""
    return await read_json(request, max_bytes=API_MAX_BODY)


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "body"


def parse(model: type[BaseModel], body: dict) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        unknown = [_where(e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
        if unknown:
            raise ApiError(400, "unknown_fields", f"Unknown field(s): {', '.join(unknown)}.") from exc
        first = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors[:5])
        raise ApiError(422, "invalid_body", first) from exc


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


def _query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    return query_int(request, name, default, lo, hi)


async def session_json(request: web.Request, row: SessionRow | Session, *, participants: bool = False) -> dict:
    store = request.app[appkeys.STORE]
    if isinstance(row, Session):
        row = await store.get_session(row.sid)
    d = row.details
    out = {
        "session_id": row.id,
        "state": row.state,
        "url": row.start_url,
        "created_at": row.created_at,
        "ended_at": row.ended_at,
        "expires_at": row.expires_at,
        "agent": {"id": row.agent_id, "name": d.get("agent_name", "")} if row.agent_id else None,
        "customer_role": d.get("customer_role", "follower"),
        "branding": d.get("branding", {}),
        "permissions": d.get("permissions", {}),
        "metadata": d.get("metadata", {}),
        "visitor_id": row.visitor_id,
    }
    if participants:
        out["participants"] = [
            {"id": p.pid, "role": p.role, "kind": p.kind, "name": p.name, "joined_at": p.joined_at} for p in await store.participants(row.id)]
    return out


async def _live_session(request: web.Request) -> Session:
    session = await request.app[appkeys.SESSIONS].get(request.match_info["sid"])
    if session is None:
        raise ApiError(404, "not_found", "No session with that id.")
    return session


# -- sessions ---------------------------------------------------------------------------------
def check_branding(request: web.Request, branding: Branding | None) -> None:
    """retry_url and on_end_url leave Tandem: never the control plane or a proxied host (whose pages
    would keep the participant inside a session, or inside an ended one)."""
    from urllib.parse import urlsplit

    if branding is None:
        return
    own = request.app[appkeys.BASE].hostname.lower()
    for name in ("retry_url", "on_end_url"):
        value = getattr(branding, name)
        host = (urlsplit(value).hostname or "").lower().rstrip(".") if value else ""
        if host and (host == own or host.endswith("." + own)):
            raise ApiError(422, "invalid_body", f"branding.{name}: must be an address outside Tandem (not {own} or its subdomains).")


async def sessions_create(request: web.Request, caller: Caller) -> web.Response:
    body = parse(SessionCreate, await json_body(request))
    check_branding(request, body.branding)
    if len(json.dumps(body.metadata)) > MAX_METADATA:
        raise ApiError(422, "invalid_body", f"metadata: at most {MAX_METADATA} bytes as JSON.")
    url = validate_start_url(request, body.url)
    info = await create_session(
        request, url, agent_id=body.agent.id if body.agent else None, agent_name=body.agent.name if body.agent else "",
        branding=body.branding.model_dump(), permissions=body.permissions.model_dump(), metadata=body.metadata,
        customer_role=body.customer_role, key_id=caller.key_id, actor=caller.actor)
    return ok(info, 201)


async def sessions_list(request: web.Request, caller: Caller) -> web.Response:
    state = request.query.get("state")
    if state not in (None, "live", "ended"):
        raise ApiError(422, "invalid_query", "'state' must be 'live' or 'ended'.")
    limit = _query_int(request, "limit", 50, 1, MAX_LIST)
    before = request.query.get("before")
    try:
        before_f = float(before) if before is not None else None
    except ValueError as exc:
        raise ApiError(422, "invalid_query", "'before' must be a created_at timestamp from a previous page.") from exc
    rows = await request.app[appkeys.STORE].list_sessions(state=state, agent_id=request.query.get("agent"),
                                                    visitor_id=request.query.get("visitor"), limit=limit, before=before_f)
    return ok({"sessions": [await session_json(request, r) for r in rows],
               "next_before": rows[-1].created_at if len(rows) == limit else None})


async def sessions_get(request: web.Request, caller: Caller) -> web.Response:
    row = await request.app[appkeys.STORE].get_session(request.match_info["sid"])
    if row is None:
        raise ApiError(404, "not_found", "No session with that id.")
    return ok(await session_json(request, row, participants=True))


async def sessions_delete(request: web.Request, caller: Caller) -> web.Response:
    from .console import end_session

    session = await _live_session(request)
    await end_session(request, session, actor=caller.actor)
    return ok(await session_json(request, session))


async def invites_create(request: web.Request, caller: Caller) -> web.Response:
    session = await _live_session(request)
    if session.ended:
        raise ApiError(409, "session_ended", "The session has ended.")
    body = parse(InviteCreate, await json_body(request))
    url = await enter_url(request, session.sid, body.role, audience=CONSENT if body.consent else DIRECT,
                    single_use=body.single_use, ttl=body.expires_in)
    return ok({"url": url, "role": body.role, "single_use": body.single_use, "expires_at": int(time.time()) + body.expires_in}, 201)


async def invites_revoke(request: web.Request, caller: Caller) -> web.Response:
    session = await _live_session(request)
    n = await request.app[appkeys.SESSIONS].revoke_invites(session.sid)
    await request.app[appkeys.STORE].revoke_pins(session.sid)
    await events.emit(request.app, "invites.revoked", session, actor=caller.actor, detail={"count": n})
    return ok({"revoked": n})


async def pin_create(request: web.Request, caller: Caller) -> web.Response:
    session = await _live_session(request)
    if session.ended:
        raise ApiError(409, "session_ended", "The session has ended.")
    pin, expires = await new_pin(request, session)
    await events.emit(request.app, "pin.created", session, actor=caller.actor)
    return ok({"pin": pin, "expires_at": expires}, 201)


async def watch_url(request: web.Request, caller: Caller) -> web.Response:
    visitor = request.match_info["visitor"]
    body = parse(WatchUrlCreate, await json_body(request) if request.body_exists else {})
    check_branding(request, body.branding)
    store = request.app[appkeys.STORE]
    if not await store.visitor_exists(visitor):
        raise ApiError(404, "not_found", "No visitor with that id (the snippet registers visitors when they start a session).")
    live = await store.list_sessions(state="live", visitor_id=visitor, limit=1)
    session = await request.app[appkeys.SESSIONS].get(live[0].id) if live else None
    if session is None or session.ended:
        raise ApiError(409, "no_live_session", "The visitor has no live session; ask them to start one from the site.")
    if body.agent:
        session.agent_id, session.agent_name = body.agent.id, body.agent.name
    if body.branding:
        session.branding = body.branding.model_dump()
    if body.permissions:
        session.permissions = body.permissions.model_dump()
    await save_session_details(request, session)
    url = await enter_url(request, session.sid, "follower")
    return ok({"watch_url": url, "session_id": session.sid})


# -- allowlist and masking ----------------------------------------------------------------------
def _entry_json(e) -> dict:
    return {"pattern": e.pattern, "scope": e.scope, "redirect": e.redirect}


async def allow_list(request: web.Request, caller: Caller) -> web.Response:
    return ok({"entries": [_entry_json(e) for e in await request.app[appkeys.STORE].allowlist()]})


async def allow_add(request: web.Request, caller: Caller) -> web.Response:
    body = parse(AllowCreate, await json_body(request))
    try:
        entry = await policy.allow(request.app[appkeys.STORE], body.pattern, body.scope, body.redirect)
    except (PatternError, StoreError) as exc:
        raise ApiError(422, "invalid_pattern", str(exc)) from exc
    await events.emit(request.app, "allowlist.added", None, actor=caller.actor, detail=_entry_json(entry))
    return ok(_entry_json(entry), 201)


async def allow_delete(request: web.Request, caller: Caller) -> web.Response:
    pattern = request.match_info["pattern"]
    try:
        removed = await policy.disallow(request.app[appkeys.STORE], pattern)
    except PatternError as exc:
        raise ApiError(422, "invalid_pattern", str(exc)) from exc
    if not removed:
        raise ApiError(404, "not_found", f"{pattern} is not on the allowlist.")
    await events.emit(request.app, "allowlist.removed", None, actor=caller.actor, detail={"pattern": pattern})
    return web.Response(status=204)


async def masking_list(request: web.Request, caller: Caller) -> web.Response:
    return ok({"masking": await request.app[appkeys.STORE].masking()})


async def masking_set(request: web.Request, caller: Caller) -> web.Response:
    body = parse(MaskingSet, await json_body(request))
    pattern = request.match_info["pattern"]
    try:
        selectors, block = await policy.set_masking(request.app[appkeys.STORE], pattern, body.selectors, body.block)
    except (PatternError, StoreError) as exc:
        raise ApiError(422, "invalid_body", str(exc)) from exc
    await events.emit(request.app, "masking.set", None, actor=caller.actor, detail={"pattern": pattern, "selectors": selectors, "block": block})
    return ok({"pattern": pattern, "selectors": selectors, "block": block})


# -- agents, keys, settings, audit -------------------------------------------------------------
def _agent_json(a) -> dict:
    return {"id": a.id, "username": a.username, "name": a.name, "is_admin": a.is_admin, "created_at": a.created_at,
            "disabled": a.disabled_at is not None}


async def _agent_id(request: web.Request) -> int:
    raw = request.match_info["agent_id"]
    agent = await request.app[appkeys.STORE].get_agent(int(raw)) if raw.isdigit() else None
    if agent is None:
        raise ApiError(404, "not_found", "No agent with that id.")
    return agent.id


async def agents_list(request: web.Request, caller: Caller) -> web.Response:
    return ok({"agents": [_agent_json(a) for a in await request.app[appkeys.STORE].agents()]})


async def agents_create(request: web.Request, caller: Caller) -> web.Response:
    body = parse(AgentCreate, await json_body(request))
    try:
        agent = await request.app[appkeys.STORE].create_agent(body.username, body.name, body.password, is_admin=body.is_admin)
    except StoreError as exc:
        raise ApiError(409 if "exists" in str(exc) else 422, "conflict" if "exists" in str(exc) else "invalid_body", str(exc)) from exc
    await events.emit(request.app, "agent.created", None, actor=caller.actor, detail={"username": agent.username})
    return ok(_agent_json(agent), 201)


async def agents_get(request: web.Request, caller: Caller) -> web.Response:
    return ok(_agent_json(await request.app[appkeys.STORE].get_agent(await _agent_id(request))))


async def agents_update(request: web.Request, caller: Caller) -> web.Response:
    agent_id = await _agent_id(request)
    body = parse(AgentUpdate, await json_body(request))
    try:
        agent = await request.app[appkeys.STORE].update_agent(agent_id, **body.model_dump(exclude_none=True))
    except StoreError as exc:
        raise ApiError(422, "invalid_body", str(exc)) from exc
    await events.emit(request.app, "agent.updated", None, actor=caller.actor,
                detail={"username": agent.username, "fields": sorted(body.model_dump(exclude_none=True))})
    return ok(_agent_json(agent))


async def agents_delete(request: web.Request, caller: Caller) -> web.Response:
    agent = await request.app[appkeys.STORE].update_agent(await _agent_id(request), disabled=True)
    await events.emit(request.app, "agent.disabled", None, actor=caller.actor, detail={"username": agent.username})
    return web.Response(status=204)


def _key_json(k) -> dict:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "created_at": k.created_at, "revoked": k.revoked_at is not None,
            "webhook_url": k.webhook_url, "scopes": list(k.scopes)}


async def keys_list(request: web.Request, caller: Caller) -> web.Response:
    return ok({"keys": [_key_json(k) for k in await request.app[appkeys.STORE].api_keys()]})


async def keys_create(request: web.Request, caller: Caller) -> web.Response:
    body = parse(KeyCreate, await json_body(request))
    scopes = sc.normalize(body.scopes) if body.scopes is not None else sc.DEFAULT_SCOPES
    key, record, hook_secret = await request.app[appkeys.STORE].create_api_key_full(body.name, webhook_url=body.webhook_url,
                                                                              scopes=scopes)
    await events.emit(request.app, "key.created", None, actor=caller.actor,
                detail={"id": record.id, "name": record.name, "scopes": list(record.scopes)})
    out = {**_key_json(record), "key": key}
    if hook_secret:
        out["webhook_secret"] = hook_secret
    return ok(out, 201)


async def keys_delete(request: web.Request, caller: Caller) -> web.Response:
    raw = request.match_info["key_id"]
    if not raw.isdigit() or not await request.app[appkeys.STORE].revoke_api_key(int(raw)):
        raise ApiError(404, "not_found", "No live API key with that id.")
    await events.emit(request.app, "key.revoked", None, actor=caller.actor, detail={"id": int(raw)})
    return web.Response(status=204)


async def keys_update(request: web.Request, caller: Caller) -> web.Response:
    raw = request.match_info["key_id"]
    body = parse(KeyUpdate, await json_body(request))
    record = await request.app[appkeys.STORE].set_api_key_scopes(int(raw), sc.normalize(body.scopes)) if raw.isdigit() else None
    if record is None:
        raise ApiError(404, "not_found", "No live API key with that id.")
    await events.emit(request.app, "key.scopes", None, actor=caller.actor, detail={"id": record.id, "scopes": list(record.scopes)})
    return ok(_key_json(record))


async def settings_get(request: web.Request, caller: Caller) -> web.Response:
    return ok({"retention_days": await request.app[appkeys.STORE].retention_days()})


async def settings_update(request: web.Request, caller: Caller) -> web.Response:
    body = parse(SettingsUpdate, await json_body(request))
    await request.app[appkeys.STORE].set_retention_days(body.retention_days)
    await events.emit(request.app, "settings.retention", None, actor=caller.actor, detail={"retention_days": body.retention_days})
    return ok({"retention_days": body.retention_days})


async def audit_list(request: web.Request, caller: Caller) -> web.Response:
    before = query_int(request, "before_id", None, 1)
    rows = await request.app[appkeys.STORE].audit_events(session_id=request.query.get("session_id"), kind=request.query.get("kind"),
                                                   before_id=before,
                                                   limit=_query_int(request, "limit", 100, 1, MAX_LIST))
    return ok({"events": [{"id": e.id, "at": e.at, "kind": e.kind, "session_id": e.session_id, "actor": e.actor, "detail": e.detail}
                          for e in rows]})


# -- routing and OpenAPI -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]
    summary: str
    body: type[BaseModel] | None = None
    status: int = 200
    response: type[BaseModel] | None = None
    scope: str = field(kw_only=True)  # required: the one tandem.scopes scope a key needs here


READ, WRITE, ADMIN = sc.SESSIONS_READ, sc.SESSIONS_WRITE, sc.ADMIN
ROUTES = [
    Route("POST", "/sessions", sessions_create, "Start a session; returns leader_url, follower_url, invite_url, pin", SessionCreate, 201,
          SessionCreated, scope=WRITE),
    Route("GET", "/sessions", sessions_list, "List sessions (query: state=live|ended, agent, visitor, limit, before)", response=SessionList,
          scope=READ),
    Route("GET", "/sessions/{sid}", sessions_get, "One session with its participants, state and times", response=SessionOut, scope=READ),
    Route("DELETE", "/sessions/{sid}", sessions_delete, "End the session for every participant", response=SessionOut, scope=WRITE),
    Route("POST", "/sessions/{sid}/invites", invites_create, "Make another invite link (role, consent, single_use, expires_in)", InviteCreate,
          201, scope=WRITE),
    Route("DELETE", "/sessions/{sid}/invites", invites_revoke, "Withdraw every invite link and the PIN of the session", scope=WRITE),
    Route("POST", "/sessions/{sid}/pin", pin_create, "Make a new PIN for the customer (replaces the old one)", None, 201, scope=WRITE),
    Route("POST", "/visitors/{visitor}/watch_url", watch_url, "A link for an agent to join the live session a snippet visitor started",
          WatchUrlCreate, scope=WRITE),
    Route("GET", "/allowlist", allow_list, "The domain allowlist", scope=ADMIN),
    Route("POST", "/allowlist", allow_add, "Add or update an entry", AllowCreate, 201, scope=ADMIN),
    Route("DELETE", "/allowlist/{pattern}", allow_delete, "Remove an entry", None, 204, scope=ADMIN),
    Route("GET", "/masking", masking_list, "Masking selectors per host pattern", scope=ADMIN),
    Route("PUT", "/masking/{pattern}", masking_set, "Set the masking and block selectors for a host pattern (both empty removes it)",
          MaskingSet, scope=ADMIN),
    Route("GET", "/agents", agents_list, "Console agents", scope=ADMIN),
    Route("POST", "/agents", agents_create, "Create an agent", AgentCreate, 201, scope=ADMIN),
    Route("GET", "/agents/{agent_id}", agents_get, "One agent", scope=ADMIN),
    Route("PATCH", "/agents/{agent_id}", agents_update, "Change name, password, admin flag, or disable", AgentUpdate, scope=ADMIN),
    Route("DELETE", "/agents/{agent_id}", agents_delete, "Disable an agent (signs them out)", None, 204, scope=ADMIN),
    Route("GET", "/keys", keys_list, "API keys with their scopes (never the keys themselves)", scope=ADMIN),
    Route("POST", "/keys", keys_create, "Create a key with scopes; the key and webhook secret are in this response only", KeyCreate, 201,
          scope=ADMIN),
    Route("PATCH", "/keys/{key_id}", keys_update, "Replace a key's scopes", KeyUpdate, scope=ADMIN),
    Route("DELETE", "/keys/{key_id}", keys_delete, "Revoke a key", None, 204, scope=ADMIN),
    Route("GET", "/settings", settings_get, "Retention period", scope=ADMIN),
    Route("PATCH", "/settings", settings_update, "Change the retention period", SettingsUpdate, scope=ADMIN),
    Route("GET", "/audit", audit_list, "Audit events, newest first (query: session_id, kind, before_id, limit)", scope=ADMIN),
]


def _wrap(route: Route) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        caller = await authorize(request, route.scope)
        return await route.handler(request, caller)

    handler.__name__ = route.handler.__name__
    return handler


RATE_HEADERS = {
    "RateLimit-Limit": "Requests allowed in the window of the quota nearest to running out (per address or per key).",
    "RateLimit-Remaining": "Requests left in that window.",
    "RateLimit-Reset": "Seconds until that window starts again.",
    "RateLimit-Policy": "Both quotas, e.g. '300;w=60;comment=\"per address\", 600;w=60;comment=\"per key\"' (draft-ietf-httpapi-ratelimit-headers-06).",
}


def security_requirement(scope: str) -> list[dict]:
    """The OpenAPI security requirement of a route needing ``scope`` (3.1 lets a bearer scheme list roles)."""
    return [{"bearer": [scope]}]


def openapi(base_url: str) -> dict:
    schemas: dict[str, Any] = {}
    paths: dict[str, dict] = {}
    error = {"$ref": "#/components/schemas/Error"}
    rate = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_HEADERS}

    def ref(model: type[BaseModel]) -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def errors(*, keyed: bool = True) -> dict:
        json_error = {"application/json": {"schema": error}}
        out = {}
        if keyed:
            out["401"] = {"description": "No key, or not a valid one (code unauthorized)", "headers": rate, "content": json_error}
            out["403"] = {"description": "The key lacks the scope this operation needs (code insufficient_scope)", "headers": rate,
                          "content": json_error}
        out["429"] = {"description": "Past the per-address or per-key rate limit (code rate_limited)",
                      "headers": {**rate, "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
                      "content": json_error}
        out["default"] = {"description": "Error", "headers": rate, "content": json_error}
        return out

    for route in ROUTES:
        success = {"type": "object"} if route.response is None else ref(route.response)
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "security": security_requirement(route.scope),
            "x-scope": route.scope,
            "responses": {
                str(route.status): {"description": "Success", "headers": rate} if route.status == 204 else
                {"description": "Success", "headers": rate, "content": {"application/json": {"schema": success}}},
                **errors(),
            },
        }
        params = [p.strip("{}") for p in route.path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(route.body)}}}
        paths.setdefault(route.path, {})[route.method.lower()] = op
    paths["/openapi.json"] = {"get": {
        "summary": "This document (no key needed)", "operationId": "openapi", "security": [],
        "responses": {"200": {"description": "Success", "headers": rate, "content": {"application/json": {"schema": {"type": "object"}}}},
                      **errors(keyed=False)}}}
    paths["/metrics"] = {  # outside /api/v1: its own server entry
        "servers": [{"url": base_url}],
        "get": {"summary": "Prometheus metrics (text format; OpenMetrics by Accept). A key with the admin scope, or TANDEM_METRICS_TOKEN",
                "operationId": "metrics",
                "security": security_requirement(sc.ADMIN) + [{"metricsToken": []}],
                "x-scope": sc.ADMIN,
                "responses": {"200": {"description": "Success", "headers": rate, "content": {"text/plain": {"schema": {"type": "string"}}}},
                              **errors()}}}
    from viewer.snippet.push import OPENAPI_SECURITY, openapi_paths  # the snippet's event stream (visitor secret)

    paths.update(openapi_paths(base_url))
    schemas.update(webhook_schemas())
    schemas["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
    scopes_text = "; ".join(f"'{name}': {text}" for name, text in sc.DESCRIPTIONS.items())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tandem API", "version": "1", "description": (
            "Self-hosted co-browsing. Send 'Authorization: Bearer <key>'. Each operation needs one scope of the key "
            f"(its security requirement lists it): {scopes_text}. Requests are rate limited per client address and per key; "
            "every answer carries RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and RateLimit-Policy.")},
        "servers": [{"url": f"{base_url}/api/v1"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": (
                    "An API key (admin pages, POST /keys, or TANDEM_ADMIN_KEY, which has every scope). "
                    f"Scopes: {scopes_text}.")},
                "metricsToken": {"type": "http", "scheme": "bearer",
                                 "description": "TANDEM_METRICS_TOKEN: reads GET /metrics and nothing else."},
                **OPENAPI_SECURITY,
            },
            "headers": {name: {"description": text, "schema": {"type": "string" if name == "RateLimit-Policy" else "integer"}}
                        for name, text in RATE_HEADERS.items()},
            "schemas": schemas,
        },
        "paths": paths,
        "webhooks": webhooks_doc(),
    }


# -- webhooks: what a key's webhook_url receives (OpenAPI 3.1 "webhooks") ---------------------------
WEBHOOK_DATA = {  # the fields each kind adds to data (tandem.events.emit adds session_id, agent_id, metadata, actor)
    "session.started": ({"url": {"type": "string", "description": "The address the session started on."}}, "A session started."),
    "session.ended": ({}, "The session ended (an agent, the API, the visitor, or its expiry); actor says who."),
    "participant.joined": ({"pid": {"type": "string"}, "role": {"enum": ["leader", "follower"]},
                            "kind": {"enum": ["agent", "customer"]}}, "Someone was admitted to the session."),
    "participant.left": ({"pid": {"type": "string"}}, "A participant left (Leave, or gone past the grace period)."),
    "control.changed": ({"from": {"type": ["string", "null"], "description": "Participant id that had control; null: nobody."},
                         "to": {"type": ["string", "null"], "description": "Participant id that has control now; null: nobody."},
                         "to_name": {"type": "string"}}, "Control of the tab owner's page moved (granted, taken, released, revoked)."),
    "leader.changed": ({"from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]}, "to_name": {"type": "string"}},
                       "The tab owner changed (handed over, or taken over after the owner left)."),
}
WEBHOOK_HEADERS = {
    "Tandem-Event": "The event's type, as in the body.",
    "Tandem-Delivery": "The delivery id, the same on every retry and on 'Send again': drop one you have already seen.",
    "Tandem-Signature": "t=<unix time>,v1=<hex HMAC-SHA256(webhook secret, \"<t>.<raw body>\")>: check it, and that t is recent.",
}


def webhook_schemas() -> dict[str, Any]:
    from tandem.events import WEBHOOK_EVENTS

    out: dict[str, Any] = {}
    for kind in sorted(WEBHOOK_EVENTS):
        fields, _ = WEBHOOK_DATA[kind]
        name = "Webhook_" + kind.replace(".", "_")
        out[name] = {"type": "object", "required": ["id", "type", "created_at", "sequence", "data"], "properties": {
            "id": {"type": "string", "description": "The delivery id (as Tandem-Delivery)."},
            "type": {"const": kind},
            "created_at": {"type": "number", "description": "Unix time the event was recorded."},
            "sequence": {"type": "integer", "minimum": 1, "description": (
                "The session's event number: grows with every event of the session (kept across restarts); order by it. "
                "Not contiguous: events that are audited but not sent take a number too.")},
            "data": {"type": "object", "required": ["session_id"], "properties": {
                "session_id": {"type": "string"},
                "agent_id": {"type": ["string", "null"], "description": "agent.id given when the session was started."},
                "metadata": {"type": "object", "description": "The session's metadata, as given when it was started."},
                "actor": {"type": "string", "description": "Who caused it (a participant's name, key:<id>, admin-key, expiry)."},
                **fields}},
        }}
    return out


def webhooks_doc() -> dict[str, Any]:
    """One entry per event a webhook receives: the POST Tandem sends to the key's webhook_url."""
    from tandem.events import WEBHOOK_EVENTS

    params = [{"name": h, "in": "header", "required": True, "description": text, "schema": {"type": "string"}}
              for h, text in WEBHOOK_HEADERS.items()]
    out = {}
    for kind in sorted(WEBHOOK_EVENTS):
        _, summary = WEBHOOK_DATA[kind]
        out[kind] = {"post": {
            "summary": summary, "operationId": "webhook_" + kind.replace(".", "_"), "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Webhook_" + kind.replace(".", "_")}}}},
            "responses": {"2XX": {"description": "Received. Any other answer, or none within 10 s, is retried after "
                                                 "1 s, 5 s, 30 s, 2 min and 10 min; a hook failing for a day is switched off."}},
        }}
    return out


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi(request.app[appkeys.BASE].url), headers={"Cache-Control": "no-cache"})


async def not_found(request: web.Request) -> web.Response:
    raise ApiError(404, "not_found", f"No API endpoint at {request.method} {request.path}.")


def setup(app: web.Application) -> None:
    apilimits.setup(app)  # per-address and per-key limits, RateLimit-* on every answer
    r = app.router
    r.add_get("/api/v1/openapi.json", openapi_json)
    for route in ROUTES:
        r.add_route(route.method, "/api/v1" + route.path, _wrap(route))
    r.add_route("*", "/api/v1/{tail:.*}", not_found)
