"""XmppClient against a real Prosody over RFC 7395 WebSocket (mod_websocket).

The core stays sans-I/O; this test is its I/O: a blocking `websockets` client,
expat for parsing and hashlib for PBKDF2.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import Any

import pytest
from roost.xmpp.client import XmppClient
from roost.xmpp.events import (
    ChatReceived,
    Closed,
    NeedSaltedPassword,
    Online,
    PresenceChanged,
    RosterLoaded,
)
from roost.xmpp.xmlparse import parse_xml
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.integration


class Session:
    """One blocking driver loop around an XmppClient."""

    def __init__(self, url: str, jid: str, password: str, **client_kw: Any) -> None:
        self.password = password
        self.client = XmppClient(jid, password, False, random_bytes=os.urandom, **client_kw)
        self._connect = connect(url, subprotocols=["xmpp"])  # type: ignore[list-item]
        self.ws: ClientConnection = self._connect.__enter__()
        self.events: list[object] = []
        self.client.start()
        self.flush()

    def flush(self) -> None:
        for frame in self.client.take_output():
            self.ws.send(frame)

    def pump(self, until: type, timeout: float = 10.0) -> object:
        """Receive frames until an event of type `until` shows up; return it."""
        while True:
            for event in self.events:
                if isinstance(event, until):
                    self.events.remove(event)
                    return event
            text = self.ws.recv(timeout=timeout)
            assert isinstance(text, str)
            events = self.client.receive(parse_xml(text))
            self.flush()
            for event in events:
                if isinstance(event, NeedSaltedPassword):
                    salted = hashlib.pbkdf2_hmac(
                        event.hash_name, self.password.encode(), event.salt, event.iterations
                    )
                    events.extend(self.client.provide_salted_password(salted))
                    self.flush()
                elif isinstance(event, Closed) and until is not Closed:
                    raise AssertionError(f"stream closed: {event.error!r}")
            self.events.extend(events)

    def close(self) -> None:
        self.client.close()
        self.flush()
        try:
            self.pump(Closed, timeout=5)
        finally:
            self.disconnect()

    def disconnect(self) -> None:
        self._connect.__exit__(None, None, None)

    def kill(self) -> None:
        """Drop the TCP connection without any WebSocket or XMPP goodbye."""
        self.ws.socket.shutdown(socket.SHUT_RDWR)
        self.ws.socket.close()


def test_login_roster_and_chat(prosody) -> None:  # type: ignore[no-untyped-def]
    url = prosody.websocket_url
    alice = Session(url, "alice@localhost", "alice")
    online = alice.pump(Online)
    assert isinstance(online, Online) and str(online.jid.bare) == "alice@localhost"
    roster = alice.pump(RosterLoaded)
    assert isinstance(roster, RosterLoaded)
    names = {str(i.jid): (i.name, i.subscription) for i in roster.items}
    assert names["bob@localhost"] == ("Bob", "both")

    bob = Session(url, "bob@localhost", "bob")
    bob.pump(Online)
    # alice sees bob come online (mutual subscription from the seeded roster).
    while True:
        presence = alice.pump(PresenceChanged)
        assert isinstance(presence, PresenceChanged)
        if presence.jid.bare == bob.client.jid.bare and presence.available:
            break

    msg_id = alice.client.send_chat(bob.client.jid.bare, "Hello <Bob> & co")
    alice.flush()
    received = bob.pump(ChatReceived)
    # Skip messages left for bob by earlier tests: offline storage, or (XEP-0198)
    # queued in a session a closed browser page left hibernating.
    while isinstance(received, ChatReceived) and received.message.from_jid != alice.client.jid:
        received = bob.pump(ChatReceived)
    assert isinstance(received, ChatReceived)
    assert received.message.body == "Hello <Bob> & co"
    assert received.message.id == msg_id
    assert received.message.from_jid == alice.client.jid
    alice.close()
    bob.close()


def test_wrong_password_is_an_auth_error(prosody) -> None:  # type: ignore[no-untyped-def]
    session = Session(prosody.websocket_url, "alice@localhost", "not-her-password")
    closed = session.pump(Closed)
    assert isinstance(closed, Closed) and closed.error is not None
    assert closed.error.user_message == "Wrong address or password."
    session.disconnect()
