"""ChatApp end to end over the fake platform and the scripted server (tests/app/fakes.py).

Session, contacts, messages, storage, reconnects, catch-up, receipts and
typing. The lossless machinery (outbox, XEP-0198 resumption, acks after
storing, liveness, gaps, history) is in test_lossless_app.py.
"""

from __future__ import annotations

import pytest
from roost.app import ChatApp
from roost.app.chat import LOGIN_TIMEOUT, is_secure_url
from roost.app.events import Emitter
from roost.app.store import StoredMessage
from roost.xmpp.element import Element
from roost.xmpp.errors import AuthError, LoginTimeout, NetworkError, StreamError

from tests.app.fakes import (
    ALICE,
    BOB,
    CAROL,
    ROSTER,
    FakePlatform,
    FakeServer,
    FakeStorage,
    Recorder,
    bodies,
    fire_next_timer,
    logged_in,
    other_timers,
    setup,
)

WRONG = "Wrong address or password."


def test_login_success() -> None:
    server, platform, app, rec = setup()
    app.login("alice", "s3cret", False)
    assert app.state == "connecting"
    platform.run()
    assert rec.states() == [("connecting", ""), ("online", "")]
    assert app.own_jid == ALICE
    assert server.full.startswith("alice@example.org/roost-")
    assert platform.pbkdf2_calls == 1
    assert sorted(app.contacts) == [BOB, CAROL]
    assert app.contacts[BOB].display_name == "Bob"
    assert app.contacts[CAROL].display_name == CAROL
    assert ("roster",) in rec.events
    # Initial presence went out after the roster request; then the server's
    # features were asked (disco#info) and carbons enabled (XEP-0280); once
    # the roster arrived, the archive catch-up query (XEP-0313); and the room
    # bookmarks (our account's disco#info decides XEP-0402 or XEP-0048).
    names = [(e.name, e.get("type")) for e in server.received]
    assert sorted(names[:5]) == sorted(
        [("iq", "set"), ("iq", "get"), ("presence", None), ("iq", "get"), ("iq", "set")]
    )
    assert names[:3] == [("iq", "set"), ("iq", "get"), ("presence", None)]
    assert len(names) == 8
    assert [e for e in server.received if e.find("query", "jabber:iq:private") is not None]
    assert [e for e in server.received if e.find("query", "urn:xmpp:mam:2") is not None]
    assert server.received[3].get("to") == "example.org"
    assert server.carbons
    assert not app.trusted
    assert app.store is not None and app.store.conversations() == []


def test_wrong_password() -> None:
    _server, platform, app, rec = setup()
    app.login("alice@example.org", "nope", False)
    platform.run()
    assert app.state == "error"
    assert rec.states()[-1] == ("error", WRONG)
    assert platform.connections[0].closed
    assert platform.connections[0].sent[-1] == (
        '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'
    )


def test_bad_address_and_missing_domain() -> None:
    _, platform, app, rec = setup()
    app.login("not an address", "x", False)
    assert rec.states() == [
        ("error", "That address doesn't look right. It should look like name@example.org.")
    ]
    assert platform.connections == []
    _, platform, app, rec = setup(default_domain="")
    app.login("alice", "x", False)
    assert app.state == "error" and platform.connections == []


def test_server_unreachable() -> None:
    platform = FakePlatform(None)
    app = ChatApp(platform)
    rec = Recorder(app)
    app.login("alice", "s3cret", False)
    platform.run()
    assert rec.states() == [
        ("connecting", ""),
        ("error", "Can't reach the server. Check your connection and try again."),
    ]


def test_presence_aggregation() -> None:
    server, platform, app, rec = setup()
    server.presences = [
        '<presence xmlns="jabber:client" from="bob@example.org/phone"><show>away</show>'
        "<status>On the bus</status></presence>",
        '<presence xmlns="jabber:client" from="bob@example.org/laptop">'
        "<priority>5</priority><status>Working</status></presence>",
        '<presence xmlns="jabber:client" from="stranger@example.org/x"/>',  # not in roster
        '<presence xmlns="jabber:client" from="alice@example.org/other"/>',  # our other device
    ]
    app.login("alice", "s3cret", False)
    platform.run()
    bob = app.contacts[BOB]
    assert (bob.show, bob.status) == ("online", "Working")  # priority 5 wins
    assert app.contacts[CAROL].show == "offline"
    assert rec.named("contact").count((BOB,)) == 2
    assert "stranger@example.org" not in app.contacts

    server.send(
        '<presence xmlns="jabber:client" type="unavailable" from="bob@example.org/laptop"/>'
    )
    platform.run()
    assert (bob.show, bob.status) == ("away", "On the bus")
    server.send(
        '<presence xmlns="jabber:client" from="bob@example.org/phone"><show>dnd</show></presence>'
    )
    platform.run()
    assert bob.show == "dnd"
    server.send('<presence xmlns="jabber:client" type="unavailable" from="bob@example.org"/>')
    platform.run()
    assert (bob.show, bob.status) == ("offline", None)


def test_send_message() -> None:
    """Without stream management "sent" is as far as the app can know (and final)."""
    server, platform, app, rec = logged_in()
    message = app.send_message(BOB, "Hi <b>Bob</b>")
    assert message is not None
    assert (message.sender, message.outgoing, message.state) == (ALICE, True, "sent")
    platform.run()
    [sent] = server.stanzas("message")
    assert sent.get("to") == BOB and sent.get("type") == "chat"
    assert sent.find_text("body") == "Hi <b>Bob</b>"
    assert sent.get("id") == message.id
    # The id is also the XEP-0359 origin-id (a re-send keeps it).
    origin = sent.find("origin-id", "urn:xmpp:sid:0")
    assert origin is not None and origin.get("id") == message.id == message.origin_id
    assert message.state == "sent"
    assert message.stamp == platform.clock
    assert app.messages(BOB) == [message]
    assert rec.named("messages") == [(BOB, [message])]
    assert app.preview(BOB) == "Hi <b>Bob</b>" and app.conversation_list() == [BOB]
    assert app.store is not None and app.store.outbox() == []  # nothing to wait for
    assert app.send_message(BOB, "   ") is None  # nothing to send


