"""The chaos proxy itself (tests/support/chaos.py), against a local echo server."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chaos import ChaosProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data.upper())


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[ChaosProxy]:
    with ChaosProxy(echo_port, record=True) as p:
        yield p


def _connect(proxy: ChaosProxy) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    return s


def _roundtrip(s: socket.socket, data: bytes) -> bytes:
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def _closed(s: socket.socket) -> bool:
    """True when the peer closed (EOF or reset) within the socket's timeout."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def _poll(cond: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_recording_by_connection_and_transcript(proxy: ChaosProxy, tmp_path: Path) -> None:
    a = _connect(proxy)
    assert _roundtrip(a, b"first") == b"FIRST"
    b = _connect(proxy)
    assert _roundtrip(b, b"second") == b"SECOND"
    a.close()
    b.close()
    assert proxy.recorded("up", 1) == b"first" and proxy.recorded("down", 2) == b"SECOND"
    text = proxy.dump(tmp_path / "wire.txt").read_text()
    assert "#1 up 5\nfirst\n" in text and "#2 down 6\nSECOND\n" in text


def test_forwards_both_ways_and_counts_connections(proxy: ChaosProxy) -> None:
    a, b = _connect(proxy), _connect(proxy)
    try:
        assert _roundtrip(a, b"hello") == b"HELLO"
        assert _roundtrip(b, b"x" * 200_000) == b"X" * 200_000  # more than one read
        assert proxy.connections == 2 and proxy.accepted == 2
        assert proxy.recorded("up").startswith(b"hello") or b"hello" in proxy.recorded("up")
        assert b"HELLO" in proxy.recorded("down")
    finally:
        a.close()
        b.close()
    assert _poll(lambda: proxy.connections == 0), proxy.connections


@pytest.mark.parametrize("rst", [False, True])
def test_drop_all_cuts_live_connections_and_new_ones_work(
    proxy: ChaosProxy, rst: bool
) -> None:
    a, b = _connect(proxy), _connect(proxy)
    assert _roundtrip(a, b"one") == b"ONE" and _roundtrip(b, b"two") == b"TWO"
    assert proxy.drop_all(rst=rst) == 2
    assert proxy.connections == 0 and proxy.dropped == 2
    assert _closed(a) and _closed(b)
    a.close()
    b.close()
    c = _connect(proxy)
    try:
        assert _roundtrip(c, b"after") == b"AFTER"
        assert proxy.connections == 1
    finally:
        c.close()
    assert proxy.drop_all() == 0 or proxy.connections == 0


def test_freeze_holds_data_until_thaw(proxy: ChaosProxy) -> None:
    s = _connect(proxy)
    try:
        assert _roundtrip(s, b"a") == b"A"
        proxy.freeze()
        s.sendall(b"held")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(10)
        proxy.thaw()
        s.settimeout(5)
        assert s.recv(10) == b"HELD"
    finally:
        s.close()


def test_hold_upstream_from_a_pattern_until_release(proxy: ChaosProxy) -> None:
    s = _connect(proxy)
    try:
        proxy.hold_upstream(b"QUERY")
        assert _roundtrip(s, b"before") == b"BEFORE"
        s.sendall(b"a QUERY here")
        assert proxy.wait_held(5) == b"a QUERY here"
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(100)
        proxy.release()
        s.settimeout(5)
        assert s.recv(100) == b"A QUERY HERE"
    finally:
        s.close()


def test_upstream_down_and_close(echo_port: int) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there
    with ChaosProxy(port) as p:
        s = _connect(p)
        s.settimeout(5)
        assert _closed(s)  # accepted, then closed: the upstream refused
        s.close()
    p = ChaosProxy(echo_port)
    listen_port = p.port
    s = _connect(p)
    p.close()
    s.settimeout(5)
    assert _closed(s)
    s.close()
    p.close()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", listen_port), timeout=1)
