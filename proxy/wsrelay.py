"""Relay for the site's own WebSockets: browser <-> Tandem <-> upstream.

The upstream handshake happens first, so the browser is offered exactly the
subprotocol the upstream chose (or the handshake fails the way the upstream
failed it). Text and binary frames pass as they are, pings are answered on each
leg, and a close on either side closes the other with the same code and reason.
The handler task reads the browser socket; one helper task reads the upstream.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import WSMsgType, web

from tandem.settings import WS_MAX_MESSAGE

from . import errors
from .egress import EGRESS
from .upstream import classify

log = logging.getLogger("tandem.proxy.ws")

CLOSE_TIMEOUT = 10.0  # seconds to wait for the other side's close frame
# Codes that may not be sent in a close frame (RFC 6455 7.4.1); replaced by "going away"/"normal".
UNSENDABLE_CLOSE_CODES = frozenset({1005, 1006, 1015})
SKIP_HEADERS = frozenset({"host", "upgrade", "connection", "content-length"})


def _close_code(code: int | None) -> int:
    if code is None or code in UNSENDABLE_CLOSE_CODES:
        return 1000
    return code


async def relay_websocket(request: web.Request, target, mapper, headers: list[tuple[str, str]],
                          egress=None) -> web.StreamResponse:
    """``egress``: the way out the pipeline's decision chose (opened private networks only for listed hosts)."""
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    up_headers = [(k, v) for k, v in headers if k.lower() not in SKIP_HEADERS and not k.lower().startswith("sec-websocket-")]
    ws_scheme = "wss" if target.origin.scheme == "https" else "ws"
    url = f"{ws_scheme}://{target.origin.netloc}{request.raw_path}"
    # Through an http:// proxy both ws:// and wss:// go in a CONNECT tunnel, as browsers do.
    route = (egress or request.app[EGRESS]).route(ws_scheme, target.host, target.origin.port)
    try:
        upstream = await route.client.ws_connect(
            url,
            **route.options,
            protocols=protocols,
            headers=up_headers,
            max_msg_size=WS_MAX_MESSAGE,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
            autoping=True,
        )
    except aiohttp.WSServerHandshakeError as exc:
        log.info("upstream WebSocket %s refused the handshake: %s", target.origin, exc.status)
        if route.proxy is not None and exc.status == 407:
            route.check_response(exc.status)
        raise errors.UpstreamBroken(f"{target.host} refused the WebSocket (status {exc.status}).") from exc
    except Exception as exc:  # every client failure (aiohttp's, the proxy connector's) becomes a clear error
        err = classify(exc, target.host, route.proxy)
        log.warning("upstream WebSocket %s failed: %s (%s)", target.origin, err.code, type(exc).__name__)
        raise err from exc

    cookies = upstream._response.headers.getall("Set-Cookie", []) if upstream._response is not None else []
    if cookies:
        await target.session.jar.set_from_response(mapper.page_url, cookies)

    browser = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        max_msg_size=WS_MAX_MESSAGE,
        autoping=True,
    )
    try:
        await browser.prepare(request)
    except Exception:
        await upstream.close()
        raise

    async def upstream_to_browser() -> None:
        reason = ""
        while True:
            msg = await upstream.receive()
            if msg.type == WSMsgType.TEXT:
                await browser.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await browser.send_bytes(msg.data)
            else:
                if msg.type == WSMsgType.CLOSE:
                    reason = msg.extra or ""
                break
        if not browser.closed:
            await browser.close(code=_close_code(upstream.close_code), message=_reason(reason))

    pump = asyncio.ensure_future(upstream_to_browser())
    try:
        async for msg in browser:
            if msg.type == WSMsgType.TEXT:
                await upstream.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await upstream.send_bytes(msg.data)
            else:
                break
    except (ConnectionResetError, aiohttp.ClientError):
        pass
    finally:
        if not upstream.closed:
            await upstream.close(code=_close_code(browser.close_code))
        try:
            await asyncio.wait_for(pump, CLOSE_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionResetError, aiohttp.ClientError):
            pump.cancel()
    return browser


def _reason(text: str) -> bytes:
    return text.encode("utf-8")[:123]  # a close frame's reason fits in 123 bytes