def test_receive_message_and_unread() -> None:
    server, platform, app, rec = logged_in()
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/phone">'
        "<body>Hello Alice</body></message>"
    )
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b2" from="bob@example.org/phone">'
        '<body>Earlier</body><delay xmlns="urn:xmpp:delay" stamp="2024-01-01T00:00:00Z"/>'
        "</message>"
    )
    platform.run()
    first, second = app.messages(BOB)
    assert (first.id, first.sender, first.body, first.outgoing, first.state) == (
        "b1",
        BOB,
        "Hello Alice",
        False,
        "received",
    )
    assert first.stamp == platform.clock
    assert second.stamp == 1704067200.0
    assert app.unread(BOB) == 2
    app.open_chat(BOB)
    assert app.active == BOB and app.unread(BOB) == 0
    platform.run()
    assert rec.named("loaded") == [(BOB,)]
    server.send(
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/phone">'
        "<body>Seen at once</body></message>"
    )
    platform.run()
    assert app.unread(BOB) == 0  # the open chat doesn't count unread
    assert app.store is not None and app.store.unread(BOB) == 0
    assert len(rec.named("messages")) == 3


def test_bounced_message_is_marked_failed() -> None:
    server, platform, app, rec = logged_in()
    message = app.send_message("nobody@example.org", "hello?")
    assert message is not None
    platform.run()
    server.send(
        f'<message xmlns="jabber:client" type="error" id="{message.id}" from="nobody@example.org">'
        '<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></message>"
    )
    platform.run()
    assert message.state == "failed"
    assert rec.named("message")[-1] == ("nobody@example.org", message)
    assert rec.named("notice") == [("That address doesn't exist.",)]


def test_subscription_request_approve_and_deny() -> None:
    server, platform, app, rec = logged_in()
    server.send(
        '<presence xmlns="jabber:client" type="subscribe" from="dave@example.org">'
        "<status>It's Dave</status></presence>"
    )
    server.send('<presence xmlns="jabber:client" type="subscribe" from="eve@example.org"/>')
    platform.run()
    assert rec.named("request") == [("dave@example.org",), ("eve@example.org",)]
    assert app.requests == {"dave@example.org": "It's Dave", "eve@example.org": None}

    app.approve("dave@example.org")
    app.deny("eve@example.org")
    sent = [(p.get("type"), p.get("to")) for p in server.stanzas("presence") if p.get("to")]
    assert sent == [
        ("subscribed", "dave@example.org"),
        ("subscribe", "dave@example.org"),  # mutual: we ask for theirs too
        ("unsubscribed", "eve@example.org"),
    ]
    assert app.requests == {}


def test_add_contact_through_roster_push() -> None:
    server, platform, app, _rec = logged_in()
    app.add_contact("dave@example.org", "Dave")
    platform.run()
    assert app.contacts["dave@example.org"].display_name == "Dave"
    sent = [(p.get("type"), p.get("to")) for p in server.stanzas("presence") if p.get("to")]
    assert sent == [("subscribe", "dave@example.org")]
    # The server's push was acknowledged with a result.
    results = [e for e in server.stanzas("iq") if (e.get("id") or "").startswith("push-")]
    assert [r.get("type") for r in results] == ["result"]


def test_forged_roster_push_changes_nothing() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    storage = platform.databases[ALICE]
    before = sorted(app.contacts)
    stored = dict(storage.data["roster"])
    server.send(
        '<iq xmlns="jabber:client" type="set" id="evil" from="mallory@evil.example">'
        '<query xmlns="jabber:iq:roster"><item jid="mallory@evil.example" subscription="both"/>'
        "</query></iq>"
    )
    platform.run()
    assert sorted(app.contacts) == before
    assert storage.data["roster"] == stored
    [reply] = [e for e in server.stanzas("iq") if e.get("id") == "evil"]
    assert reply.get("type") == "error"


def test_logout_wipes_untrusted_storage_and_password() -> None:
    _server, platform, app, rec = logged_in()
    app.send_message(BOB, "bye")
    platform.run()
    storage = platform.storages[0]
    assert not storage.trusted
    # Untrusted: the message store keeps everything in memory, nothing is written.
    assert [bodies(app, BOB)] == [["bye"]]
    assert storage.records("messages") == [] and storage.records("outbox") == []
    assert "resume" not in storage.data["meta"] and storage.records("roster") == []
    conn = platform.connections[0]
    app.logout()
    assert conn.sent[-2:] == [
        '<presence xmlns="jabber:client" type="unavailable"/>',
        '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>',
    ]
    platform.run()
    assert conn.closed
    assert storage.destroyed and all(not records for records in storage.data.values())
    assert app.state == "offline" and rec.states()[-1] == ("offline", "")
    assert app.contacts == {} and app.store is None and app.own_jid is None
    assert app.messages(BOB) == [] and app.conversation_list() == []
    app.retry()  # the password is gone: nothing happens
    assert len(platform.connections) == 1


def test_trusted_device_keeps_history_across_sessions() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    assert app.trusted
    app.send_message(BOB, "remember me")
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/phone">'
        "<body>I will</body></message>"
    )
    platform.run()
    app.logout()
    platform.run()
    storage = platform.databases[ALICE]
    assert not storage.destroyed
    assert set(storage.data["roster"]) == {BOB, CAROL}
    assert [m["body"] for m in storage.messages(BOB)] == ["remember me", "I will"]
    assert storage.records("outbox") == [] and "resume" not in storage.data["meta"]
    # A new page load: contacts and the conversation list come back from
    # storage; the messages when the chat is opened.
    server.rosters = {"alice": []}
    app2 = ChatApp(platform)
    rec2 = Recorder(app2)
    app2.login("alice@example.org", "s3cret", True)
    platform.run()
    assert app2.conversation_list() == [BOB] and app2.preview(BOB) == "I will"
    assert app2.unread(BOB) == 1
    app2.open_chat(BOB)
    platform.run()
    assert rec2.named("loaded") == [(BOB,)]
    assert bodies(app2, BOB) == ["remember me", "I will"]
    outgoing = app2.messages(BOB)[0]
    assert (outgoing.outgoing, outgoing.state, outgoing.sender) == (True, "server", ALICE)
    # The server's (now empty) roster replaces the stored one, in memory and storage.
    assert app2.contacts == {} and storage.data["roster"] == {}
    # The password never reaches storage.
    assert "s3cret" not in repr(storage.data)


