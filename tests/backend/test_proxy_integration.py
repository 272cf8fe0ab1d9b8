"""The WebSocket proxy end to end: real uvicorn, real Prosody, real WebSocket client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from backend.devserver.prosody import ProsodyServer
from tests.backend.conftest import (
    CLIENT,
    FRAMING,
    STREAMS,
    Pki,
    RunningProxy,
    XmppWs,
    tag,
    ws_connect,
)
from tests.conftest import make_prosody
from tests.support.aio import run as run_coro
from tests.support.threaded_peer import ThreadedPeer

pytestmark = pytest.mark.integration

MAX = 20000  # a small stanza limit keeps the oversized-frame tests quick


def loopback_raw(prosody: ProsodyServer, **websocket: Any) -> dict[str, Any]:
    return {
        "xmpp": {"servers": [
            {"domain": "localhost", "host": "127.0.0.1", "port": prosody.c2s_port, "tls": "none"},
        ]},
        "websocket": {"max_stanza_size": MAX, "connect_timeout": 5, **websocket},
    }


@pytest.fixture
def proxy(prosody: ProsodyServer, make_proxy: Any) -> RunningProxy:
    p: RunningProxy = make_proxy(loopback_raw(prosody))
    return p


def run(coro: Any) -> Any:
    return run_coro(asyncio.wait_for(coro, 30))


def test_login_and_chat_through_the_proxy(prosody: ProsodyServer, proxy: RunningProxy) -> None:
    bob = ThreadedPeer("bob@localhost/slix", "bob", prosody.c2s_port)
    try:
        async def scenario() -> None:
            async with ws_connect(proxy) as ws:
                assert ws.subprotocol == "xmpp"
                client = XmppWs(ws)
                jid = await client.login("alice", "alice", "proxytest")
                assert jid == "alice@localhost/proxytest"
                await client.send(f'<presence xmlns="{CLIENT}"/>')
                await client.send(
                    f'<message xmlns="{CLIENT}" to="bob@localhost" type="chat" id="m1">'
                    "<body>hello &lt;bob&gt; &amp; co</body></message>"
                )
                sender, body = await asyncio.to_thread(bob.wait_message)
                assert (sender, body) == ("alice@localhost", "hello <bob> & co")
                bob.send(jid, "hi alice")
                while True:
                    msg = await client.recv_until(tag(CLIENT, "message"))
                    if msg.findtext(tag(CLIENT, "body")) == "hi alice":
                        break
                assert msg.get("from", "").startswith("bob@localhost/")
                # A clean close both ways: <close/> → </stream:stream> → <close/>.
                await client.send(f'<close xmlns="{FRAMING}"/>')
                closing = await client.recv_until(tag(FRAMING, "close"))
                assert closing is not None
                await asyncio.wait_for(ws.wait_closed(), 5)

        run(scenario())
    finally:
        bob.stop()
    assert proxy.connector.calls == ["localhost"]


@pytest.mark.parametrize(
    "origin",
    [None, "null", "http://evil.example", "http://localhost.evil.example",
     "http://localhost:1", "https://localhost", "http://localhost:{port}/path"],
)
def test_origin_refused_with_403(proxy: RunningProxy, origin: str | None) -> None:
    if origin is not None:
        origin = origin.replace("{port}", str(proxy.port))

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(proxy, origin=origin):
                pass
        assert info.value.response.status_code == 403

    run(scenario())
    assert proxy.connector.calls == []


def test_too_many_sessions_from_one_address_get_403(
    prosody: ProsodyServer, make_proxy: Any
) -> None:
    proxy: RunningProxy = make_proxy(loopback_raw(prosody, max_sessions_per_ip=1))

    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            await XmppWs(ws).open()
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(proxy):
                    pass
            assert info.value.response.status_code == 403
        # Once the first session has ended (the server finishes it just after
        # the close handshake), there is room again.
        for _ in range(50):
            try:
                async with ws_connect(proxy) as ws:
                    await XmppWs(ws).open()
                    return
            except InvalidStatus:
                await asyncio.sleep(0.05)
        pytest.fail("the ended session still counts")

    run(scenario())
    assert proxy.connector.calls == ["localhost", "localhost"]


def test_unauthenticated_stream_times_out(prosody: ProsodyServer, make_proxy: Any) -> None:
    proxy: RunningProxy = make_proxy(loopback_raw(prosody, auth_timeout=0.3))

    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            client = XmppWs(ws)
            await client.open()
            await client.expect_stream_error("policy-violation")

    run(scenario())


def test_allowed_origins_both_loopback_names(proxy: RunningProxy) -> None:
    async def scenario() -> None:
        for origin in (f"http://localhost:{proxy.port}", f"http://127.0.0.1:{proxy.port}"):
            async with ws_connect(proxy, origin=origin) as ws:
                await XmppWs(ws).open()

    run(scenario())


@pytest.mark.parametrize("subprotocols", [[], ["chat"]])
def test_missing_subprotocol_refused(proxy: RunningProxy, subprotocols: list[str]) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(proxy, subprotocols=subprotocols):
                pass
        assert info.value.response.status_code == 403

    run(scenario())


def test_unconfigured_domain_is_host_unknown_without_connecting(proxy: RunningProxy) -> None:
    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            client = XmppWs(ws)
            await client.send(f'<open xmlns="{FRAMING}" to="evil.example" version="1.0"/>')
            await client.expect_stream_error("host-unknown")

    run(scenario())
    assert proxy.connector.calls == []


GARBAGE = [
    ("<foo", "not-well-formed"),
    ('<!DOCTYPE x [<!ENTITY a "b">]><message xmlns="jabber:client"/>', "restricted-xml"),
    ('<!-- hi --><message xmlns="jabber:client"/>', "restricted-xml"),
    ('<?evil x?><message xmlns="jabber:client"/>', "restricted-xml"),
    ('<message xmlns="jabber:client"><body>&lol;</body></message>', "restricted-xml"),
    ('<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>', "policy-violation"),
    ("x" * (MAX + 1), "policy-violation"),
    (f'<message xmlns="jabber:client"><body>{"a" * MAX}</body></message>', "policy-violation"),
]


@pytest.mark.parametrize(("frame", "condition"), GARBAGE, ids=[c for _, c in GARBAGE])
def test_garbage_ends_only_that_stream(
    proxy: RunningProxy, frame: str, condition: str
) -> None:
    async def scenario() -> None:
        async with ws_connect(proxy) as good_ws:
            good = XmppWs(good_ws)
            await good.login("carol", "carol", f"garbage-{condition}")
            async with ws_connect(proxy) as bad_ws:
                bad = XmppWs(bad_ws)
                await bad.open()
                await bad.send(frame)
                await bad.expect_stream_error(condition)
            await good.ping()

    run(scenario())


def test_oversized_frame_beyond_websocket_limit_still_closes(proxy: RunningProxy) -> None:
    """Above uvicorn's own limit the socket is dropped; other sessions continue."""
    async def scenario() -> None:
        async with ws_connect(proxy) as good_ws:
            good = XmppWs(good_ws)
            await good.login("carol", "carol", "huge")
            async with ws_connect(proxy) as bad_ws:
                await XmppWs(bad_ws).open()
                await bad_ws.send("x" * (MAX + 200_000))
                await asyncio.wait_for(bad_ws.wait_closed(), 10)
            await good.ping()

    run(scenario())


