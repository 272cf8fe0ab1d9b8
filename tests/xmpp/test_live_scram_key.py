"""A remembered SCRAM key (`ScramKey`) against a real Prosody: it logs in
without the password, and stops fitting once the password is changed.

The XmppClient's I/O is the blocking driver of test_live_prosody.py.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from roost.xmpp.errors import AuthError
from roost.xmpp.events import Closed, NeedSaltedPassword, Online
from roost.xmpp.sasl import SCRAM_SHA_1, SCRAM_SHA_256, ScramKey, scram_mechanism
from roost.xmpp.xmlparse import parse_xml

from backend.devserver.prosody import PROSODYCTL, ProsodyServer
from tests.conftest import make_prosody
from tests.xmpp.test_live_prosody import Session

pytestmark = pytest.mark.integration


class KeySession(Session):
    """Logs in with a stored key (no password known); records what the server
    asked for. `key=None`: with the password, keeping the derived key."""

    def __init__(self, url: str, jid: str, password: str, key: ScramKey | None = None,
                 **client_kw: Any) -> None:
        self.key = key
        self.derived: ScramKey | None = None
        self.asked: NeedSaltedPassword | None = None
        if key is not None:
            client_kw.setdefault("mechanisms", (key.mechanism,))
        super().__init__(url, jid, password, **client_kw)

    def login(self, timeout: float = 10.0) -> object:
        """Until Online or Closed (returned)."""
        while True:
            text = self.ws.recv(timeout=timeout)
            assert isinstance(text, str)
            events = self.client.receive(parse_xml(text))
            self.flush()
            for event in events:
                if isinstance(event, NeedSaltedPassword):
                    self.asked = event
                    if self.key is None:
                        salted = hashlib.pbkdf2_hmac(event.hash_name, self.password.encode(),
                                                     event.salt, event.iterations)
                        self.derived = ScramKey(scram_mechanism(event.hash_name), event.salt,
                                                event.iterations, salted)
                    elif self.key.fits(event.hash_name, event.salt, event.iterations):
                        salted = self.key.salted_password
                    else:
                        return event  # the caller decides: the key no longer fits
                    events.extend(self.client.provide_salted_password(salted))
                    self.flush()
                if isinstance(event, (Online, Closed)):
                    return event


@pytest.fixture
def hashed_prosody(tmp_path: Path) -> Iterator[ProsodyServer]:
    """Prosody storing SCRAM credentials (`internal_hashed`, its default): one
    salt per password (the fixtures' default too; `internal_plain` makes a
    new salt at every login, so no stored key ever fits there)."""
    server = make_prosody(tmp_path / "prosody", auth="internal_hashed")
    yield server
    server.stop()


def test_a_stored_key_logs_in_until_the_password_changes(hashed_prosody: ProsodyServer) -> None:
    fresh_prosody = hashed_prosody
    url = fresh_prosody.websocket_url
    first = KeySession(url, "alice@localhost", "alice")
    assert isinstance(first.login(), Online)
    key = first.derived
    # Prosody 0.12 keeps SCRAM-SHA-1 credentials only (internal_hashed).
    assert key is not None and key.mechanism == SCRAM_SHA_1
    first.close()
    # The record round-trips through storage's JSON form.
    stored = ScramKey.from_record(key.to_record())

    # No password at all: the key alone logs in (its own mechanism only).
    second = KeySession(url, "alice@localhost", "", key=stored)
    online = second.login()
    assert isinstance(online, Online) and str(online.jid.bare) == "alice@localhost"
    assert second.client.online
    second.close()

    # A key for SCRAM-SHA-256 (not offered here) finds nothing to log in
    # with, and never falls back to PLAIN.
    other = ScramKey(SCRAM_SHA_256, stored.salt, stored.iterations, bytes(32))
    sha256 = KeySession(url, "alice@localhost", "", key=other)
    closed = sha256.login()
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    assert closed.error.condition == "no-usable-mechanism"
    sha256.disconnect()

    # The password is changed elsewhere: Prosody stores a new salt with it.
    subprocess.run([PROSODYCTL, "--config", str(fresh_prosody.config_path), "register",
                    "alice", fresh_prosody.domain, "changed"], check=True, capture_output=True,
                   timeout=30)
    third = KeySession(url, "alice@localhost", "", key=stored)
    asked = third.login()
    assert isinstance(asked, NeedSaltedPassword)
    assert not stored.fits(asked.hash_name, asked.salt, asked.iterations)
    third.disconnect()

    # The old password, which the key was derived from, is refused now.
    forced = KeySession(url, "alice@localhost", "alice")
    closed = forced.login()
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    assert closed.error.condition == "not-authorized"
    forced.disconnect()

    # And the new password gives a new key that works.
    fresh = KeySession(url, "alice@localhost", "changed")
    assert isinstance(fresh.login(), Online)
    assert fresh.derived is not None and fresh.derived.salt != stored.salt
    fresh.close()