def test_connection_lost_then_retry() -> None:
    server, platform, app, rec = logged_in()
    server.presences = ['<presence xmlns="jabber:client" from="bob@example.org/phone"/>']
    platform.connections[0].drop()
    platform.run(timers=False)  # before the automatic attempt: Retry goes at once
    assert rec.states()[-1] == ("reconnecting", "Reconnecting…")
    assert app.can_retry and isinstance(app.last_error, NetworkError)
    app.retry()
    platform.run()
    assert app.state == "online" and len(platform.connections) == 2
    assert server.connections == 2
    assert app.contacts[BOB].show == "online"
    assert len(platform.storages) == 1  # same session storage reused


def test_stream_error_shows_its_message() -> None:
    server, platform, _app, rec = logged_in()
    server.send(
        '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
        '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>'
    )
    platform.run()
    assert rec.states()[-1] == (
        "error",
        "You signed in from somewhere else, so this session was closed.",
    )
    assert platform.connections[0].closed


def test_unparseable_frame_ends_the_session() -> None:
    server, platform, app, _rec = logged_in()
    server.send("<message><!-- comments are not allowed --></message>")
    platform.run()
    assert app.state == "error"
    assert platform.connections[0].sent[-1] == (
        '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'
    )


def test_actions_while_offline_give_a_notice() -> None:
    _, _, app, rec = setup()
    assert app.send_message(BOB, "hi") is None
    app.add_contact(BOB)
    assert rec.named("notice") == [("You're not connected right now.",)] * 2
    assert app.load_older(BOB) is False
    assert app.fill_gap(BOB, 0.0, 1) is False


def test_a_raising_subscriber_does_not_break_others() -> None:
    _server, platform, app, rec = setup()
    seen: list[str] = []

    def broken(*args: object) -> None:
        raise ValueError("ui bug")

    app.on("state", broken)
    app.on("state", lambda state, message: seen.append(state))
    app.login("alice", "s3cret", False)
    platform.run()
    assert seen == ["connecting", "online"]
    assert ("notice", "Something went wrong while updating the screen.") in rec.events


def test_emitter_error_hook_and_off() -> None:
    errors: list[tuple[str, Exception]] = []
    emitter = Emitter(lambda name, exc: errors.append((name, exc)))
    calls: list[object] = []

    def boom(x: object) -> None:
        raise RuntimeError("boom")

    emitter.on("x", boom)
    emitter.on("x", calls.append)
    emitter.emit("x", 1)
    assert calls == [1] and errors[0][0] == "x"
    emitter.off("x", calls.append)
    emitter.off("x", calls.append)  # twice: harmless
    emitter.emit("x", 2)
    assert calls == [1]
    emitter.emit("nobody-listens")


def test_late_callbacks_from_an_old_connection_are_ignored() -> None:
    _server, platform, app, _rec = logged_in()
    old = platform.connections[0]
    app.logout()
    old.on_frame(
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x"><body>late</body>'
        "</message>"
    )
    old.on_close(NetworkError(True))
    platform.run()
    assert app.store is None and app.messages(BOB) == [] and app.state == "offline"


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("wss://chat.example.org/xmpp-websocket", True),
        ("WSS://chat.example.org", True),
        ("ws://localhost:5280/xmpp-websocket", True),
        ("ws://127.0.0.1/ws", True),
        ("ws://[::1]:5280/ws", True),
        ("ws://user@localhost/ws", True),
        ("ws://chat.example.org/ws", False),
        ("ws://localhost.evil.example/ws", False),
        ("ws://evil.example/?localhost", False),
        ("/xmpp-websocket", False),
        ("https://chat.example.org/ws", False),
    ],
)
def test_is_secure_url(url: str, secure: bool) -> None:
    assert is_secure_url(url) is secure


# -- review fixes -------------------------------------------------------------------


def test_bounce_from_someone_else_changes_nothing() -> None:
    """Only the addressee (or our server) can say our message wasn't delivered."""
    server, platform, app, rec = logged_in(sm=True)
    message = app.send_message(BOB, "hello")
    assert message is not None
    platform.run()
    assert message.state == "server"
    changes = len(rec.named("message"))
    error = (
        '<message xmlns="jabber:client" type="error" id="{}" from="{}">'
        '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">&lt;img src=x onerror=alert(1)&gt;'
        "</text></error></message>"
    )
    server.send(error.format(message.id, "mallory@example.org/x"))
    platform.run()
    assert message.state == "server"
    assert len(rec.named("message")) == changes and rec.named("notice") == []
    server.send(error.format(message.id, "example.org"))  # our server: accepted
    platform.run()
    assert message.state == "failed"  # a bounce outranks the ack
    # The notice is Roost's own sentence, never the server's <text>.
    assert rec.named("notice") == [("The message couldn't be delivered.",)]


def test_sent_text_is_what_is_shown() -> None:
    server, platform, app, _rec = logged_in()
    message = app.send_message(BOB, "hi\x0b\x00 there")
    assert message is not None and message.body == "hi\ufffd\ufffd there"
    platform.run()
    [sent] = server.stanzas("message")
    assert sent.find_text("body") == message.body
    assert app.state == "online"


class SilentServer(FakeServer):
    """Accepts the WebSocket, then never answers."""

    def handle(self, element: Element) -> None:
        self.received.append(element)


def test_login_deadline_then_retry() -> None:
    server = SilentServer({"alice": "s3cret"})
    platform = FakePlatform(server)
    app = ChatApp(platform)
    rec = Recorder(app)
    app.login("alice", "s3cret", False)
    platform.run(timers=False)
    assert app.state == "connecting" and len(platform.timers) == 1
    [(due, _fn)] = platform.timers.values()
    assert due == platform.clock + LOGIN_TIMEOUT == platform.clock + 30
    platform.run()  # the deadline passes
    assert rec.states()[-1] == (
        "error",
        "The server took too long to answer. Check your connection and try again.",
    )
    assert isinstance(app.last_error, LoginTimeout) and app.can_retry
    conn = platform.connections[0]
    assert conn.closed and conn.sent[-1] == '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'
    # Retry with a server that answers.
    platform.server = FakeServer({"alice": "s3cret"}, ROSTER)
    app.retry()
    platform.run()
    assert app.state == "online" and app.last_error is None and not app.can_retry
    assert other_timers(platform) == []  # the deadline of the good login was cancelled


