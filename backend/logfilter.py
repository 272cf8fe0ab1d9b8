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

The push gateway (backend/push/) adds two more sources:

* slixmpp (the XMPP component) logs every stanza at debug (`"SEND: %s"`,
  `"RECV: %s"`) and dumps unparsable or unsent data at other levels — a push
  publication carries the component's node secret and possibly a message
  body: those records are dropped;
* httpx logs every request URL at info (`'HTTP Request: %s %s …'`): a push
  endpoint's URL is a bearer capability — dropped, as is httpcore's debug
  trace (it shows response headers).

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
    "slixmpp.xmlstream.xmlstream",
    "slixmpp.xmlstream.stanzabase",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
)
# slixmpp's messages that carry stanzas or raw stream data.
_SLIXMPP_DUMPS: Final = (
    "SEND:", "RECV:", "NOT SENT:", "Discarded stanza", "Parse error", "Unable to parse",
    "Received data before", "Tried to send stanza",
)


class WireDumpFilter(logging.Filter):
    """Drop records that dump frames, headers or request lines; keep the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.asgi" or record.name.startswith("httpcore"):
            return False  # nothing but scope/message dumps, or HTTP traces
        msg = record.msg
        if record.name.startswith("slixmpp") and isinstance(msg, str) and msg.startswith(
                _SLIXMPP_DUMPS):
            return False
        if record.name == "httpx" and isinstance(msg, str) and msg.startswith("HTTP Request"):
            return False
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
