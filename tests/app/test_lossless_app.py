"""ChatApp's lossless messaging (docs/architecture.md, "Lossless messaging"):
the outbox, XEP-0198 acks and resumption (also across a page reload), acks
after storing, liveness pings, network and visibility changes, archive gaps
and history, corrections, stepping aside for another tab, forged input.

Everything runs over tests/app/fakes.py: the real app, client, store and
memory storage backend against a scripted server with XEP-0198 resumption.
"""

from __future__ import annotations

import pytest
from roost.app import ChatApp
from roost.app import chat as chat_module
from roost.app.chat import HOLD_MAX, PING_IDLE, PING_TIMEOUT, RESUME_PROBE_TIMEOUT
from roost.app.store import Gap
from roost.xmpp.element import Element
from roost.xmpp.errors import NetworkError

from tests.app.fakes import (
    ALICE,
    BOB,
    CAROL,
    FakePlatform,
    FakeServer,
    Recorder,
    bodies,
    logged_in,
    setup,
)

SID = "urn:xmpp:sid:0"
STREAM_ERROR = (
    '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
    '<undefined-condition xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>'
)


def stream_error(condition: str) -> str:
    return (
        '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
        f'<{condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>'
    )


def bob_says(msg_id: str, body: str, extra: str = "") -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" id="{msg_id}" from="bob@example.org/phone" '
        f'to="alice@example.org"><body>{body}</body>{extra}</message>'
    )


def sent_with_body(server: FakeServer, body: str) -> list[str | None]:
    """Ids of the message stanzas with `body` the server got (each arrival)."""
    return [m.get("id") for m in server.stanzas("message") if m.find_text("body") == body]


def stored_resume(platform: FakePlatform) -> dict[str, object] | None:
    value = platform.databases[ALICE].data["meta"].get("resume")
    return value if isinstance(value, dict) else None


# -- the outbox -------------------------------------------------------------------


def outbox_stash(platform: FakePlatform) -> dict[str, object]:
    """What the tab keeps of the outbox (not the first catch-up's start time)."""
    return {k: v for k, v in platform.stashed.items() if k.startswith("roost-outbox:")}


def plaintext_with(app: ChatApp, bare: str) -> None:
    """The padlock off for `bare` (the user's choice): these tests are about the
    outbox, not OMEMO, whose device-list lookup would come first (test_omemo_app.py)."""
    manager = app.e2e.manager
    assert manager is not None
    manager.set_encryption(bare, False)


def test_every_send_goes_through_the_outbox_until_acked() -> None:
    server, platform, app, rec = logged_in(trusted=True, sm=True)
    plaintext_with(app, BOB)
    storage = platform.databases[ALICE]
    store = app.store
    assert store is not None
    message = app.send_message(BOB, "hello")
    assert message is not None and message.state == "sent"
    assert store.outbox() == [message]
    assert message.id is not None and message.id == message.origin_id
    app.flush_storage()  # the page hides before the ack came
    assert [(m["body"], m["state"]) for m in storage.records("outbox")] == [("hello", "sent")]
    platform.run()
    assert message.state == "server" and store.outbox() == []
    assert storage.records("outbox") == []
    assert [(m["body"], m["state"]) for m in storage.messages(BOB)] == [("hello", "server")]
    assert sent_with_body(server, "hello") == [message.id]
    assert rec.named("message") == [(BOB, message)] * 2  # → "sent", → "server"


@pytest.mark.parametrize("answer", ["auto", "fail"])
def test_lost_message_resent_once_under_its_id(answer: str) -> None:
    """The network died unnoticed while a message went out. "auto": the server
    can't find the session any more; "fail": it refuses to resume it (with
    its h). Either way a fresh session sends the outbox again, once, same id."""
    server, platform, app, _rec = logged_in(sm=True)
    conn = platform.connections[0]
    conn.stall()
    message = app.send_message(BOB, "into the void")
    assert message is not None and message.state == "sent"
    assert any("into the void" in frame for frame in conn.lost)
    [previd] = server.sessions
    if answer == "auto":
        server.sessions.clear()
    else:
        server.resume_answer = "fail"
    conn.drop()
    platform.run()
    assert app.state == "online"
    assert [r[0] for r in server.resumes] == ["failed"] and server.resumes[0][1] == previd
    assert server.binds == 2  # a fresh session
    sent = [m for m in server.stanzas("message") if m.find_text("body") == "into the void"]
    assert [m.get("id") for m in sent] == [message.id]
    origin = sent[0].find("origin-id", SID)
    assert origin is not None and origin.get("id") == message.id
    assert message.state == "server"
    assert app.store is not None and app.store.outbox() == []
    assert bodies(app, BOB) == ["into the void"]


def test_failed_resume_with_h_does_not_resend_what_the_server_has() -> None:
    """`<failed h/>`: the first message reached the server (its ack was lost),
    the second didn't: only the second is sent again."""
    server, platform, app, _rec = logged_in(sm=True)
    server.answer_r = False
    arrived = app.send_message(BOB, "arrived")
    conn = platform.connections[0]
    conn.stall()
    lost = app.send_message(BOB, "lost")
    assert arrived is not None and lost is not None
    server.resume_answer = "fail"
    server.answer_r = True
    conn.drop()
    platform.run()
    assert app.state == "online"
    assert [r[0] for r in server.resumes] == ["failed"]
    assert sent_with_body(server, "arrived") == [arrived.id]
    assert sent_with_body(server, "lost") == [lost.id]
    assert (arrived.state, lost.state) == ("server", "server")