def test_deadline_cancelled_once_online_and_on_logout() -> None:
    _server, platform, app, _rec = logged_in()
    assert other_timers(platform) == []
    app.logout()
    assert platform.timers == {}
    app.login("alice", "s3cret", False)
    assert other_timers(platform) == [LOGIN_TIMEOUT]
    app.logout()
    assert platform.timers == {}


@pytest.mark.parametrize(
    ("stanza", "retry"),
    [
        ('<system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', True),
        ('<remote-connection-failed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', True),
        ('<connection-timeout xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', True),
        ('<reset xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', True),
        ('<resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', True),
        ('<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', False),
        ('<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>', False),
    ],
)
def test_can_retry_after_stream_errors_that_say_try_again(stanza: str, retry: bool) -> None:
    server, platform, app, _rec = logged_in()
    server.send(
        f'<stream:error xmlns:stream="http://etherx.jabber.org/streams">{stanza}</stream:error>'
    )
    platform.run(timers=False)
    # What says "try again" is tried again on its own; the rest waits for a person.
    assert app.state == ("reconnecting" if retry else "error")
    assert isinstance(app.last_error, StreamError)
    assert app.can_retry is retry
    platform.run()
    assert app.state == ("online" if retry else "error")


def test_cannot_retry_a_wrong_password() -> None:
    _server, platform, app, _rec = setup()
    app.login("alice", "wrong", False)
    platform.run()
    assert app.state == "error" and isinstance(app.last_error, AuthError)
    assert not app.can_retry
    app2 = ChatApp(FakePlatform(None))
    app2.login("alice", "x", False)
    app2.platform.run()  # type: ignore[attr-defined]
    assert app2.can_retry  # can't reach the server
    app2.logout()
    assert not app2.can_retry  # the password is gone


def test_retry_after_a_drop_keeps_history_in_memory() -> None:
    """Untrusted session: Retry (not Log out) is how to get back without losing it."""
    server, platform, app, _rec = logged_in(trusted=False)
    app.open_chat(BOB)
    first = app.send_message(BOB, "before")
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/phone">'
        "<body>reply</body></message>"
    )
    platform.run()
    store = app.store
    platform.connections[0].drop()
    platform.run(timers=False)
    assert app.state == "reconnecting" and app.can_retry
    app.retry()
    platform.run()
    assert app.state == "online" and app.active == BOB
    assert app.store is store
    second = app.send_message(BOB, "after")
    assert bodies(app, BOB) == ["before", "reply", "after"]
    assert app.messages(BOB)[0] is first and second is not None
    platform.run()
    assert sorted(app.contacts) == [BOB, CAROL]
    assert platform.storages[0].records("messages") == []  # untrusted: memory only


def test_connecting_waits_for_stored_data_and_history_merges() -> None:
    """IndexedDB on a slow disk: nothing connects before the outbox, cursors and
    resumption state are read; a conversation read after live messages came
    merges with them (no copy lost, none doubled, nothing overwritten)."""
    server, platform, app, _rec = setup()
    storage = FakeStorage(platform, ALICE, True)
    old = StoredMessage(BOB, BOB, "stored", 1.0, id="o1", seq=1)
    storage.seed("messages", 1, old.to_store())
    storage.seed(
        "conversations",
        BOB,
        {"jid": BOB, "stamp": 1.0, "unread": 0, "complete": False, "preview": "stored"},
    )
    platform.databases[ALICE] = storage
    storage.hold()
    app.login("alice", "s3cret", True)
    platform.run()
    assert app.state == "connecting" and platform.connections == []
    storage.release()
    platform.run()
    assert app.state == "online"
    assert app.conversation_list() == [BOB] and app.preview(BOB) == "stored"
    # A message arrives and one is sent before the chat's history is read.
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/phone">'
        "<body>new in</body></message>"
    )
    app.send_message(BOB, "new out")
    platform.run()
    app.flush_storage()
    assert [m["body"] for m in storage.messages(BOB)] == ["stored", "new out", "new in"]
    app.open_chat(BOB)
    platform.run()
    assert bodies(app, BOB) == ["stored", "new out", "new in"]
    records = storage.messages(BOB)
    assert [m["body"] for m in records] == ["stored", "new out", "new in"]
    assert records[0]["seq"] == 1 and len({m["seq"] for m in records}) == 3


def test_withdrawn_subscription_request_disappears() -> None:
    server, platform, app, rec = logged_in()
    for who in ("dave", "eve", "frank"):
        server.send(f'<presence xmlns="jabber:client" type="subscribe" from="{who}@example.org"/>')
    platform.run()
    assert set(app.requests) == {"dave@example.org", "eve@example.org", "frank@example.org"}
    server.send('<presence xmlns="jabber:client" type="unsubscribe" from="dave@example.org"/>')
    server.send('<presence xmlns="jabber:client" type="unsubscribed" from="eve@example.org/x"/>')
    server.send('<presence xmlns="jabber:client" type="subscribed" from="frank@example.org"/>')
    platform.run()
    assert app.requests == {"frank@example.org": None}
    assert rec.named("request")[-2:] == [("dave@example.org",), ("eve@example.org",)]


CARBON_INNER = (
    '<message xmlns="jabber:client" type="chat" id="{id}" from="{frm}" to="{to}">'
    "<body>{body}</body></message>"
)


def carbon(direction: str, inner: str, sender: str = ALICE) -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" from="{sender}">'
        f'<{direction} xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        f"{inner}</forwarded></{direction}></message>"
    )


