"""The `roost` command: `serve`, `check-config`, `demo`.

Configuration problems are printed as one line and exit with status 2 —
an operator gets a sentence, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
import uvicorn.config
from starlette.types import ASGIApp

from backend import logfilter
from backend.settings import ConfigError, Settings, load_settings

# uvicorn's own WebSocket limit is a backstop above the proxy's check, so
# an oversized frame gets a proper `policy-violation` stream error first.
WS_SIZE_SLACK = 64 * 1024


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="roost", description="Roost XMPP web client service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web client and the WebSocket proxy")
    serve.add_argument("--config", help="TOML config file (default: ./roost.toml if present)")
    serve.add_argument("--host", help="listen address (overrides [server] host)")
    serve.add_argument("--port", type=int, help="listen port (overrides [server] port)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument(
        "--proxy-headers", action="store_true",
        help="trust X-Forwarded-* from the reverse proxy (only behind one you control)",
    )

    check = sub.add_parser("check-config", help="validate the configuration and exit")
    check.add_argument("--config", help="TOML config file (default: ./roost.toml if present)")

    demo = sub.add_parser("demo", help="run a local demo (Prosody + Roost)")
    demo.add_argument("args", nargs=argparse.REMAINDER, help="passed to the demo")
    return parser


def _load(args: argparse.Namespace) -> Settings:
    overrides: dict[str, dict[str, Any]] = {}
    server: dict[str, Any] = {}
    if getattr(args, "host", None):
        server["host"] = args.host
    if getattr(args, "port", None):
        server["port"] = args.port
    if server:
        overrides["server"] = server
    return load_settings(args.config, overrides=overrides)


def uvicorn_config(
    settings: Settings,
    app: ASGIApp | None = None,
    *,
    log_level: str = "info",
    proxy_headers: bool = False,
) -> uvicorn.Config:
    """uvicorn settings for Roost (shared by `serve`, `demo` and the tests).

    Logging is uvicorn's own configuration plus `logfilter.WireDumpFilter`,
    so no log level ever shows WebSocket frames or handshake headers.
    """
    from backend.app import create_app

    return uvicorn.Config(
        app if app is not None else create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_level=log_level,
        log_config=logfilter.install(uvicorn.config.LOGGING_CONFIG),
        ws="websockets-sansio",
        ws_max_size=settings.websocket.max_stanza_size + WS_SIZE_SLACK,
        # Compression across secrets and attacker-chosen text invites
        # CRIME-style attacks (the same reason XMPP compression is refused).
        ws_per_message_deflate=False,
        # X-Forwarded-* is only trustworthy behind a proxy the operator runs.
        proxy_headers=proxy_headers,
        server_header=False,
    )


def serve(settings: Settings, log_level: str = "info", proxy_headers: bool = False) -> None:
    """Run uvicorn with the app for `settings` until interrupted."""
    uvicorn.Server(
        uvicorn_config(settings, log_level=log_level, proxy_headers=proxy_headers)
    ).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `roost` script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        # Everything after "demo" belongs to the demo's own parser.
        return _demo(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = _load(args)
    except ConfigError as exc:
        print(f"roost: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        domains = ", ".join(f"{s.domain} ({s.host}:{s.port}, {s.tls})"
                            for s in settings.xmpp_servers)
        problem = _check_push(settings)
        if problem:
            print(f"roost: configuration error: {problem}", file=sys.stderr)
            return 2
        print(f"configuration OK: http://{settings.server.host}:{settings.server.port}/ "
              f"→ {domains}")
        if settings.push.enabled:
            p = settings.push
            print(f"push: component {p.jid} via {p.component_host}:{p.component_port}, "
                  f"data in {p.data_dir}, for {', '.join(p.domains)}")
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logfilter.protect_handlers()
    from backend.push.vapid import VapidKeyError

    try:
        serve(settings, args.log_level, args.proxy_headers)
    except VapidKeyError as exc:
        print(f"roost: configuration error: [push] {exc}", file=sys.stderr)
        return 2
    return 0


def _check_push(settings: Settings) -> str | None:
    """A problem with the push gateway's key file, if it already exists (never creates it)."""
    if not settings.push.enabled:
        return None
    from backend.push.vapid import DEFAULT_KEY_NAME, VapidKeyError, load_or_create_key

    key = settings.push.vapid_private_key or settings.push.data_dir / DEFAULT_KEY_NAME
    if settings.push.vapid_private_key is not None and not key.is_file():
        return f"[push] vapid_private_key {key} does not exist"
    if key.is_file():
        try:
            load_or_create_key(key)
        except VapidKeyError as exc:
            return f"[push] {exc}"
    return None


def _demo(args: list[str]) -> int:
    try:
        demo = importlib.import_module("backend.devserver.demo")
    except ModuleNotFoundError as exc:
        if exc.name in ("backend.devserver.demo", "backend.devserver"):
            print("roost: the demo is not available in this installation "
                  "(backend/devserver/demo.py is missing)", file=sys.stderr)
            return 2
        if exc.name is None or exc.name.split(".")[0] == "backend":
            raise  # a bug in Roost itself, not a missing dependency
        # slixmpp (the echo bot) and the like come with the dev extra only.
        print(f"roost: the demo needs the development dependencies (module "
              f"{exc.name!r} is missing): pip install -e '.[dev]'", file=sys.stderr)
        return 2
    result = demo.main(args)
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