def test_healthz_over_real_server(proxy: RunningProxy) -> None:
    import httpx

    response = httpx.get(f"http://127.0.0.1:{proxy.port}/healthz", trust_env=False)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# -- STARTTLS / direct TLS with certificate verification --------------------


@pytest.fixture(scope="module")
def tls_prosody(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Any:
    from backend.devserver.prosody import free_port

    server = make_prosody(
        tmp_path_factory.mktemp("tls-prosody"), tls_cert=pki.cert, tls_key=pki.key,
        c2s_direct_tls_port=free_port(),
    )
    yield server
    server.stop()


def tls_raw(server: ProsodyServer, ca: Path, mode: str = "starttls") -> dict[str, Any]:
    port = server.c2s_port if mode == "starttls" else server.c2s_direct_tls_port
    return {
        "xmpp": {"servers": [{"domain": "localhost", "host": "127.0.0.1", "port": port,
                              "tls": mode, "ca_file": str(ca)}]},
        "websocket": {"connect_timeout": 5},
    }


@pytest.mark.parametrize("mode", ["starttls", "direct"])
def test_tls_with_private_ca_logs_in(
    tls_prosody: ProsodyServer, pki: Pki, make_proxy: Any, mode: str
) -> None:
    proxy: RunningProxy = make_proxy(tls_raw(tls_prosody, pki.ca, mode))

    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            client = XmppWs(ws)
            features = await client.open()
            # The browser never sees STARTTLS: the proxy already did it.
            assert features.find(tag("urn:ietf:params:xml:ns:xmpp-tls", "starttls")) is None
            await client.send(f'<close xmlns="{FRAMING}"/>')
            await client.recv_until(tag(FRAMING, "close"))
        async with ws_connect(proxy) as ws:
            assert await XmppWs(ws).login("dave", "dave", f"tls-{mode}") == \
                f"dave@localhost/tls-{mode}"

    run(scenario())


@pytest.mark.parametrize("mode", ["starttls", "direct"])
def test_tls_with_wrong_ca_is_refused(
    tls_prosody: ProsodyServer, pki: Pki, make_proxy: Any, mode: str
) -> None:
    proxy: RunningProxy = make_proxy(tls_raw(tls_prosody, pki.other_ca, mode))

    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            client = XmppWs(ws)
            await client.send(f'<open xmlns="{FRAMING}" to="localhost" version="1.0"/>')
            error = await client.expect_stream_error("remote-connection-failed")
            text = error.findtext(tag("urn:ietf:params:xml:ns:xmpp-streams", "text")) or ""
            assert "certificate" in text

    run(scenario())


def test_starttls_required_but_not_offered(prosody: ProsodyServer, make_proxy: Any,
                                           pki: Pki) -> None:
    """The plaintext Prosody has no mod_tls: a starttls config must fail clearly."""
    proxy: RunningProxy = make_proxy(tls_raw(prosody, pki.ca, "starttls"))

    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            client = XmppWs(ws)
            await client.send(f'<open xmlns="{FRAMING}" to="localhost" version="1.0"/>')
            error = await client.expect_stream_error("remote-connection-failed")
            text = error.findtext(tag("urn:ietf:params:xml:ns:xmpp-streams", "text")) or ""
            assert "STARTTLS" in text

    run(scenario())


def test_server_stream_error_is_forwarded(prosody: ProsodyServer, proxy: RunningProxy) -> None:
    """A stream error from Prosody itself reaches the browser as a frame, then <close/>."""
    async def scenario() -> None:
        async with ws_connect(proxy) as ws:
            client = XmppWs(ws)
            await client.open()
            # Prosody answers an unknown top-level element with a stream error.
            await client.send('<foo xmlns="urn:example:unknown"/>')
            error = await client.recv()
            assert error.tag == tag(STREAMS, "error")
            await client.recv_until(tag(FRAMING, "close"))
            await asyncio.wait_for(ws.wait_closed(), 10)

    run(scenario())