def test_carbons_show_messages_from_and_to_other_clients() -> None:
    server, platform, app, rec = logged_in()
    assert server.carbons  # enabled after disco#info listed them
    app.open_chat(BOB)
    sent = CARBON_INNER.format(
        id="p1", frm="alice@example.org/phone", to=BOB, body="from my phone"
    )
    received = CARBON_INNER.format(
        id="b1", frm="bob@example.org/x", to="alice@example.org/phone", body="reply"
    )
    server.send(carbon("sent", sent))
    server.send(carbon("received", received))
    platform.run()
    mine, theirs = app.messages(BOB)
    assert (mine.id, mine.sender, mine.body, mine.outgoing, mine.state) == (
        "p1", ALICE, "from my phone", True, "server"
    )
    assert (theirs.id, theirs.sender, theirs.body, theirs.outgoing) == (
        "b1", BOB, "reply", False
    )
    assert rec.named("messages") == [(BOB, [mine]), (BOB, [theirs])]
    # The same sent carbon again (e.g. re-delivered) isn't shown twice.
    server.send(carbon("sent", sent))
    platform.run()
    assert len(app.messages(BOB)) == 2


def test_forged_carbon_is_never_shown() -> None:
    server, platform, app, rec = logged_in(trusted=True)
    inner = CARBON_INNER.format(
        id="f1", frm="bob@example.org/x", to=ALICE, body="FORGED"
    )
    for direction in ("received", "sent"):
        server.send(carbon(direction, inner, sender="carol@example.org/bot"))
    platform.run()
    app.flush_storage()
    assert rec.named("messages") == []
    assert app.messages(BOB) == [] and app.conversation_list() == []
    assert platform.databases[ALICE].records("messages") == []
    assert app.state == "online"


def test_server_ack_marks_messages_on_server() -> None:
    server, platform, app, rec = logged_in(sm=True)
    assert server.sm_count is not None
    message = app.send_message(BOB, "ack me")
    assert message is not None and message.state == "sent"
    assert rec.named("message") == [(BOB, message)]  # queued → sent
    platform.run()
    # One message is below ack_every: the app asked for the ack right away.
    assert message.state == "server"
    assert rec.named("message") == [(BOB, message)] * 2
    # A bounce before the ack: failed, and the late ack doesn't undo it.
    server.answer_r = False
    failed = app.send_message("nobody@example.org", "hello?")
    assert failed is not None
    server.send(
        f'<message xmlns="jabber:client" type="error" id="{failed.id}" from="nobody@example.org">'
        '<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></message>"
    )
    platform.run()
    assert failed.state == "failed"
    assert app.store is not None and app.store.outbox() == []
    server.ack()
    platform.run()
    assert failed.state == "failed" and message.state == "server"


def test_no_ack_without_stream_management() -> None:
    """No XEP-0198: "sent" is final, the outbox doesn't keep (or re-send) it."""
    server, platform, app, _rec = logged_in()  # the fake server offers no SM
    message = app.send_message(BOB, "no acks here")
    platform.run()
    assert message is not None and message.state == "sent"
    assert app.store is not None and app.store.outbox() == []
    platform.connections[0].drop()
    platform.run()
    assert app.state == "online"
    assert [m.find_text("body") for m in server.stanzas("message")] == ["no acks here"]


# -- archive catch-up (XEP-0313) -----------------------------------------------------


def from_bob(n: int, msg_id: str | None = None) -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" id="{msg_id or f"b{n}"}" '
        f'from="bob@example.org/x" to="alice@example.org"><body>old {n}</body></message>'
    )


def sync_events(app: ChatApp) -> list[tuple[object, ...]]:
    seen: list[tuple[object, ...]] = []
    app.on("sync", lambda *args: seen.append(args))
    return seen


def test_catch_up_without_cursor_fetches_the_last_messages_once() -> None:
    server, platform, app, _rec = setup()
    base = platform.clock - 1000
    server.archive = [(f"A{n}", base + n, from_bob(n)) for n in range(1, 251)]
    server.archive.append(
        ("A251", base + 251,
         '<message xmlns="jabber:client" type="chat" id="mine" from="alice@example.org/phone" '
         'to="bob@example.org"><body>my reply</body></message>')
    )
    # The newest is also delivered as an offline copy (same id, with <delay/>).
    server.presences.append(
        '<message xmlns="jabber:client" type="chat" id="b250" from="bob@example.org/x" '
        'to="alice@example.org"><body>old 250</body>'
        '<delay xmlns="urn:xmpp:delay" stamp="2023-11-14T22:00:50Z"/></message>'
    )
    seen = sync_events(app)
    app.login("alice", "s3cret", True)
    platform.run()
    found = bodies(app, BOB)
    # The last 200 (two pages back), each once, oldest first; our own is outgoing.
    assert len(found) == 200 and len(set(found)) == 200
    assert found[-1] == "my reply" and found[-2] == "old 250" and found[0] == "old 52"
    messages = app.messages(BOB)
    assert [m.stamp for m in messages] == sorted(m.stamp for m in messages)
    assert messages[-1].outgoing and messages[-1].sender == ALICE
    assert messages[-1].state == "server" and messages[-1].archive_id == "A251"
    # Old history filled in on a new device is not "unread"; only the offline
    # copy that arrived live counts.
    assert app.unread(BOB) == 1
    assert seen[0] == (0, None, False)
    assert seen[-1] == (200, 200, True)
    # Trusted: the newest archive id is the cursor for next time.
    storage = platform.databases[ALICE]
    assert storage.data["cursors"][""]["archive_id"] == "A251"  # type: ignore[index]
    assert len(storage.messages(BOB)) == 200


def test_catch_up_pages_forward_from_the_stored_cursor() -> None:
    server, platform, app, _rec = setup()
    base = platform.clock - 1000
    server.archive = [(f"A{n}", base + n, from_bob(n)) for n in range(1, 301)]
    server.archive_max = 50
    storage = platform.open_storage(ALICE, True)
    storage.seed("cursors", "", {"archive_id": "A60", "stamp": base + 60})
    seen = sync_events(app)
    app.login("alice", "s3cret", True)
    platform.run()
    assert bodies(app, BOB) == [f"old {n}" for n in range(61, 301)]
    # Missed since the last visit (there was a cursor): all unread.
    assert app.unread(BOB) == 240
    assert len(server.archive_queries) == 5  # 240 after the cursor, 50 a page
    assert server.archive_queries[0] == (None, "A60", None)
    assert [s[2] for s in seen] == [False] * 5 + [True]
    assert seen[-1][0] == 240
    assert storage.data["cursors"][""]["archive_id"] == "A300"  # type: ignore[index]
    # A live message after the catch-up moves the cursor (its trusted stanza-id).
    server.send(
        '<message xmlns="jabber:client" type="chat" id="live" from="bob@example.org/x" '
        'to="alice@example.org"><body>live</body>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="A301" by="alice@example.org"/></message>'
    )
    platform.run()
    assert storage.data["cursors"][""]["archive_id"] == "A301"  # type: ignore[index]
    # One from someone else's "by" doesn't.
    server.send(
        '<message xmlns="jabber:client" type="chat" id="live2" from="bob@example.org/x" '
        'to="alice@example.org"><body>live 2</body>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="EVIL" by="bob@example.org"/></message>'
    )
    platform.run()
    assert storage.data["cursors"][""]["archive_id"] == "A301"  # type: ignore[index]
    assert bodies(app, BOB).count("live") == 1


