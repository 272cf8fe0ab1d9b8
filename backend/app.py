"""The Starlette application: `create_app(settings)`.

Routes, in order (the static mount is last so `/config.json` from settings
wins over a `config.json` file in `dist/`):

* `GET /healthz` — `{"status": "ok"}` for load balancers and monitors;
* `GET /config.json` — `Settings.client_config()` for the browser bundle, plus
  `push`: the push component's JID and VAPID public key, or null;
* `WS /xmpp-websocket` (or `[client] websocket_url` if it is a path) — the
  RFC 7395 proxy;
* `/` — the built bundle from `static_dir` (`python build.py` makes `dist/`);
  a plain 503 page while it does not exist.

With `[push] enabled`, the lifespan starts and stops the Web Push gateway
(`backend.push.gateway.PushGateway`); it connects to the XMPP server in the
background, so startup never waits for it.

`SecurityHeadersMiddleware` adds the security headers and cache policy to
every HTTP response.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Final

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.proxy.upstream import Connector
from backend.proxy.websocket import SessionCounter, make_endpoint
from backend.push.gateway import PushGateway
from backend.settings import Settings

logger = logging.getLogger("roost")

# One place to extend the policy. Brython compiles Python to JS at run time,
# hence 'unsafe-eval'; there is no 'unsafe-inline' anywhere.
CONTENT_SECURITY_POLICY: Final = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self' ws: wss:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
])
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # No calls yet: nothing may use the camera, microphone or location.
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS: Final = "max-age=63072000"
# Files whose name must stay stable and whose content changes: always revalidate.
NO_CACHE_NAMES: Final = frozenset({"", "index.html", "sw.js", "config.json", "manifest.json"})
# Content-hashed build outputs (`name.<hex>.js`) never change under their name.
HASHED_ASSET: Final = re.compile(r"\.[0-9a-f]{8,}\.[A-Za-z0-9]+$")
IMMUTABLE: Final = "public, max-age=31536000, immutable"

MISSING_BUNDLE: Final = (
    "Roost is running, but the web client has not been built.\n"
    "Run `python build.py` to create dist/ (or set [server] static_dir).\n"
)


class SecurityHeadersMiddleware:
    """Pure ASGI middleware: security headers and cache policy on HTTP responses."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cache_control = cache_policy(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if cache_control is not None and message.get("status", 200) < 400:
                    headers["Cache-Control"] = cache_control
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cache_policy(path: str) -> str | None:
    """The Cache-Control value for `path`, or None to leave the default."""
    name = path.rsplit("/", 1)[-1]
    if name in NO_CACHE_NAMES or name.endswith(".html"):
        return "no-cache"
    if HASHED_ASSET.search(name):
        return IMMUTABLE
    return None


def create_app(settings: Settings, *, connector: Connector | None = None) -> Starlette:
    """Build the application for `settings`.

    `connector` replaces the upstream TCP connector (tests count or fake
    connections with it); by default the proxy dials real servers.
    """
    push = PushGateway(settings.push) if settings.push.enabled else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logger.info(
            "Roost serving %s for %s",
            settings.server.static_dir, ", ".join(s.domain for s in settings.xmpp_servers),
        )
        if push is not None:
            await push.start()
        try:
            yield
        finally:
            if push is not None:
                await push.stop()
        logger.info("Roost stopped")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def config_json(_request: Request) -> Response:
        return JSONResponse({
            **settings.client_config(),
            "push": push.client_config() if push is not None else None,
        })

    # One per-address session count for every WebSocket route.
    sessions = SessionCounter(settings.websocket.max_sessions_per_ip)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/config.json", config_json, methods=["GET", "HEAD"]),
        WebSocketRoute("/xmpp-websocket", make_endpoint(settings, connector, sessions)),
    ]
    ws_path = settings.client.websocket_url
    if ws_path.startswith("/") and ws_path != "/xmpp-websocket":
        # A custom path on this same server (an absolute ws(s):// URL points
        # elsewhere and needs no route here).
        routes.append(WebSocketRoute(ws_path, make_endpoint(settings, connector, sessions)))
    static_dir = settings.server.static_dir
    if static_dir.is_dir():
        routes.append(Mount("/", app=StaticFiles(directory=static_dir, html=True)))
    else:
        logger.warning("%s does not exist: run `python build.py`", static_dir)

        async def missing_bundle(_request: Request) -> Response:
            return PlainTextResponse(MISSING_BUNDLE, status_code=503)

        routes.append(Route("/{path:path}", missing_bundle, methods=["GET", "HEAD"]))

    hsts = (settings.server.public_url or "").startswith("https://")
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeadersMiddleware, hsts=hsts)],
    )
    app.state.settings = settings
    app.state.push = push
    return app
