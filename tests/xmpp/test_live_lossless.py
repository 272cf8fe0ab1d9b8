"""Issue 3 core features against a real Prosody (mod_mam, mod_csi_simple,
mod_ping, mod_smacks) over mod_websocket: per-conversation archive paging,
corrections, client state indication, pings, forged roster pushes."""

from __future__ import annotations

import time

import pytest
from roost.xmpp.element import Element
from roost.xmpp.events import (
    ArchiveDone,
    ArchiveGap,
    ArchiveMessage,
    ChatReceived,
    Closed,
    Dropped,
    Online,
    PresenceChanged,
    RosterChanged,
    RosterLoaded,
)
from roost.xmpp.xmlparse import parse_xml

from tests.xmpp.test_live_prosody import Session

pytestmark = pytest.mark.integration


def online(url: str, user: str) -> Session:
    session = Session(url, f"{user}@localhost", user)
    session.pump(Online)
    session.pump(RosterLoaded)
    return session


def frames_for(session: Session, seconds: float) -> list[tuple[str, list[object]]]:
    """Every frame (with its events) that arrives within `seconds`; events are
    also kept in `session.events` for later `pump`s."""
    got: list[tuple[str, list[object]]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            text = session.ws.recv(timeout=left)
        except TimeoutError:
            break
        assert isinstance(text, str)
        events: list[object] = list(session.client.receive(parse_xml(text)))
        session.flush()
        assert not any(isinstance(e, Closed) for e in events), events
        session.events.extend(events)
        got.append((text, events))
    return got


def received_body(session: Session, body: str) -> ChatReceived:
    while True:
        event = session.pump(ChatReceived)
        assert isinstance(event, ChatReceived)
        if event.message.body == body:
            return event


def archive_page(session: Session, query_id: str) -> tuple[list[ArchiveMessage], ArchiveDone]:
    done = session.pump(ArchiveDone)
    assert isinstance(done, ArchiveDone) and done.query_id == query_id
    page = [e for e in session.events if isinstance(e, ArchiveMessage)]
    assert all(m.query_id == query_id for m in page)
    for m in page:
        session.events.remove(m)
    return page, done


def test_archive_per_conversation_paging_back_and_gap(fresh_prosody) -> None:  # type: ignore[no-untyped-def]
    url = fresh_prosody.websocket_url
    alice, bob, carol = online(url, "alice"), online(url, "bob"), online(url, "carol")
    bob_jid, carol_jid = bob.client.jid.bare, carol.client.jid.bare

    to_bob = [alice.client.send_chat(bob_jid, f"to bob {i}") for i in range(5)]
    alice.client.send_chat(carol_jid, "to carol 0")
    alice.client.send_chat(carol_jid, "to carol 1")
    alice.flush()
    received_body(bob, "to bob 4")
    received_body(carol, "to carol 1")
    bob.client.send_chat(alice.client.jid.bare, "from bob")
    bob.flush()
    received_body(alice, "from bob")
    # A correction (XEP-0308): its own id and origin-id, the original's id in <replace/>.
    fix = alice.client.send_chat(bob_jid, "to bob 4, fixed", replaces=to_bob[4])
    alice.flush()
    corrected = received_body(bob, "to bob 4, fixed").message
    assert (corrected.id, corrected.origin_id, corrected.replaces) == (fix, fix, to_bob[4])
    # Our own live copy arrived before we query: the archive has them all.
    expected = [f"to bob {i}" for i in range(5)] + ["from bob", "to bob 4, fixed"]

    # Paging back from the end, three archive items a page, only bob's conversation.
    pages: list[list[ArchiveMessage]] = []
    query_id = alice.client.query_archive(with_jid=bob_jid, before_last=True, max=3)
    alice.flush()
    while True:
        page, done = archive_page(alice, query_id)
        assert len(page) <= 3
        pages.insert(0, page)
        if done.complete:
            break
        assert done.first is not None
        query_id = alice.client.query_archive(with_jid=bob_jid, before_id=done.first, max=3)
        alice.flush()
    assert len(pages) >= 3  # it really paged
    history = [m for page in pages for m in page]
    assert [m.message.body for m in history] == expected
    assert [m.direction for m in history] == ["out"] * 5 + ["in", "out"]
    assert history[-1].message.replaces == to_bob[4] and history[-1].message.origin_id == fix
    assert history[0].message.origin_id == to_bob[0]
    assert len({m.archive_id for m in history}) == len(history)

    # Carol's conversation holds only hers.
    query_id = alice.client.query_archive(with_jid=carol_jid, before_last=True)
    alice.flush()
    page, done = archive_page(alice, query_id)
    assert [m.message.body for m in page] == ["to carol 0", "to carol 1"] and done.complete

    # Forward from an id the archive doesn't have: a gap, not an empty page.
    query_id = alice.client.query_archive(with_jid=bob_jid, after_id="no-such-archive-id")
    alice.flush()
    assert alice.pump(ArchiveGap) == ArchiveGap(query_id)
    for session in (alice, bob, carol):
        session.close()


def test_csi_holds_presence_while_inactive(fresh_prosody) -> None:  # type: ignore[no-untyped-def]
    url = fresh_prosody.websocket_url
    alice = online(url, "alice")
    assert alice.client.csi_supported  # mod_csi_simple is loaded
    bob = online(url, "bob")
    bob_jid = bob.client.jid
    while True:  # bob's initial presence reaches alice
        seen = alice.pump(PresenceChanged)
        assert isinstance(seen, PresenceChanged)
        if seen.jid == bob_jid:
            break
    frames_for(alice, 0.3)
    alice.events.clear()

    assert not alice.client.set_active(True)  # already active
    assert alice.client.set_active(False)
    alice.flush()
    time.sleep(0.2)  # the <inactive/> is handled before bob's presence
    bob.client.send_presence(show="away")
    bob.flush()
    held = frames_for(alice, 1.0)
    assert not any(
        isinstance(e, PresenceChanged) and e.jid == bob_jid for _, events in held for e in events
    ), held  # an unimportant stanza: Prosody holds it while we're inactive

    assert alice.client.set_active(True)
    alice.flush()
    away = alice.pump(PresenceChanged, timeout=5)
    assert isinstance(away, PresenceChanged) and away.jid == bob_jid and away.show == "away"

    # XEP-0199: a ping to our server is answered by it; no event, the session goes on.
    ping_id = alice.client.ping()
    alice.flush()
    got = frames_for(alice, 1.0)
    answers = [(text, events) for text, events in got if parse_xml(text).get("id") == ping_id]
    assert len(answers) == 1, got
    answer = parse_xml(answers[0][0])
    assert answer.get("type") == "result" and answer.get("from") == "localhost"
    assert answers[0][1] == []
    assert alice.client.online
    alice.close()
    bob.close()


def test_forged_roster_push_from_a_contact_is_refused(fresh_prosody) -> None:  # type: ignore[no-untyped-def]
    url = fresh_prosody.websocket_url
    alice, bob = online(url, "alice"), online(url, "bob")
    before = dict(alice.client.roster)
    to = str(alice.client.jid)
    push = Element("iq", "jabber:client", {"type": "set", "id": "evil", "to": to})
    query = push.add("query", "jabber:iq:roster")
    query.add("item", attrs={"jid": "mallory@localhost", "subscription": "both"})
    # Through bob's stream (so its XEP-0198 count stays right); the client has
    # no API for sending someone a roster push, rightly.
    bob.client._stream.send(push)
    bob.flush()
    dropped = alice.pump(Dropped)
    assert isinstance(dropped, Dropped) and "roster push from bob@localhost" in dropped.reason
    frames_for(alice, 0.3)
    assert not any(isinstance(e, RosterChanged) for e in alice.events)
    assert alice.client.roster == before
    refusals = [text for text, _ in frames_for(bob, 1.0) if parse_xml(text).get("id") == "evil"]
    assert len(refusals) == 1
    refusal = parse_xml(refusals[0])
    assert refusal.get("type") == "error" and refusal.get("from") == str(alice.client.jid)
    error = refusal.find("error")
    assert error is not None
    assert error.find("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas") is not None
    alice.close()
    bob.close()


def test_archive_query_before_initial_presence_keeps_offline_copies_back(fresh_prosody) -> None:  # type: ignore[no-untyped-def]
    """`hold_presence`: the catch-up query goes before the initial presence,
    and Prosody (mod_mam) then doesn't push its offline copies: the archive
    brings each missed message once. Without it, both come."""
    url = fresh_prosody.websocket_url
    bob = online(url, "bob")
    alice_jid = "alice@localhost"
    for i in range(3):
        bob.client.send_chat(alice_jid, f"while away {i}")
    bob.flush()
    frames_for(bob, 0.3)

    alice = Session(url, alice_jid, "alice", hold_presence=True)
    alice.pump(Online)
    query_id = alice.client.query_archive(before_last=True, max=10)
    alice.client.send_initial_presence()
    alice.client.send_initial_presence()  # once only
    alice.flush()
    page, done = archive_page(alice, query_id)
    assert done.complete
    assert [m.message.body for m in page] == [f"while away {i}" for i in range(3)]
    later = frames_for(alice, 1.0)
    live = [e for _, events in later for e in events if isinstance(e, ChatReceived)]
    assert live == [], live  # no offline copies
    sent = [f for f in later if "<presence" in f[0]]
    assert sent, "our own initial presence comes back to us"
    alice.close()

    # A client that sends its presence first gets the offline copies (still
    # stored: Prosody keeps them for clients that don't use the archive).
    plain = Session(url, alice_jid, "alice")
    plain.pump(Online)
    bodies = [received_body(plain, f"while away {i}").message.body for i in range(3)]
    assert bodies == [f"while away {i}" for i in range(3)]
    plain.close()
    bob.close()