def test_archive_copy_of_a_live_message_is_not_added_again() -> None:
    """Offline copies arrive before the catch-up's pages: the archive's copies
    (same stanza-id, or same sender and id) are merged, not added."""
    server, platform, app, _rec = setup()
    server.presences = [
        from_bob(1, "dup").replace(
            "<body>", '<stanza-id xmlns="urn:xmpp:sid:0" id="X1" by="alice@example.org"/><body>'
        ),
        from_bob(2, "dup2"),
    ]
    server.archive = [
        ("X1", platform.clock - 10, from_bob(1, "other-id")),
        ("X2", platform.clock - 5, from_bob(2, "dup2")),
    ]
    app.login("alice", "s3cret", False)
    platform.run()
    assert bodies(app, BOB) == ["old 1", "old 2"]
    assert [m.archive_id for m in app.messages(BOB)] == ["X1", "X2"]
    assert app.unread(BOB) == 2


def test_catch_up_after_a_gap_or_without_an_archive() -> None:
    server, platform, app, _rec = setup()
    server.archive = [("A1", platform.clock - 5, from_bob(1))]
    storage = platform.open_storage(ALICE, True)
    storage.seed("cursors", "", {"archive_id": "expired", "stamp": platform.clock - 100})
    seen = sync_events(app)
    app.login("alice", "s3cret", True)
    platform.run()
    assert bodies(app, BOB) == ["old 1"]
    assert seen[-1][2] is True
    assert storage.data["cursors"][""]["archive_id"] == "A1"  # type: ignore[index]

    server2, platform2, app2, _rec2 = setup()
    server2.archive = None  # the server has no archive: the catch-up just ends
    seen2 = sync_events(app2)
    app2.login("alice", "s3cret", False)
    platform2.run()
    assert app2.state == "online" and seen2[-1] == (0, None, True)
    assert app2.messages(BOB) == []


def test_untrusted_session_keeps_the_cursor_only_in_memory() -> None:
    server, platform, app, _rec = setup()
    server.archive = [("A1", platform.clock - 5, from_bob(1))]
    app.login("alice", "s3cret", False)
    platform.run()
    assert app.store is not None
    cursor = app.store.cursor()
    assert cursor is not None and cursor.archive_id == "A1"
    assert all(s.data["cursors"] == {} for s in platform.storages)
    # A reconnect catches up from there: nothing is shown twice.
    assert server.connection is not None
    server.connection.drop()
    platform.run()
    assert app.state == "online"
    assert server.archive_queries[-1] == (None, "A1", None)
    assert bodies(app, BOB) == ["old 1"]


# -- automatic reconnect and the outbox ------------------------------------------


def reconnect_timers(platform: FakePlatform) -> list[float]:
    return other_timers(platform)


def test_reconnect_backoff_grows_with_jitter_up_to_the_cap() -> None:
    from roost.app.chat import RECONNECT_MAX

    server, platform, app, rec = logged_in()
    platform.server = None  # the server is gone
    platform.connections[0].drop()
    platform.run(timers=False)
    assert app.state == "reconnecting" and rec.states()[-1] == ("reconnecting", "Reconnecting…")
    delays = []
    for _ in range(10):
        assert len(platform.timers) == 1
        delays.append(fire_next_timer(platform))
        assert app.state == "reconnecting"  # each failed attempt stays there
    for n, delay in enumerate(delays):
        base = min(RECONNECT_MAX, 2.0**n)
        assert 0.7 * base <= delay <= min(RECONNECT_MAX, 1.3 * base), (n, delays)
    assert len(set(delays[6:])) > 1  # jittered even at the cap
    assert len(platform.connections) == 11
    # Many delays spread over the whole ±30 % band, never past the cap.
    many = [app.reconnect_delay(n) for n in range(12) for _ in range(40)]
    assert max(many) <= RECONNECT_MAX
    firsts = [app.reconnect_delay(0) for _ in range(200)]
    assert min(firsts) < 0.75 and max(firsts) > 1.25
    # The server is back: the next attempt gets in; the count starts again.
    platform.server = server
    fire_next_timer(platform)
    assert app.state == "online" and other_timers(platform) == []
    assert len(app.contacts) == 2
    platform.connections[-1].drop()
    platform.run(timers=False)
    [delay] = reconnect_timers(platform)
    assert 0.7 <= delay <= 1.3


def test_no_automatic_reconnect_after_conflict_auth_error_or_logout() -> None:
    server, platform, app, _rec = logged_in()
    server.send(
        '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
        '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>'
    )
    platform.run(timers=False)
    assert app.state == "error" and platform.timers == {} and not app.can_retry

    # The password changed while the connection was down: no more attempts.
    server, platform, app, _rec = logged_in()
    platform.connections[0].drop()
    server.users["alice"] = "changed elsewhere"
    platform.run(timers=False)
    assert app.state == "reconnecting"
    fire_next_timer(platform)
    assert app.state == "error" and isinstance(app.last_error, AuthError)
    assert platform.timers == {} and not app.can_retry
    assert app.send_message(BOB, "still queued") is not None  # kept for Retry

    # Logout during reconnecting stops it; a late close changes nothing.
    server, platform, app, _rec = logged_in()
    old = platform.connections[0]
    old.drop()
    platform.run(timers=False)
    assert platform.timers
    app.logout()
    assert platform.timers == {} and app.state == "offline"
    old.on_close(NetworkError(True))
    platform.run()
    assert app.state == "offline" and len(platform.connections) == 1
    # Never online: an unreachable server is an error with Retry, no automatic attempts.
    app2 = ChatApp(FakePlatform(None))
    app2.login("alice", "x", False)
    app2.platform.run(timers=False)  # type: ignore[attr-defined]
    assert app2.state == "error" and app2.platform.timers == {}  # type: ignore[attr-defined]