@pytest.mark.parametrize("where", ["lost", "unacked"])
def test_resumed_session_is_not_sent_the_outbox_again(where: str) -> None:
    """After `<resumed/>` the core re-sends what the server hasn't seen itself;
    the app must not send it a second time. "lost": the message never reached
    the server; "unacked": it did, but the ack didn't come back."""
    server, platform, app, _rec = logged_in(sm=True)
    conn = platform.connections[0]
    if where == "lost":
        conn.stall()
    else:
        server.answer_r = False
    message = app.send_message(BOB, "once")
    assert message is not None
    server.answer_r = True  # the resumed session answers (else it is left: see below)
    conn.drop()
    platform.run()
    assert app.state == "online"
    assert [r[0] for r in server.resumes] == ["resumed"] and server.binds == 1
    assert sent_with_body(server, "once") == [message.id]
    assert message.state == "server"
    assert app.store is not None and app.store.outbox() == []


def test_queued_while_reconnecting_goes_out_after_resume() -> None:
    server, platform, app, _rec = logged_in(sm=True)
    platform.connections[0].drop()
    platform.run(timers=False)
    assert app.state == "reconnecting"
    message = app.send_message(BOB, "later")
    assert message is not None and message.state == "queued"
    platform.run()
    assert [r[0] for r in server.resumes] == ["resumed"]
    assert sent_with_body(server, "later") == [message.id]
    assert message.state == "server"


def test_refused_stream_management_leaves_sent_messages_sent() -> None:
    """`<enable/>` answered with `<failed/>` (SmFailed): what went out waiting
    for an ack will never get one: "sent", out of the outbox, never re-sent;
    and the old session's resumption state is of no use any more."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    platform.connections[0].drop()
    platform.run(timers=False)
    message = app.send_message(BOB, "no acks coming")
    assert message is not None and message.state == "queued"
    server.sessions.clear()
    server.refuse_enable = True
    platform.run()
    assert app.state == "online" and [r[0] for r in server.resumes] == ["failed"]
    assert sent_with_body(server, "no acks coming") == [message.id]
    assert message.state == "sent"
    assert app.store is not None and app.store.outbox() == []
    assert stored_resume(platform) is None
    platform.connections[-1].drop()
    platform.run()
    assert app.state == "online"
    assert [r[0] for r in server.resumes] == ["failed"]  # nothing left to resume
    assert sent_with_body(server, "no acks coming") == [message.id]
    assert platform.databases[ALICE].records("outbox") == []


# -- resumption across a page reload ---------------------------------------------


def test_reload_resumes_and_gets_what_was_not_stored_once() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    storage = platform.databases[ALICE]
    state = stored_resume(platform)
    assert state is not None and state["id"] in server.sessions
    assert "s3cret" not in repr(state)
    roster_gets = len([i for i in server.stanzas("iq") if i.find("query", "jabber:iq:roster")])
    # Stored and acknowledged before the reload.
    server.send(bob_says("m0", "before the reload"))
    server.request_ack()
    platform.run()
    assert server.client_acks[-1] == server.session.sent  # type: ignore[union-attr]
    assert [m["body"] for m in storage.messages(BOB)] == ["before the reload"]
    # Handled in memory, not yet written, when the tab is reloaded.
    server.send(bob_says("m1", "during the reload"))
    platform.run(timers=False)
    assert bodies(app, BOB) == ["before the reload", "during the reload"]
    platform.reload()
    assert [m["body"] for m in storage.messages(BOB)] == ["before the reload"]

    app2 = ChatApp(platform)
    rec2 = Recorder(app2)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert app2.state == "online"
    assert server.resumes == [("resumed", state["id"])] and server.binds == 1
    # No roster get, no new presence: the stored roster stands.
    assert len([i for i in server.stanzas("iq") if i.find("query", "jabber:iq:roster")]) == (
        roster_gets
    )
    assert sorted(app2.contacts) == [BOB, CAROL]
    # The server re-sent what we hadn't acknowledged: shown once, stored once
    # (a conversation that gets a message is read from storage meanwhile).
    assert bodies(app2, BOB) == ["before the reload", "during the reload"]
    assert app2.unread(BOB) == 2
    app2.open_chat(BOB)
    platform.run()
    assert rec2.named("loaded") == [(BOB,)]
    assert bodies(app2, BOB) == ["before the reload", "during the reload"]
    assert [m["body"] for m in storage.messages(BOB)] == [
        "before the reload", "during the reload"
    ]
    assert "s3cret" not in repr(storage.data)  # the password is never stored
    # ... and acknowledged once stored.
    server.request_ack()
    platform.run()
    assert server.client_acks[-1] == server.session.sent  # type: ignore[union-attr]


def test_reload_redelivery_of_a_stored_message_is_merged() -> None:
    """Written, but the reload came before the ack: the server sends it again;
    the copy is merged with the stored one (shown once, counted once)."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    storage = platform.databases[ALICE]
    server.send(bob_says("m0", "stored, not acked"))
    platform.run()  # written; no <r/> came, so no <a/> went out
    assert [m["body"] for m in storage.messages(BOB)] == ["stored, not acked"]
    assert app.unread(BOB) == 1
    platform.reload()
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert app2.state == "online" and [r[0] for r in server.resumes] == ["resumed"]
    assert app2.unread(BOB) == 1
    app2.open_chat(BOB)
    platform.run()
    assert bodies(app2, BOB) == ["stored, not acked"]
    app2.flush_storage()
    assert [m["body"] for m in storage.messages(BOB)] == ["stored, not acked"]


