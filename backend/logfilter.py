"""Keep wire dumps out of the logs, whatever the log level.

At debug level the `websockets` library (uvicorn's `websockets-sansio`
implementation hands it the `uvicorn.error` logger) logs every frame it
reads or writes — `< TEXT '<auth mechanism="PLAIN">…' [52 bytes]` — and
every HTTP header of the handshake (`< Cookie: …`). Those would put SASL
exchanges, passwords and message bodies into the logs (SECURITY.md:
never). `WireDumpFilter` drops exactly those records and keeps the
connection-level ones (`= connection is OPEN`, `connection closed`,
`! invalid origin`, uvicorn's `"WebSocket /xmpp-websocket" [accepted]`).

What websockets 17 emits at debug, by format string:

* `"< %s"` / `"> %s"` with a `Frame` — a frame's payload (dropped);
* `"< %s: %s"` / `"> %s: %s"` — handshake header lines (dropped);
* `"< %s %s %s"`, `"> HTTP/1.1 %d %s"`, `"> [body] (%d bytes)"`,
  `"< EOF"`, `"> EOF"` — request/status lines (dropped: the request
  line carries the query string);
* `"= connection is %s"`, `"! …"` (handshake refusals) — kept.

`uvicorn.asgi` (trace level only) dumps ASGI scopes with their headers:
all of its records are dropped.

The filter is attached to every logger that records are *created* on
(`WIRE_LOGGERS`; a logger's filters do not see records propagated from
its children) and to uvicorn's handlers, so a record is dropped whichever
way it travels.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Final

# "<" and ">" are websockets' direction markers for what crossed the wire.
_WIRE_PREFIXES: Final = ("< ", "> ")

# The loggers that wire dumps are created on: uvicorn hands its WebSocket
# implementations `uvicorn.error`; websockets' own default loggers are
# `websockets.server` / `websockets.client`; `uvicorn.asgi` dumps ASGI scopes
# and messages (headers included) at trace level.
WIRE_LOGGERS: Final = (
    "uvicorn.error",
    "uvicorn.asgi",
    "websockets",
    "websockets.server",
    "websockets.client",
)


class WireDumpFilter(logging.Filter):
    """Drop records that dump frames, headers or request lines; keep the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.asgi":
            return False  # nothing but scope/message dumps
        msg = record.msg
        if isinstance(msg, str) and msg.startswith(_WIRE_PREFIXES):
            return False
        args: Any = record.args
        values = args.values() if isinstance(args, dict) else (args or ())
        return not any(_is_frame(v) for v in values) and not _is_frame(msg)

    # One instance per logger, however often the configuration is applied
    # (`Filterer.addFilter` skips a filter equal to one already present).
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


def _is_frame(value: object) -> bool:
    # websockets' Frame (any version), without importing websockets here.
    cls = type(value)
    return cls.__name__ == "Frame" and cls.__module__.startswith("websockets")


def install(log_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of uvicorn's `log_config` dict with `WireDumpFilter` everywhere it matters."""
    config = copy.deepcopy(log_config)
    config["filters"] = {**config.get("filters", {}), "roost_no_wire_dumps": {
        "()": f"{__name__}.WireDumpFilter"}}
    config["handlers"] = {
        name: {**handler, "filters": [*handler.get("filters", []), "roost_no_wire_dumps"]}
        for name, handler in config.get("handlers", {}).items()
    }
    loggers = {name: dict(value) for name, value in config.get("loggers", {}).items()}
    for name in WIRE_LOGGERS:
        logger = loggers.setdefault(name, {})
        logger["filters"] = [*logger.get("filters", []), "roost_no_wire_dumps"]
    config["loggers"] = loggers
    return config


def protect_handlers(logger: logging.Logger | None = None) -> None:
    """Add the filter to `logger`'s handlers (default: the root logger's)."""
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(WireDumpFilter())