def test_outbox_keeps_order_and_sends_once_with_the_same_ids() -> None:
    server, platform, app, rec = logged_in(sm=True)
    platform.server = None
    platform.connections[0].drop()
    platform.run(timers=False)
    assert app.state == "reconnecting"
    texts = [(BOB, "one"), (CAROL, "two"), (BOB, "3")]
    queued = [app.send_message(to, text) for to, text in texts]
    assert all(m is not None and m.state == "queued" for m in queued)
    ids = [m.id for m in queued if m is not None]
    assert len(set(ids)) == 3 and all(ids)
    assert app.store is not None and app.store.outbox() == queued
    assert ("notice", "You're not connected right now.") not in rec.events
    assert bodies(app, BOB) == ["one", "3"]
    fire_next_timer(platform)  # still unreachable: still waiting
    assert all(m is not None and m.state == "queued" for m in queued)
    assert server.stanzas("message") == []
    platform.server = server
    fire_next_timer(platform)
    assert app.state == "online"
    sent = server.stanzas("message")
    assert [(e.get("id"), e.get("to"), e.find_text("body")) for e in sent] == [
        (ids[0], BOB, "one"),
        (ids[1], CAROL, "two"),
        (ids[2], BOB, "3"),
    ]
    platform.run()
    assert [m.state for m in queued if m is not None] == ["server"] * 3
    assert app.store.outbox() == []
    # Sent while online now goes straight out; a later reconnect sends nothing again.
    now = app.send_message(BOB, "four")
    assert now is not None and now.state == "sent"
    platform.run()
    assert server.connection is not None
    server.connection.drop()
    platform.run(timers=False)
    app.retry()  # the manual Retry while reconnecting, then the timer: no double send
    platform.run()
    assert app.state == "online"
    assert [e.find_text("body") for e in server.stanzas("message")] == ["one", "two", "3", "four"]
    assert bodies(app, BOB) == ["one", "3", "four"]


def test_archive_catch_up_does_not_show_outbox_messages_twice() -> None:
    server, platform, app, _rec = logged_in()
    platform.connections[0].drop()
    platform.run(timers=False)
    message = app.send_message(BOB, "from the outbox")
    assert message is not None and message.state == "queued"
    server.archive = [(
        "A9", platform.clock,
        f'<message xmlns="jabber:client" type="chat" id="{message.id}" '
        'from="alice@example.org/roost-x" to="bob@example.org"><body>from the outbox</body>'
        "</message>",
    )]
    platform.run()
    assert app.state == "online"
    assert bodies(app, BOB) == ["from the outbox"]
    assert message.archive_id == "A9"


def test_outbox_survives_a_reload_on_a_trusted_device() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    app.send_message(BOB, "before")
    platform.run()
    platform.server = None
    platform.connections[0].drop()
    platform.run(timers=False)
    first = app.send_message(BOB, "queued 1")
    second = app.send_message(BOB, "queued 2")
    assert first is not None and second is not None
    app.flush_storage()  # the page hides: batched writes go out
    storage = platform.databases[ALICE]
    assert [(m["body"], m["state"]) for m in storage.records("outbox")] == [
        ("queued 1", "queued"), ("queued 2", "queued")
    ]
    assert [m["body"] for m in storage.messages(BOB)] == ["before", "queued 1", "queued 2"]
    # The tab is reloaded: the old page (and its timers) are gone.
    platform.reload()
    platform.server = server
    before = len(server.stanzas("message"))
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert app2.state == "online"
    sent = server.stanzas("message")[before:]
    assert [(e.get("id"), e.find_text("body")) for e in sent] == [
        (first.id, "queued 1"), (second.id, "queued 2")
    ]
    app2.open_chat(BOB)
    platform.run()
    assert bodies(app2, BOB) == ["before", "queued 1", "queued 2"]
    assert all(m.state != "queued" for m in app2.messages(BOB))
    assert storage.records("outbox") == []
    assert [m["state"] != "queued" for m in storage.messages(BOB)] == [True] * 3
    # Logged out: nothing can be queued any more.
    app2.logout()
    assert app2.send_message(BOB, "x") is None


# -- receipts, chat markers, chat states ------------------------------------------

BOB_MSG = (
    '<message xmlns="jabber:client" type="chat" id="{id}" from="bob@example.org/phone">'
    '<body>{body}</body><request xmlns="urn:xmpp:receipts"/>'
    '<markable xmlns="urn:xmpp:chat-markers:0"/>'
    '<active xmlns="http://jabber.org/protocol/chatstates"/></message>'
)
STATES = "http://jabber.org/protocol/chatstates"


def chat_states(server: FakeServer) -> list[tuple[str | None, str]]:
    return [
        (m.get("to"), c.name)
        for m in server.stanzas("message")
        for c in m.children
        if c.ns == STATES and m.find("body") is None
    ]


def test_receipts_and_markers_move_own_messages_forward_only() -> None:
    server, platform, app, rec = logged_in(sm=True)
    first = app.send_message(BOB, "one")
    second = app.send_message(BOB, "two")
    third = app.send_message(BOB, "three")
    assert first and second and third
    platform.run()
    assert [first.state, second.state, third.state] == ["server"] * 3
    sent = server.stanzas("message")
    assert all(m.find("request", "urn:xmpp:receipts") is not None for m in sent)
    assert all(m.find("markable", "urn:xmpp:chat-markers:0") is not None for m in sent)
    assert all(m.find("active", STATES) is not None for m in sent)
    changes = len(rec.named("message"))

    def receipt(msg_id: str | None, sender: str = "bob@example.org/phone") -> None:
        server.send(
            f'<message xmlns="jabber:client" from="{sender}">'
            f'<received xmlns="urn:xmpp:receipts" id="{msg_id}"/></message>'
        )

    def displayed(msg_id: str | None, sender: str = "bob@example.org/phone") -> None:
        server.send(
            f'<message xmlns="jabber:client" type="chat" from="{sender}">'
            f'<displayed xmlns="urn:xmpp:chat-markers:0" id="{msg_id}"/></message>'
        )

    receipt(first.id)
    platform.run()
    assert [first.state, second.state, third.state] == ["delivered", "server", "server"]
    assert rec.named("message")[changes:] == [(BOB, first)]
    # Forged: someone else, or an id that isn't ours: nothing changes.
    receipt(second.id, "mallory@example.org/x")
    displayed(third.id, "mallory@example.org/x")
    displayed("not-ours")
    platform.run()
    assert [first.state, second.state, third.state] == ["delivered", "server", "server"]
    # A displayed marker: that message and every earlier own one are read.
    displayed(second.id)
    platform.run()
    assert [first.state, second.state, third.state] == ["read", "read", "server"]
    # Never backwards: a late receipt for a read message changes nothing.
    receipt(second.id)
    receipt(third.id)
    platform.run()
    assert [first.state, second.state, third.state] == ["read", "read", "delivered"]
    assert len(rec.named("message")) == changes + 4