def test_reload_resends_the_stored_outbox_without_doubling_what_the_core_resends() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    plaintext_with(app, BOB)
    platform.connections[0].stall()
    message = app.send_message(BOB, "in flight")
    assert message is not None
    platform.run()  # the outbox and the resumption state are written
    state = stored_resume(platform)
    assert state is not None and [m for _x, m in state["unacked"] if m] == [message.id]  # type: ignore[attr-defined]
    platform.reload()
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert app2.state == "online" and [r[0] for r in server.resumes] == ["resumed"]
    assert sent_with_body(server, "in flight") == [message.id]
    assert app2.store is not None and app2.store.outbox() == []
    assert platform.databases[ALICE].records("outbox") == []


def test_a_stale_stash_after_a_reload_keeps_the_order() -> None:
    """The reload came after storage had the ack but before the tab's stash
    was updated: the stashed message is queued again, and must stay where
    it was, before what was written after it (equal stamps)."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    first = app.send_message(BOB, "one")
    assert first is not None
    stale = dict(platform.stashed)
    platform.run()
    assert first.state == "server" and outbox_stash(platform) == {}
    app.send_message(BOB, "two")
    platform.run()
    platform.stashed = stale
    platform.reload()
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    app2.open_chat(BOB)
    platform.run()
    assert app2.state == "online"
    assert bodies(app2, BOB) == ["one", "two"]
    assert [m.state for m in app2.messages(BOB)] == ["server", "server"]
    assert sent_with_body(server, "one") == [first.id] * len(sent_with_body(server, "one"))
    app2.flush_storage()
    platform.run()
    assert [m["body"] for m in platform.databases[ALICE].messages(BOB)] == ["one", "two"]


def test_acked_messages_a_reload_caught_before_the_write_committed_keep_their_place() -> None:
    """Acked in memory, written but not committed, then another message was
    sent (the stash is rewritten) and the tab reloaded: the acked ones come
    back from the stash, as acked, not re-sent, before the later one."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    storage = platform.databases[ALICE]
    sent = [app.send_message(BOB, f"m{i}") for i in range(3)]
    assert all(m is not None for m in sent)
    storage.hold(commit=False)  # from now on nothing reaches the disk
    platform.run()  # acked (in memory), the write pending
    assert [m.state for m in sent if m is not None] == ["server"] * 3
    assert "server" not in [m["state"] for m in storage.messages(BOB)]
    later = app.send_message(BOB, "later")
    assert later is not None
    before = len(server.stanzas("message"))
    platform.reload()
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    app2.open_chat(BOB)
    platform.run()
    assert app2.state == "online"
    assert bodies(app2, BOB) == ["m0", "m1", "m2", "later"]
    assert [m.state for m in app2.messages(BOB)][:3] == ["server"] * 3
    resent = [e.find_text("body") for e in server.stanzas("message")[before:]]
    assert "m0" not in resent and "m1" not in resent and "m2" not in resent
    app2.flush_storage()
    platform.run()
    assert [m["body"] for m in storage.messages(BOB)] == ["m0", "m1", "m2", "later"]
    assert outbox_stash(platform) == {}


# -- acks after storing -------------------------------------------------------------


def test_inbound_acked_only_after_the_store_wrote_it() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    storage = platform.databases[ALICE]
    assert server.session is not None
    handled = server.session.sent
    server.send(bob_says("b1", "keep me"))
    server.request_ack()
    platform.run(timers=False)
    assert bodies(app, BOB) == ["keep me"]
    # Answered, but short of the message: it isn't written yet.
    assert server.client_acks[-1] == handled
    assert storage.messages(BOB) == []
    platform.advance(0.25)  # the store's batched write
    assert [m["body"] for m in storage.messages(BOB)] == ["keep me"]
    assert server.client_acks[-1] == handled + 1  # sent unasked once written
    assert server.session.unacked == []


def test_untrusted_session_acks_at_once() -> None:
    server, platform, _app, _rec = logged_in(sm=True)
    assert server.session is not None
    server.send(bob_says("b1", "memory only"))
    server.request_ack()
    platform.run(timers=False)
    assert server.client_acks[-1] == server.session.sent


# -- resumption failures -------------------------------------------------------------


def test_resume_ending_in_a_stream_error_starts_afresh_at_once() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    old = stored_resume(platform)
    assert old is not None
    platform.connections[0].drop()
    server.resume_answer = STREAM_ERROR
    platform.run()
    # The attempt resumed; the server said no with a stream error …
    assert server.resumes == [("error", old["id"])]
    # … and the next attempt went at once (no backoff), afresh.
    assert app.state == "online"
    assert len(platform.connections) == 3 and server.binds == 2
    assert platform.connected_at[2] == platform.connected_at[1] > platform.connected_at[0]
    new = stored_resume(platform)
    assert new is not None and new["id"] != old["id"]
    assert server.resumes == [("error", old["id"])]  # the third connection didn't resume


def test_resume_failed_gives_a_fresh_session_with_roster_and_catch_up() -> None:
    server, platform, app, _rec = logged_in(sm=True)
    message = app.send_message(BOB, "before")
    platform.run()
    platform.connections[0].stall()
    queued = app.send_message(BOB, "unacked")
    assert message is not None and queued is not None
    mam_before = len(server.archive_queries)
    server.sessions.clear()  # the server restarted
    server.presences = ['<presence xmlns="jabber:client" from="bob@example.org/phone"/>']
    platform.connections[0].drop()
    platform.run()
    assert app.state == "online" and [r[0] for r in server.resumes] == ["failed"]
    assert app.contacts[BOB].show == "online"  # presence again
    assert len(server.archive_queries) == mam_before + 1  # catch-up again
    assert sent_with_body(server, "before") == [message.id]
    assert sent_with_body(server, "unacked") == [queued.id]


