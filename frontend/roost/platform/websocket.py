"""XMPP over WebSocket (RFC 7395) through `window.WebSocket`."""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

from roost.xmpp.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SUBPROTOCOL = "xmpp"


def resolve_url(url: str) -> str:
    """Absolute ws(s) URL for `url`; relative paths resolve against the page.

    `/xmpp-websocket` on https://chat.example.org becomes
    wss://chat.example.org/xmpp-websocket; http(s) URLs become ws(s).
    """
    if url.startswith("ws://") or url.startswith("wss://"):
        return url
    absolute = str(window.URL.new(url, window.location.href).href)
    if absolute.startswith("https:"):
        return "wss:" + absolute[len("https:") :]
    if absolute.startswith("http:"):
        return "ws:" + absolute[len("http:") :]
    return absolute


# Frames handled per task before the rest waits for the next (milliseconds).
DRAIN_BUDGET_MS = 40.0


class Connection:
    """One WebSocket. Callbacks: `on_open()`, `on_frame(text)`, `on_close(error)`.

    `on_close` is called exactly once, with None after a clean close (code
    1000, or `close()` called by us) and a `NetworkError` otherwise
    (`opened` tells a failed connect from a lost connection).
    """

    __slots__ = (
        "_closed",
        "_closing",
        "_draining",
        "_on_close",
        "_on_frame",
        "_on_open",
        "_opened",
        "_queue",
        "_ws",
    )

    def __init__(
        self,
        url: str,
        on_open: Callable[[], None],
        on_frame: Callable[[str], None],
        on_close: Callable[[NetworkError | None], None],
    ) -> None:
        self._on_open = on_open
        self._on_frame = on_frame
        self._on_close = on_close
        self._opened = False
        self._closing = False
        self._closed = False
        # Frames are queued and handed over in batches, one task per batch:
        # during a burst the browser queues one task per frame, and handling
        # them together lets the app and the UI do their per-task work
        # (rendering, storage) once per batch instead of once per frame.
        self._queue: list[str] = []
        self._draining = False
        try:
            ws = window.WebSocket.new(resolve_url(url), SUBPROTOCOL)
        except Exception as exc:  # bad URL, blocked port: report like a failed connect
            self._ws = None
            error = NetworkError(False, str(exc))
            window.setTimeout(lambda: self._finish(error), 0)
            return
        self._ws = ws
        ws.onopen = self._handle_open
        ws.onmessage = self._handle_message
        ws.onclose = self._handle_close

    @property
    def protocol(self) -> str:
        return "" if self._ws is None else str(self._ws.protocol)

    def send(self, text: str) -> None:
        # readyState 1 = OPEN: once the peer started closing (frames before the
        # close are still being handled), a reply can't go out; sending would
        # only log "WebSocket is already in CLOSING or CLOSED state".
        ws = self._ws
        if ws is not None and self._opened and not self._closed and ws.readyState == 1:
            ws.send(text)

    def close(self) -> None:
        """Close the socket; `on_close(None)` follows."""
        if self._closed or self._closing:
            return
        self._closing = True
        if self._ws is not None:
            self._ws.close(1000)

    def _handle_open(self, _ev: object) -> None:
        ws = self._ws
        if ws is not None and str(ws.protocol) != SUBPROTOCOL:
            # RFC 7395 §3.2: a server that did not agree to "xmpp" is not an XMPP endpoint.
            self._opened = True
            ws.close(1002)
            self._finish(NetworkError(True, "server did not accept the xmpp subprotocol"))
            return
        self._opened = True
        self._on_open()

    def _handle_message(self, ev: object) -> None:
        if self._closed:
            return
        data = ev.data  # type: ignore[attr-defined]
        if isinstance(data, str):
            self._queue.append(data)
            if not self._draining:
                self._draining = True
                window.setTimeout(self._drain, 0)

    def _drain(self, budget_ms: float = DRAIN_BUDGET_MS) -> None:
        """Hand the queued frames to `on_frame`, in order; after `budget_ms`
        of this task the rest waits for the next one (input and painting go
        in between: an archive catch-up is thousands of frames)."""
        self._draining = False
        queue, self._queue = self._queue, []
        start = window.performance.now()
        for i, frame in enumerate(queue):
            if self._closed:
                return
            try:
                self._on_frame(frame)
            except BaseException:
                # Keep the rest for the next task, as if each frame had its own.
                self._requeue(queue[i + 1 :])
                raise
            if window.performance.now() - start > budget_ms:
                self._requeue(queue[i + 1 :])
                return

    def _requeue(self, rest: list[str]) -> None:
        if rest:
            self._queue[:0] = rest
            if not self._draining:
                self._draining = True
                window.setTimeout(self._drain, 0)

    def _handle_close(self, ev: object) -> None:
        self._drain(float("inf"))  # frames received before the close come first
        code = int(ev.code)  # type: ignore[attr-defined]
        if self._closing or code == 1000:
            self._finish(None)
        else:
            reason = str(ev.reason or "")  # type: ignore[attr-defined]
            self._finish(NetworkError(self._opened, f"websocket closed: {code} {reason}"))

    def _finish(self, error: NetworkError | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._ws is not None:
            self._ws.onopen = self._ws.onmessage = self._ws.onclose = None
        self._on_close(error)
