"""The remembered login of a trusted device: start without a password, start
offline with the outbox, and what happens when the key stops working.

Real ChatApp, XmppClient, SCRAM and message store over the fake platform and
scripted server (tests/app/fakes.py); the server checks the SCRAM proof.
"""

from __future__ import annotations

import base64
import hashlib

from roost.app import ChatApp
from roost.app.chat import KEY_REJECTED_MESSAGE, OFFLINE_MESSAGE, PLAIN_ONLY_NOTICE
from roost.xmpp.element import Element
from roost.xmpp.sasl import ScramKey

from tests.app.fakes import (
    ALICE,
    BOB,
    SASL,
    FakePlatform,
    FakeServer,
    Recorder,
    bodies,
    logged_in,
    setup,
)
from tests.xmpp.support import ScramServer, b64


def reload(platform: FakePlatform) -> tuple[ChatApp, Recorder]:
    """A new page on the same device: IndexedDB and the remembered login stay."""
    platform.reload()
    app = ChatApp(platform)
    return app, Recorder(app)


def sent_chats(server: FakeServer) -> list[str]:
    return [
        e.find_text("body") or ""
        for e in server.received
        if e.name == "message" and e.find("body") is not None
    ]


def test_trusted_login_remembers_the_scram_key_never_the_password() -> None:
    _server, platform, app, _rec = logged_in(trusted=True)
    record = platform.remembered
    assert record is not None and app.remembered
    assert record["account"] == ALICE and record["mechanism"] == "SCRAM-SHA-256"
    assert record["iterations"] == 4096
    salt = base64.b64decode(str(record["salt"]))
    expected = hashlib.pbkdf2_hmac("sha256", b"s3cret", salt, 4096)
    assert base64.b64decode(str(record["salted_password"])) == expected
    assert "s3cret" not in repr(record)
    assert ScramKey.from_record(record).salted_password == expected


def test_untrusted_login_remembers_nothing() -> None:
    _server, platform, app, _rec = logged_in(trusted=False)
    app.logout()
    platform.run()
    assert platform.remember_log == [] and platform.remembered is None
    assert not app.remembered


def test_reload_logs_in_with_the_key_and_shows_stored_data_first() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    app.send_message(BOB, "before the reload")
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/phone">'
        "<body>hi there</body></message>"
    )
    platform.run()
    app.flush_storage()
    platform.run()
    derivations = platform.pbkdf2_calls

    app2, rec2 = reload(platform)
    assert app2.start_remembered(platform.remembered)
    # Before any network answer: the session shows as reconnecting, the own
    # address is known, and the stored data loads.
    assert app2.state == "reconnecting" and app2.own_jid == ALICE and app2.trusted
    platform.run()
    assert app2.state == "online"
    assert platform.pbkdf2_calls == derivations  # the key, no PBKDF2
    assert app2.conversation_list() == [BOB] and app2.preview(BOB) == "hi there"
    states = [s for s, _m in rec2.states()]
    assert "error" not in states and "offline" not in states and "connecting" not in states
    app2.open_chat(BOB)
    platform.run()
    assert bodies(app2, BOB) == ["before the reload", "hi there"]


def test_offline_start_queues_messages_until_the_network_is_back() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    app2, rec2 = reload(platform)
    connections = len(platform.connections)
    app2.set_network(False)
    assert app2.start_remembered(platform.remembered)
    platform.run()
    assert rec2.states()[-1] == ("reconnecting", OFFLINE_MESSAGE)
    assert len(platform.connections) == connections  # no attempt without a network
    assert sorted(app2.contacts) == sorted(app.contacts)  # the stored roster
    m = app2.send_message(BOB, "written offline")
    assert m is not None and m.state == "queued"
    platform.advance(600)
    assert len(platform.connections) == connections
    app2.set_network(True)
    platform.run()
    assert app2.state == "online"
    assert rec2.states()[-1] == ("online", "")
    assert ("reconnecting", "Reconnecting…") in rec2.states()
    assert "written offline" in sent_chats(server)
    assert m.state in ("sent", "server")


def test_going_offline_in_a_session_says_so() -> None:
    _server, platform, app, rec = logged_in(trusted=True, sm=True)
    app.set_network(False)
    assert rec.states()[-1] == ("reconnecting", OFFLINE_MESSAGE)
    app.set_network(True)
    platform.run()
    assert app.state == "online"