def test_resumed_session_cut_by_the_connection_manager_is_resumed_again() -> None:
    """`roost serve` (or any RFC 7395 proxy) reports its lost TCP connection
    to the server as a `remote-connection-failed` stream error: the session
    hibernates on the server like after any network cut, so it is resumed
    again, not dropped for a fresh one (which left it hibernating, getting
    our messages: the chaos test lost them)."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    [previd] = server.sessions
    for n in (1, 2, 3):
        conn = platform.connections[-1]
        if n == 1:
            conn.drop()  # the first one is a plain network cut
        else:
            conn.deliver(stream_error("remote-connection-failed"))
            conn.stall()  # the proxy's side to the server is gone
        server.send(bob_says(f"b{n}", f"while away {n}"))
        platform.run()
        assert app.state == "online"
        assert server.resumes == [("resumed", previd)] * n and server.binds == 1
    assert bodies(app, BOB) == ["while away 1", "while away 2", "while away 3"]


def test_a_resumed_session_that_ignores_us_is_left_for_a_fresh_one() -> None:
    """Prosody 0.12 resumes a session cut inside a stanza with its parser
    still inside it: it answers <resume/> and sends us messages, but ignores
    all we send. No <a/> for the <r/> sent with the resume: after
    RESUME_PROBE_TIMEOUT the app starts a fresh session, the outbox goes out
    again there and nothing is lost (the chaos test with reloads lost 750)."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    plaintext_with(app, BOB)
    [previd] = server.sessions
    server.deafen_on_resume = True
    platform.connections[-1].drop()
    platform.run(timers=False)
    platform.advance(5)  # reconnect delay
    assert app.state == "online" and server.resumes == [("resumed", previd)]
    app.send_message(BOB, "into the void?")
    platform.advance(RESUME_PROBE_TIMEOUT - 6)
    assert sent_with_body(server, "into the void?") == []
    assert app.state == "online" and len(platform.connections) == 2
    platform.advance(1)
    platform.run()
    assert app.state == "online" and server.binds == 2  # a fresh session
    assert len(sent_with_body(server, "into the void?")) == 1
    platform.advance(RESUME_PROBE_TIMEOUT + 1)
    assert app.state == "online" and len(platform.connections) == 3  # no more probes


