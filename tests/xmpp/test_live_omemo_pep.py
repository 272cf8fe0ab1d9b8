"""OMEMO's PEP nodes (XEP-0384, `xeps/xep_0384`) on a real Prosody over
mod_websocket: device lists and bundles published with open access are
readable by an account that is in nobody's roster ("stranger"); a second
publish to an existing node works; a node made with another access model
fails the publish with precondition-not-met and is fixed by the node
configuration builder; a contact with our caps gets the notification and
`devicelist_event` believes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from roost.xmpp.element import Element
from roost.xmpp.events import IqFailed, IqResult, Online, RosterLoaded
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0384
from roost.xmpp.xeps.xep_0384 import Device, LegacyBundle, Omemo2Bundle
from roost.xmpp.xmlparse import parse_xml

from backend.devserver.prosody import ProsodyServer
from tests.xmpp.test_live_prosody import Session

pytestmark = pytest.mark.integration


class _Tap:
    """The WebSocket, keeping a parsed copy of every frame received."""

    def __init__(self, ws: Any, into: list[Element]) -> None:
        self._ws = ws
        self._into = into

    def recv(self, timeout: float | None = None) -> Any:
        text = self._ws.recv(timeout=timeout)
        if isinstance(text, str):
            self._into.append(parse_xml(text))
        return text

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


class Recording(Session):
    """A Session that also keeps every stanza the server sent (raw)."""

    def __init__(self, url: str, jid: str, password: str, **kw: Any) -> None:
        self.received: list[Element] = []
        super().__init__(url, jid, password, **kw)
        self.ws = _Tap(self.ws, self.received)  # type: ignore[assignment]

    def ask(self, iq_type: str, payload: Element, to: str | None = None) -> IqResult | IqFailed:
        """Send an iq and wait for its answer (result or error)."""
        query_id = self.client.request(iq_type, payload, to)
        self.flush()
        while True:
            answer = self.pump((IqResult, IqFailed))  # type: ignore[arg-type]
            assert isinstance(answer, IqResult | IqFailed)
            if answer.query_id == query_id:
                return answer

    def raw_answer(self, answer: IqResult | IqFailed) -> Element:
        """The stanza behind `answer` (to read what the event doesn't carry)."""
        for element in reversed(self.received):
            if element.name == "iq" and element.get("id") == answer.query_id:
                return element
        raise AssertionError("no iq answer seen")


def online(url: str, user: str, **kw: Any) -> Recording:
    session = Recording(url, f"{user}@localhost", user, **kw)
    session.pump(Online)
    session.pump(RosterLoaded)
    return session


@pytest.fixture
def server(fresh_prosody: ProsodyServer) -> Iterator[ProsodyServer]:
    # A server of its own: these tests create and reconfigure nodes.
    yield fresh_prosody


def bundle(seed: int) -> LegacyBundle:
    return LegacyBundle(
        b"\x05" + bytes([seed]) * 32,
        seed,
        b"\x05" + bytes([seed + 1]) * 32,
        bytes([seed + 2]) * 64,
        [(i, b"\x05" + bytes([i]) * 32) for i in range(1, 4)],
    )


def test_open_access_device_list_and_bundle(server: ProsodyServer) -> None:
    alice = online(server.websocket_url, "alice")
    stranger = online(server.websocket_url, "stranger")

    first = alice.ask("set", xep_0384.build_devicelist_publish([Device(1111)]))
    assert isinstance(first, IqResult), first
    published = alice.ask("set", xep_0384.build_bundle_publish(1111, bundle(7)))
    assert isinstance(published, IqResult), published

    # Stranger: not in alice's roster, so only an open node is readable.
    got = stranger.ask("get", xep_0384.build_devicelist_fetch(), "alice@localhost")
    assert isinstance(got, IqResult), got
    assert xep_0384.parse_devicelist_items(got.iq) == [Device(1111)]
    got = stranger.ask("get", xep_0384.build_bundle_fetch(1111), "alice@localhost")
    assert isinstance(got, IqResult), got
    assert xep_0384.parse_bundle_items(got.iq, 1111) == bundle(7)

    # Publishing again to the existing nodes (same options) works.
    again = alice.ask("set", xep_0384.build_devicelist_publish([Device(1111), Device(2222)]))
    assert isinstance(again, IqResult), again
    again = alice.ask("set", xep_0384.build_bundle_publish(1111, bundle(9)))
    assert isinstance(again, IqResult), again
    got = stranger.ask("get", xep_0384.build_devicelist_fetch(), "alice@localhost")
    assert isinstance(got, IqResult)
    assert xep_0384.parse_devicelist_items(got.iq) == [Device(1111), Device(2222)]
    got = stranger.ask("get", xep_0384.build_bundle_fetch(1111), "alice@localhost")
    assert isinstance(got, IqResult)
    assert xep_0384.parse_bundle_items(got.iq, 1111) == bundle(9)

    # Our own list, fetched with no `to`.
    own = alice.ask("get", xep_0384.build_devicelist_fetch())
    assert isinstance(own, IqResult)
    assert xep_0384.parse_devicelist_items(own.iq) == [Device(1111), Device(2222)]
    # No such node: Prosody 0.12 tells a stranger "forbidden" (it doesn't
    # reveal which nodes exist), the owner "item-not-found". Both mean "no
    # OMEMO there" to the app, not a failure to show.
    missing = stranger.ask("get", xep_0384.build_bundle_fetch(3333), "alice@localhost")
    assert isinstance(missing, IqFailed) and missing.condition == "forbidden"
    missing = stranger.ask("get", xep_0384.build_devicelist_fetch(), "dave@localhost")
    assert isinstance(missing, IqFailed) and missing.condition == "forbidden"
    missing = alice.ask("get", xep_0384.build_bundle_fetch(3333))
    assert isinstance(missing, IqFailed) and missing.condition == "item-not-found"
    alice.close()
    stranger.close()


def test_precondition_not_met_is_fixed_by_configuring_the_node(server: ProsodyServer) -> None:
    alice = online(server.websocket_url, "alice")
    stranger = online(server.websocket_url, "stranger")
    # A node another client made with Prosody's default access model
    # (presence): a publish without publish-options.
    plain = xep_0384.build_devicelist_publish([Device(5)])
    plain.children = [c for c in plain.children if c.name != "publish-options"]
    made = alice.ask("set", plain)
    assert isinstance(made, IqResult), made
    denied = stranger.ask("get", xep_0384.build_devicelist_fetch(), "alice@localhost")
    assert isinstance(denied, IqFailed), denied

    failed = alice.ask("set", xep_0384.build_devicelist_publish([Device(5), Device(6)]))
    assert isinstance(failed, IqFailed), failed
    # Prosody 0.12: <conflict/> plus pubsub#errors <precondition-not-met/>;
    # the IqFailed condition is the RFC 6120 one.
    assert failed.condition == "conflict"
    assert xep_0384.is_precondition_not_met(alice.raw_answer(failed))

    configured = alice.ask("set", xep_0384.build_node_config(xep_0384.DEVICELIST_NODE))
    assert isinstance(configured, IqResult), configured
    retried = alice.ask("set", xep_0384.build_devicelist_publish([Device(5), Device(6)]))
    assert isinstance(retried, IqResult), retried
    got = stranger.ask("get", xep_0384.build_devicelist_fetch(), "alice@localhost")
    assert isinstance(got, IqResult), got
    assert xep_0384.parse_devicelist_items(got.iq) == [Device(5), Device(6)]
    alice.close()
    stranger.close()


def test_contact_gets_the_notification(server: ProsodyServer) -> None:
    # bob has alice in his roster (both ways); caps=True: his presence says
    # +notify for the legacy device list (xep_0115.FEATURES), so Prosody
    # sends him alice's changes.
    bob = online(server.websocket_url, "bob", caps=True)
    alice = online(server.websocket_url, "alice", caps=True)
    # A contact asking for a node that doesn't exist (yet): item-not-found.
    missing = bob.ask("get", xep_0384.build_devicelist_fetch(), "alice@localhost")
    assert isinstance(missing, IqFailed), missing
    assert missing.condition == "item-not-found"
    published = alice.ask("set", xep_0384.build_devicelist_publish([Device(4242)]))
    assert isinstance(published, IqResult), published

    alice_jid = JID.parse("alice@localhost")
    own = bob.client.jid
    for _ in range(20):
        for element in bob.received:
            found = None
            if element.name == "message":
                found = xep_0384.devicelist_event(element, own)
            if found is not None and found[1] == [Device(4242)]:
                assert found == (alice_jid, [Device(4242)])
                assert element.get("from") == "alice@localhost"
                alice.close()
                bob.close()
                return
        # Any answer from the server: frames sent before it have arrived.
        answer = bob.ask("get", xep_0384.build_devicelist_fetch(), "alice@localhost")
        assert isinstance(answer, IqResult)
    raise AssertionError("no device-list notification reached bob")


def test_omemo2_nodes_are_open(server: ProsodyServer) -> None:
    alice = online(server.websocket_url, "alice")
    stranger = online(server.websocket_url, "stranger")
    keys = Omemo2Bundle(b"i" * 32, 1, b"s" * 32, b"g" * 64, [(1, b"p" * 32)])
    for payload in (
        xep_0384.build_omemo2_devices_publish([Device(77, "Web")]),
        xep_0384.build_omemo2_bundle_publish(77, keys),
        xep_0384.build_omemo2_bundle_publish(78, keys),  # a second item in the same node
    ):
        answer = alice.ask("set", payload)
        assert isinstance(answer, IqResult), answer
    got = stranger.ask("get", xep_0384.build_omemo2_devices_fetch(), "alice@localhost")
    assert isinstance(got, IqResult), got
    assert xep_0384.parse_omemo2_devices_items(got.iq) == [Device(77, "Web")]
    for device_id in (77, 78):
        got = stranger.ask("get", xep_0384.build_omemo2_bundle_fetch(device_id),
                           "alice@localhost")
        assert isinstance(got, IqResult), got
        assert xep_0384.parse_omemo2_bundle_items(got.iq, device_id) == keys
    alice.close()
    stranger.close()