def test_failed_message_stays_failed_after_a_marker() -> None:
    server, platform, app, _rec = logged_in()
    message = app.send_message(BOB, "x")
    assert message is not None
    platform.run()
    server.send(
        f'<message xmlns="jabber:client" type="error" id="{message.id}" from="bob@example.org">'
        '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></message>"
    )
    platform.run()
    assert message.state == "failed"
    server.send(
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x">'
        f'<displayed xmlns="urn:xmpp:chat-markers:0" id="{message.id}"/></message>'
    )
    platform.run()
    assert message.state == "failed"


def test_receipt_answered_and_displayed_marker_sent_once_while_visible() -> None:
    server, platform, app, _rec = logged_in()
    server.send(BOB_MSG.format(id="b1", body="hello"))
    platform.run()
    receipts = [m for m in server.stanzas("message") if m.find("received", "urn:xmpp:receipts")]
    [answer] = receipts
    assert answer.get("to") == "bob@example.org/phone"
    assert answer.find("received", "urn:xmpp:receipts").get("id") == "b1"  # type: ignore[union-attr]

    def markers() -> list[str | None]:
        found = []
        for m in server.stanzas("message"):
            marker = m.find("displayed", "urn:xmpp:chat-markers:0")
            if marker is not None:
                assert m.get("to") == BOB
                found.append(marker.get("id"))
        return found

    assert markers() == []  # the chat isn't open: not read
    app.open_chat(BOB)
    platform.run()
    assert markers() == ["b1"]
    app.open_chat(BOB)
    platform.run()
    assert markers() == ["b1"]  # once
    app.set_visible(False)
    server.send(BOB_MSG.format(id="b2", body="are you there?"))
    platform.run()
    assert markers() == ["b1"]  # hidden page: not read yet
    app.set_visible(True)
    platform.run()
    assert markers() == ["b1", "b2"]
    # A message that isn't markable gets no marker.
    server.send(
        '<message xmlns="jabber:client" type="chat" id="b3" from="bob@example.org/phone">'
        "<body>plain</body></message>"
    )
    platform.run()
    assert markers() == ["b1", "b2"]


def test_typing_sends_composing_then_paused_only_to_peers_with_chat_states() -> None:
    server, platform, app, _rec = logged_in()
    app.typing(CAROL)  # carol never sent chat states: nothing
    platform.run(timers=False)
    assert chat_states(server) == []
    server.send(BOB_MSG.format(id="b1", body="hi"))
    platform.run(timers=False)
    app.typing(BOB)
    platform.run(timers=False)
    assert chat_states(server) == [(BOB, "composing")]
    platform.advance(3)
    app.typing(BOB)
    platform.advance(4)  # 7 s typing, 4 s since the last key: still composing
    app.typing(BOB)
    platform.advance(4)  # 11 s of continued typing: composing again
    app.typing(BOB)
    platform.run(timers=False)
    assert chat_states(server) == [(BOB, "composing")] * 2
    platform.advance(5)  # 5 s without a key: paused
    assert chat_states(server)[-1] == (BOB, "paused")
    assert all(due > platform.clock for due, _ in platform.timers.values())
    # Typing then sending: the message carries <active/>, no paused follows.
    app.typing(BOB)
    app.send_message(BOB, "done")
    platform.advance(10)
    assert chat_states(server) == [
        (BOB, "composing"),
        (BOB, "composing"),
        (BOB, "paused"),
        (BOB, "composing"),
    ]


def test_contact_typing_shown_until_paused_message_or_timeout() -> None:
    server, platform, app, rec = logged_in()

    def state(name: str) -> None:
        server.send(
            '<message xmlns="jabber:client" type="chat" from="bob@example.org/phone">'
            f'<{name} xmlns="{STATES}"/></message>'
        )
        platform.run(timers=False)

    state("composing")
    assert BOB in app.peers_typing
    state("paused")
    assert app.peers_typing == {}
    state("composing")
    server.send(BOB_MSG.format(id="b1", body="hi"))
    platform.run(timers=False)
    assert app.peers_typing == {}
    state("composing")
    platform.advance(29)
    assert BOB in app.peers_typing
    platform.advance(1)
    assert app.peers_typing == {}
    assert rec.named("typing") == [(BOB, True), (BOB, False)] * 3


def test_with_a_cursor_the_catch_up_query_goes_before_the_initial_presence() -> None:
    """The server then keeps its offline copies back (tests/xmpp/
    test_live_lossless.py shows Prosody does). A new device (no cursor)
    sends its presence first: its offline messages count as unread."""
    server, platform, app, _rec = setup()
    server.archive = [("A1", platform.clock - 5, from_bob(1))]
    app.login("alice", "s3cret", True)
    platform.run()

    def order(start: int) -> list[str]:
        names = []
        for e in server.received[start:]:
            if e.name == "presence" and e.get("type") is None and e.get("to") is None:
                names.append("presence")
            elif e.name == "iq" and e.find("query", "urn:xmpp:mam:2") is not None:
                names.append("archive")
        return names[:2]

    assert order(0) == ["presence", "archive"]  # no cursor yet
    app.logout()
    platform.run()
    start = len(server.received)
    app.login("alice", "s3cret", True)
    platform.run()
    assert app.state == "online"
    assert order(start) == ["archive", "presence"]