def test_messages_held_by_a_catch_up_on_a_deaf_session_wait_for_the_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reloaded page resumes into a deaf session: its catch-up query gets no
    answer. Live messages (the server still sends them) stay held past
    HOLD_MAX until the probe gives up on the session; the fresh session's
    catch-up brings the missed ones first (the chaos test saw 0970 before
    0890: they had been let through after HOLD_MAX)."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    plaintext_with(app, BOB)
    server.send(bob_says("b0", "seen", f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A0"/>'))
    server.request_ack()
    platform.run()
    server.archive = [("A0", platform.clock, bob_says("b0", "seen"))]
    for n in (1, 2):  # archived, never delivered to this page
        server.archive.append((f"A{n}", platform.clock, bob_says(f"b{n}", f"missed {n}")))
    platform.reload()
    server.deafen_on_resume = True
    # A hold shorter than the probe: it runs out while the session is unproven.
    monkeypatch.setattr(chat_module, "HOLD_MAX", RESUME_PROBE_TIMEOUT / 3)
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run(timers=False)
    platform.advance(1)
    assert app2.state == "online" and server.resumes[-1][0] == "resumed"
    server.archive.append(("A3", platform.clock, bob_says("b3", "live")))
    server.send(bob_says("b3", "live", f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A3"/>'))
    platform.advance(RESUME_PROBE_TIMEOUT / 2)
    assert "live" not in bodies(app2, BOB)  # still held: the session is unproven
    server.deafen_on_resume = False
    platform.advance(RESUME_PROBE_TIMEOUT)
    platform.run()
    assert app2.state == "online" and server.binds == 2
    assert bodies(app2, BOB) == ["seen", "missed 1", "missed 2", "live"]


def test_a_resumed_session_that_answers_stays() -> None:
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    [previd] = server.sessions
    platform.connections[-1].drop()
    platform.run()
    platform.advance(RESUME_PROBE_TIMEOUT * 2)
    assert app.state == "online" and len(platform.connections) == 2
    assert server.resumes == [("resumed", previd)] and server.binds == 1


@pytest.mark.parametrize("condition", ["remote-connection-failed", None])
def test_a_cut_before_the_resume_was_asked_for_resumes_next_time(condition: str | None) -> None:
    """The connection of a resume attempt goes during SASL (a network cut, or
    the proxy losing the server): `<resume/>` never went out, the state is
    good; the next attempt resumes. One that ends while `<resume/>` waits for
    its answer starts afresh (a server may close on one it can't take)."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    [previd] = server.sessions
    sasl = server._sasl
    cuts: list[str] = []

    def cut(element: Element) -> None:
        if element.name == "auth" and not cuts:
            cuts.append("sasl")
            conn = platform.connections[-1]
            if condition is None:
                conn.drop()
            else:
                conn.deliver(stream_error(condition))
                conn.stall()
            return
        sasl(element)

    server._sasl = cut  # type: ignore[method-assign]
    platform.connections[0].drop()
    platform.run()
    assert cuts == ["sasl"] and app.state == "online"
    assert server.resumes == [("resumed", previd)] and server.binds == 1

    def no_answer(element: Element) -> None:
        cuts.append("resume")
        platform.connections[-1].drop()

    server._resume = no_answer  # type: ignore[method-assign]
    platform.connections[-1].drop()
    platform.run()
    assert cuts == ["sasl", "resume"] and app.state == "online"
    assert server.binds == 2  # then afresh, at once
    assert platform.connected_at[-1] == platform.connected_at[-2]


def test_a_new_page_whose_resume_attempt_is_cut_tries_again() -> None:
    """After a reload the first connection resumes the stored session; cut
    before `<resume/>` went out, the page doesn't show an error: it tries
    again and resumes (the session still waits on the server)."""
    server, platform, _app, _rec = logged_in(trusted=True, sm=True)
    [previd] = server.sessions
    server.send(bob_says("b1", "stored"))
    platform.run()
    platform.reload()
    sasl = server._sasl
    cut: list[bool] = []

    def cut_once(element: Element) -> None:
        if element.name == "auth" and not cut:
            cut.append(True)
            platform.connections[-1].drop()
            return
        sasl(element)

    server._sasl = cut_once  # type: ignore[method-assign]
    app2 = ChatApp(platform)
    rec2 = Recorder(app2)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert cut and app2.state == "online"
    assert "error" not in [s[0] for s in rec2.states()]
    assert server.resumes == [("resumed", previd)] and server.binds == 1
    app2.open_chat(BOB)
    platform.run()
    assert bodies(app2, BOB) == ["stored"]


@pytest.mark.parametrize("missed", [0, 2])
def test_message_archived_before_our_held_presence_counts_is_caught_up(missed: int) -> None:
    """The chaos test's lost messages. A fresh session (its resumption failed)
    asks the archive before sending its initial presence; the server answers
    from the archive as it is then, and a message archived right after goes
    to our other resources (the old session, still hibernating), not to us:
    no resource of ours had sent presence. A live message later must not
    move the cursor over it: the catch-up asks once more after the presence."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    store = app.store
    assert store is not None
    server.send(bob_says("b0", "seen", f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A0"/>'))
    platform.run()
    server.archive = [("A0", platform.clock, bob_says("b0", "seen"))]
    assert store.cursor().archive_id == "A0"  # type: ignore[union-attr]
    # While we are away: missed messages in the archive, and the session gone.
    for n in range(1, missed + 1):
        server.archive.append((f"A{n}", platform.clock, bob_says(f"b{n}", f"missed {n}")))
    server.sessions.clear()
    routed = len(server.archive) + 1
    presences = len(server.stanzas("presence"))

    def archived_meanwhile(_queryid: str | None) -> None:
        server.after_archive_query = None
        assert len(server.stanzas("presence")) == presences  # ours is still held
        server.archive.append((
            f"A{routed}", platform.clock, bob_says(f"b{routed}", "routed elsewhere")
        ))

    server.after_archive_query = archived_meanwhile
    platform.connections[0].drop()
    platform.run()
    assert app.state == "online" and server.binds == 2
    assert server.after_archive_query is None  # the race happened
    # … and live messages come to us now, moving the cursor.
    live = routed + 1
    server.archive.append((f"A{live}", platform.clock, bob_says(f"b{live}", "live")))
    stanza_id = f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A{live}"/>'
    server.send(bob_says(f"b{live}", "live", stanza_id))
    platform.run()
    expected = ["seen", *[f"missed {n}" for n in range(1, missed + 1)], "routed elsewhere", "live"]
    assert bodies(app, BOB) == expected
    assert store.cursor().archive_id == f"A{live}"  # type: ignore[union-attr]
    # The first query went out before our presence, the second after it.
    queries = [q for q in server.archive_queries if q[0] is None]
    first_after = f"A{missed}" if missed else "A0"
    assert queries[-2:] == [(None, "A0", None), (None, first_after, None)]
    # Once only: the next fresh session's catch-up brings nothing new.
    server.sessions.clear()
    platform.connections[-1].drop()
    platform.run()
    assert app.state == "online" and bodies(app, BOB) == expected


def test_missed_messages_never_go_before_ones_received_live_ahead_of_them() -> None:
    """A busy page stamps a live message with its own clock, a second after
    the server archived it; the next ones, missed live (the link broke), come
    from the archive with the server's (earlier) second. They still follow
    it: the chaos test with reloads saw "b2a 0349" before "b2a 0300"."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    store = app.store
    assert store is not None
    archived_at = platform.clock
    platform.advance(1.5)  # the page got to it late
    server.archive = [("A0", archived_at, bob_says("b0", "live"))]
    server.send(bob_says("b0", "live", f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A0"/>'))
    platform.run()
    assert store.cursor().archive_id == "A0"  # type: ignore[union-attr]
    server.sessions.clear()  # the session is gone: a fresh one catches up
    for n in (1, 2):
        server.archive.append((f"A{n}", archived_at, bob_says(f"b{n}", f"missed {n}")))
    platform.connections[0].drop()
    platform.run()
    assert app.state == "online" and server.binds == 2
    assert bodies(app, BOB) == ["live", "missed 1", "missed 2"]


def test_a_long_catch_up_that_progresses_keeps_live_messages_after_it() -> None:
    """Live messages wait for the catch-up while pages keep coming, even when
    it takes longer than HOLD_MAX in all (a slow page, 1,000 missed): let
    through early, they went before the archived ones still to come."""
    server, platform, app, _rec = logged_in(trusted=True, sm=True)
    server.send(bob_says("b0", "seen", f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A0"/>'))
    platform.run()
    server.archive = [("A0", platform.clock, bob_says("b0", "seen"))]
    missed = [f"missed {n}" for n in range(1, 251)]  # three pages
    for n, body in enumerate(missed, 1):
        server.archive.append((f"A{n}", platform.clock, bob_says(f"b{n}", body)))
    server.sessions.clear()  # a fresh session catches up
    server.defer_archive = True
    platform.connections[0].drop()
    platform.run(timers=False)
    for _ in range(20):  # the reconnect delay
        if app.state == "online":
            break
        platform.advance(0.5)
    assert app.state == "online" and len(server.deferred_archive) == 1
    live = f'<stanza-id xmlns="{SID}" by="{ALICE}" id="A999"/>'
    server.archive.append(("A999", platform.clock, bob_says("b999", "live")))
    server.send(bob_says("b999", "live", live))
    for _page in range(5):  # three pages, the last answered twice (tail query)
        platform.advance(HOLD_MAX - 1)  # slow, but each page comes in time
        if not server.deferred_archive:
            break
        server.answer_archive()
        platform.run(timers=False)
    platform.run()
    assert bodies(app, BOB) == ["seen", *missed, "live"]


# -- liveness (XEP-0199) --------------------------------------------------------------


def test_ping_after_idle_and_a_frame_keeps_it_alive() -> None:
    server, platform, app, _rec = logged_in()
    platform.advance(PING_IDLE - 1)
    assert server.pings == 0
    platform.advance(1)
    assert server.pings == 1  # answered at once
    platform.advance(PING_TIMEOUT + 1)
    assert app.state == "online" and len(platform.connections) == 1
    # Any frame counts: a message half way means the next ping waits.
    platform.advance(PING_IDLE / 2 - PING_TIMEOUT - 1)
    server.send(bob_says("b1", "still here"))
    platform.run(timers=False)
    platform.advance(PING_IDLE - 1)
    assert server.pings == 1
    platform.advance(1)
    assert server.pings == 2 and app.state == "online"


def test_no_answer_to_the_ping_means_the_connection_is_lost() -> None:
    server, platform, app, rec = logged_in(sm=True)
    conn = platform.connections[0]
    conn.stall()
    platform.advance(PING_IDLE)
    assert any("urn:xmpp:ping" in frame for frame in conn.lost)
    platform.advance(PING_TIMEOUT - 1)
    assert app.state == "online"
    platform.advance(1)
    assert rec.states()[-1] == ("reconnecting", "Reconnecting…")
    assert isinstance(app.last_error, NetworkError) and conn.closed
    platform.run()
    assert app.state == "online" and len(platform.connections) == 2
    assert [r[0] for r in server.resumes] == ["resumed"]


# -- network and visibility -----------------------------------------------------------


def test_offline_drops_at_once_and_waits_for_the_network() -> None:
    server, platform, app, rec = logged_in(sm=True)
    conn = platform.connections[0]
    app.set_network(False)
    assert not app.network_up
    assert conn.closed_by_app and not any("<close" in f for f in conn.sent)
    assert app.state == "reconnecting"
    platform.advance(600)
    assert len(platform.connections) == 1 and app.state == "reconnecting"
    app.set_network(True)
    platform.advance(0)
    assert len(platform.connections) == 2 and app.state == "online"
    assert [r[0] for r in server.resumes] == ["resumed"]
    assert ("state", "error", rec.states()[-1][1]) not in rec.events


def test_visibility_is_told_to_the_server_with_csi() -> None:
    server, platform, app, _rec = logged_in(csi=True)
    assert server.csi_states == []  # a fresh session starts active
    app.set_visible(False)
    app.set_visible(False)
    app.set_visible(True)
    assert server.csi_states == ["inactive", "active"]
    # Hidden before the login: said once online.
    server, platform, app, _rec = setup(csi=True)
    app.set_visible(False)
    app.login("alice", "s3cret", False)
    platform.run()
    assert app.state == "online" and server.csi_states == ["inactive"]
    # A server without CSI hears nothing of it.
    server, platform, app, _rec = logged_in()
    app.set_visible(False)
    app.set_visible(True)
    assert server.csi_states == [] and app.state == "online"


def test_visibility_is_told_again_after_a_resume() -> None:
    """The server keeps the state the old connection set (XEP-0352): the page
    was hidden then, visible now, so the resumed session must say active."""
    server, platform, app, _rec = logged_in(sm=True, csi=True)
    app.set_visible(False)
    assert server.csi_states == ["inactive"]
    platform.connections[0].drop()
    platform.run(timers=False)
    app.set_visible(True)  # while reconnecting
    platform.run()
    assert app.state == "online" and [r[0] for r in server.resumes] == ["resumed"]
    assert server.csi_states == ["inactive", "active"]


# -- gaps ---------------------------------------------------------------------------


def archived(n: int, who: str = "bob", body: str | None = None) -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" id="{who}{n}" from="{who}@example.org/x" '
        f'to="alice@example.org"><body>{body or f"{who} {n}"}</body></message>'
    )


def test_gap_when_the_cursor_left_the_archive_and_filling_it() -> None:
    server, platform, app, rec = setup()
    base = platform.clock - 1000
    server.archive = [("C0", base, archived(0, "carol"))]
    server.archive += [(f"A{n}", base + n, archived(n)) for n in (1, 2, 3)]
    app.login("alice", "s3cret", False)
    platform.run()
    assert bodies(app, BOB) == ["bob 1", "bob 2", "bob 3"] and bodies(app, CAROL) == ["carol 0"]
    assert app.store is not None and app.store.cursor().archive_id == "A3"  # type: ignore[union-attr]
    # While we were away the archive lost the cursor's message (and carol's
    # old one); newer ones came.
    server.archive = [(f"A{n}", base + n, archived(n)) for n in (1, 2)]
    server.archive += [(f"A{n}", base + n, archived(n)) for n in (4, 5)]
    server.archive.append(("C6", base + 6, archived(6, "carol")))
    server.connection.drop()  # type: ignore[union-attr]
    platform.run()
    assert app.state == "online"
    assert server.archive_queries[-2:] == [(None, "A3", None), (None, None, "")]
    store = app.store
    entries = store.latest(BOB, 10)
    assert [e.kind for e in entries] == ["message"] * 3 + ["gap"] + ["message"] * 2
    [gap] = store.gaps(BOB)
    assert isinstance(gap, Gap) and gap.stamp == base + 3
    assert (BOB, [gap]) in rec.named("messages")
    [carol_gap] = store.gaps(CAROL)
    assert bodies(app, CAROL) == ["carol 0", "carol 6"]
    # Try again: the archive is asked for bob's messages before the first
    # archived one after the gap; they reach back past it: the gap goes.
    assert app.fill_gap(BOB, gap.stamp, gap.seq) is True
    assert app.fill_gap(BOB, gap.stamp, gap.seq) is False  # already asked
    platform.run()
    assert server.archive_queries[-1] == (BOB, None, "A4")
    assert rec.named("gap") == [(BOB, gap)]
    assert store.gaps(BOB) == [] and bodies(app, BOB) == [f"bob {n}" for n in (1, 2, 3, 4, 5)]
    # Carol's: the archive has nothing older any more: it stays, with a notice.
    assert app.fill_gap(CAROL, carol_gap.stamp, carol_gap.seq) is True
    platform.run()
    assert server.archive_queries[-1] == (CAROL, None, "C6")
    assert store.gaps(CAROL) == [carol_gap]
    assert rec.named("notice")[-1] == ("Those messages are no longer on the server.",)
    assert app.fill_gap(CAROL, 0.0, 12345) is False  # no such gap


def test_gap_is_marked_in_conversations_not_read_yet_after_a_reload() -> None:
    """The usual case: the page is reloaded, the catch-up runs at login,
    before any chat is opened; the stored conversations still get their gap."""
    server, platform, app, _rec = setup()
    base = platform.clock - 1000
    server.archive = [(f"A{n}", base + n, archived(n)) for n in (1, 2, 3)]
    app.login("alice", "s3cret", True)
    platform.run()
    storage = platform.databases[ALICE]
    assert storage.data["cursors"][""]["archive_id"] == "A3"  # type: ignore[index]
    server.archive = [(f"A{n}", base + n, archived(n)) for n in (4, 5)]
    platform.reload()
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert server.archive_queries[-2:] == [(None, "A3", None), (None, None, "")]
    app2.open_chat(BOB)
    platform.run()
    assert app2.store is not None
    assert [e.kind for e in app2.store.latest(BOB, 10)] == [
        "message", "message", "message", "gap", "message", "message"
    ]


# -- older history ------------------------------------------------------------------


def test_load_older_pages_back_one_conversation() -> None:
    server, platform, app, rec = setup()
    base = platform.clock - 10_000
    server.archive = [(f"C{n}", base + n / 10, archived(n, "carol")) for n in range(5)]
    server.archive += [(f"A{n}", base + n, archived(n)) for n in range(1, 261)]
    app.login("alice", "s3cret", False)
    platform.run()
    assert bodies(app, BOB) == [f"bob {n}" for n in range(61, 261)]
    assert app.messages(CAROL) == []
    assert app.load_older(BOB) is True
    assert app.load_older(BOB) is False  # one at a time
    platform.run()
    assert server.archive_queries[-1] == (BOB, None, "A61")
    assert rec.named("history") == [(BOB, True)]
    assert bodies(app, BOB) == [f"bob {n}" for n in range(11, 261)]
    assert app.store is not None and not app.store.is_complete(BOB)
    assert app.load_older(BOB) is True
    platform.run()
    assert server.archive_queries[-1] == (BOB, None, "A11")
    assert rec.named("history")[-1] == (BOB, False)
    assert bodies(app, BOB) == [f"bob {n}" for n in range(1, 261)]
    assert app.store.is_complete(BOB)
    assert app.load_older(BOB) is False  # nothing older
    assert app.messages(CAROL) == []  # the `with` filter kept carol's out
    assert app.unread(BOB) == 0  # old history isn't unread


def test_complete_history_is_remembered_on_a_trusted_device() -> None:
    server, platform, app, _rec = setup()
    server.archive = [(f"A{n}", platform.clock - 100 + n, archived(n)) for n in (1, 2)]
    app.login("alice", "s3cret", True)
    platform.run()
    assert app.load_older(BOB) is True
    platform.run()
    assert app.store is not None and app.store.is_complete(BOB)
    platform.reload()
    app2 = ChatApp(platform)
    rec2 = Recorder(app2)
    app2.login("alice", "s3cret", True)
    platform.run()
    app2.open_chat(BOB)
    platform.run()
    assert rec2.named("history") == [(BOB, False)]
    assert app2.load_older(BOB) is False


# -- corrections (XEP-0308) ------------------------------------------------------------

REPLACE = '<replace xmlns="urn:xmpp:message-correct:0" id="{}"/>'


def test_corrections_only_from_the_author() -> None:
    server, platform, app, rec = logged_in()
    server.send(bob_says("b1", "helo"))
    platform.run()
    [m] = app.messages(BOB)
    server.send(bob_says("b2", "hello", REPLACE.format("b1")))
    platform.run()
    assert (m.body, m.edited) == ("hello", "b2")
    assert app.messages(BOB) == [m] and rec.named("message")[-1] == (BOB, m)
    assert app.unread(BOB) == 1  # a correction is no new message
    # Someone else can't rewrite bob's words.
    server.send(
        '<message xmlns="jabber:client" type="chat" id="c1" from="carol@example.org/x">'
        f'<body>carol was here</body>{REPLACE.format("b1")}</message>'
    )
    platform.run()
    assert (m.body, m.edited) == ("hello", "b2") and app.messages(CAROL) == []
    # Nor ours; our own other client can.
    mine = app.send_message(BOB, "my tpyo")
    assert mine is not None
    platform.run()
    server.send(bob_says("b3", "bob's version", REPLACE.format(mine.id)))
    platform.run()
    assert (mine.body, mine.edited) == ("my tpyo", None)
    server.send(
        '<message xmlns="jabber:client" type="chat" from="alice@example.org">'
        '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        '<message xmlns="jabber:client" type="chat" id="p2" from="alice@example.org/phone" '
        f'to="bob@example.org"><body>my typo</body>{REPLACE.format(mine.id)}</message>'
        "</forwarded></sent></message>"
    )
    platform.run()
    assert (mine.body, mine.edited) == ("my typo", "p2")
    assert bodies(app, BOB) == ["hello", "my typo"]
    assert app.preview(BOB) == "my typo"


# -- another tab takes over ---------------------------------------------------------------


def test_step_aside_keeps_the_session_resumable_and_retry_resumes_it() -> None:
    server, platform, app, rec = logged_in(trusted=True, sm=True)
    server.send(bob_says("b1", "hi"))
    platform.run()
    conn = platform.connections[0]
    app.step_aside()
    assert rec.states()[-1] == ("elsewhere", "Roost is open in another tab.")
    assert conn.closed_by_app and not any("<close" in f for f in conn.sent)
    state = stored_resume(platform)
    assert state is not None and state["id"] in server.sessions
    assert app.can_retry
    platform.run()
    assert app.state == "elsewhere" and len(platform.connections) == 1
    assert bodies(app, BOB) == ["hi"]  # what it shows stays
    assert [m["body"] for m in platform.databases[ALICE].messages(BOB)] == ["hi"]
    app.retry()
    platform.run()
    assert app.state == "online" and len(platform.connections) == 2
    assert server.resumes == [("resumed", state["id"])] and server.binds == 1


# -- forged input ---------------------------------------------------------------------


def test_forged_input_stores_nothing() -> None:
    server, platform, app, rec = logged_in(trusted=True)
    storage = platform.databases[ALICE]
    roster = dict(storage.data["roster"])
    server.send(
        '<iq xmlns="jabber:client" type="set" id="evil" from="mallory@evil.example">'
        '<query xmlns="jabber:iq:roster"><item jid="mallory@evil.example" subscription="both"/>'
        "</query></iq>"
    )
    server.send(
        '<message xmlns="jabber:client" type="chat" from="mallory@evil.example/x">'
        '<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        f"{bob_says('f1', 'FORGED CARBON')}</forwarded></received></message>"
    )
    for sender in ("alice@example.org", "mallory@evil.example"):
        server.send(
            f'<message xmlns="jabber:client" from="{sender}">'
            '<result xmlns="urn:xmpp:mam:2" queryid="not-ours" id="Z1">'
            '<forwarded xmlns="urn:xmpp:forward:0">'
            '<delay xmlns="urn:xmpp:delay" stamp="2023-01-01T00:00:00Z"/>'
            f"{bob_says('f2', 'FORGED ARCHIVE')}</forwarded></result></message>"
        )
    platform.run()
    app.flush_storage()
    assert app.state == "online"
    assert rec.named("messages") == [] and app.messages(BOB) == []
    assert storage.records("messages") == [] and storage.data["roster"] == roster
    assert "mallory@evil.example" not in app.contacts
    assert app.store is not None and app.store.cursor() is None


def test_a_reload_before_the_first_catch_up_was_stored_fetches_all_since_it_began() -> None:
    """A device's first page (no cursor yet) reloaded before IndexedDB
    committed anything: not only the newest ARCHIVE_HISTORY come, but every
    message from when the tab's first catch-up began (the chaos test lost
    the oldest of a burst this way)."""
    server, platform, _app, _rec = logged_in(trusted=True, sm=True)
    storage = platform.databases[ALICE]
    storage.hold(commit=False)  # nothing reaches the disk from now on
    assert server.archive is not None
    began = platform.clock
    for i in range(250):  # routed elsewhere (another session), so only archived
        server.archive.append((f"a{i:03d}", began + 1 + i, bob_says(f"b{i:03d}", f"burst {i:03d}")))
    platform.clock = began + 400
    platform.reload()
    app2 = ChatApp(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    app2.open_chat(BOB)
    platform.run()
    assert app2.state == "online"
    assert bodies(app2, BOB) == [f"burst {i:03d}" for i in range(250)]