def test_changed_password_forgets_the_key_and_asks_for_it() -> None:
    server, platform, _app, _rec = logged_in(trusted=True)
    server.users["alice"] = "changed elsewhere"
    app2, rec2 = reload(platform)
    assert app2.start_remembered(platform.remembered)
    platform.run()
    assert rec2.states()[-1] == ("offline", KEY_REJECTED_MESSAGE)
    assert app2.login_address == ALICE and not app2.remembered
    assert platform.remembered is None and platform.remember_log[-1] is None
    # No retry loop with a key that doesn't work.
    connections = len(platform.connections)
    platform.advance(600)
    assert len(platform.connections) == connections and not app2.can_retry
    # The password login then works, and is remembered again.
    app2.login(ALICE, "changed elsewhere", True)
    platform.run()
    assert app2.state == "online" and platform.remembered is not None


class SaltedServer(FakeServer):
    """A server whose SCRAM salt can change (as on a password change)."""

    salt = b"roost-test-salt!"

    def _sasl(self, element: Element) -> None:
        if element.name == "auth":
            data = base64.b64decode(element.text or "")
            self.user = data.split(b",")[2][2:].decode()
            self._scram = ScramServer(self.user, self.users[self.user], salt=self.salt)
            self.send(f'<challenge xmlns="{SASL}">{b64(self._scram.first(data))}</challenge>')
            return
        super()._sasl(element)


def test_a_new_salt_forgets_the_key_without_sending_a_proof() -> None:
    server = SaltedServer({"alice": "s3cret", "bob": "b"}, {"alice": [BOB]})
    platform = FakePlatform(server)
    app = ChatApp(platform)
    app.login("alice", "s3cret", True)
    platform.run()
    assert app.state == "online" and platform.remembered is not None
    server.salt = b"a-brand-new-salt"
    app2, rec2 = reload(platform)
    app2.start_remembered(platform.remembered)
    platform.run()
    assert rec2.states()[-1] == ("offline", KEY_REJECTED_MESSAGE)
    last = platform.connections[-1].sent
    assert not any("<response" in frame for frame in last)
    assert platform.remembered is None


class PlainServer(FakeServer):
    """Offers PLAIN only (allowed by Roost on TLS or loopback)."""

    def send(self, frame: str) -> None:
        if "<mechanisms" in frame:
            frame = frame.replace(
                "<mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism>",
                "<mechanism>PLAIN</mechanism>",
            )
        super().send(frame)

    def _sasl(self, element: Element) -> None:
        assert element.get("mechanism") == "PLAIN"
        _authz, user, password = base64.b64decode(element.text or "").split(b"\x00")
        self.user = user.decode()
        if self.users.get(self.user) != password.decode():
            self.send(f'<failure xmlns="{SASL}"><not-authorized/></failure>')
            return
        self._authed = True
        self.send(f'<success xmlns="{SASL}"/>')


def test_plain_only_server_is_not_remembered_and_says_so() -> None:
    server = PlainServer({"alice": "s3cret"}, {"alice": []})
    platform = FakePlatform(server)
    app = ChatApp(platform)
    rec = Recorder(app)
    app.login("alice", "s3cret", True)
    platform.run()
    assert app.state == "online", rec.events
    assert platform.remembered is None and not app.remembered
    assert ("notice", PLAIN_ONLY_NOTICE) in rec.events


def test_a_remembered_key_never_falls_back_to_plain() -> None:
    _server, platform, _app, _rec = logged_in(trusted=True)
    record = platform.remembered
    plain = PlainServer({"alice": "s3cret"}, {"alice": []})
    platform.server = plain
    app2, rec2 = reload(platform)
    app2.start_remembered(record)
    platform.run()
    assert rec2.states()[-1] == ("offline", KEY_REJECTED_MESSAGE)
    auths = [e for e in plain.received if e.name == "auth"]
    assert auths == []


def test_logout_forgets_the_remembered_login() -> None:
    _server, platform, app, _rec = logged_in(trusted=True)
    assert platform.remembered is not None
    app.logout()
    platform.run()
    assert platform.remembered is None and not app.remembered
    # And a remembered session's logout too.
    _server, platform, app, _rec = logged_in(trusted=True)
    app2, _rec2 = reload(platform)
    app2.start_remembered(platform.remembered)
    platform.run()
    app2.logout()
    assert platform.remembered is None


def test_unusable_records_are_forgotten() -> None:
    _server, platform, app, _rec = setup()
    for record in (None, {}, {"account": ALICE}, {"account": "no domain@", "mechanism": "x"}):
        platform.remembered = {"left": "over"}
        assert not app.start_remembered(record)
        assert platform.remembered is None
    assert platform.connections == []


def test_retry_and_reconnect_use_the_key() -> None:
    _server, platform, _app, _rec = logged_in(trusted=True, sm=True)
    app2, _rec2 = reload(platform)
    app2.start_remembered(platform.remembered)
    platform.run()
    derivations = platform.pbkdf2_calls
    platform.connections[-1].drop()
    platform.run()
    assert app2.state == "online" and len(platform.connections) >= 3
    app2.retry()
    platform.run()
    assert app2.state == "online" and platform.pbkdf2_calls == derivations
