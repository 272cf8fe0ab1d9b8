"""XEP-0198 against a real Prosody (mod_smacks) over mod_websocket: the
connection dies, a new client resumes from `resume_state()`, nothing is
lost and nothing arrives twice; after the hibernation time it binds afresh."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from roost.xmpp.events import (
    Acked,
    ChatReceived,
    Online,
    Resumed,
    ResumeFailed,
    RosterLoaded,
    SmEnabled,
)

from tests.conftest import make_prosody
from tests.xmpp.test_live_prosody import Session

pytestmark = pytest.mark.integration


def bodies_until(session: Session, marker: str) -> list[str]:
    """Bodies of the chat messages received up to and including `marker`."""
    bodies: list[str] = []
    while not bodies or bodies[-1] != marker:
        event = session.pump(ChatReceived)
        assert isinstance(event, ChatReceived)
        bodies.append(event.message.body)
    return bodies


def online_with_sm(url: str, user: str) -> Session:
    session = Session(url, f"{user}@localhost", user)
    session.pump(Online)
    enabled = session.pump(SmEnabled)
    assert isinstance(enabled, SmEnabled) and enabled.resumable and enabled.id
    return session


def test_resume_after_the_connection_dropped(fresh_prosody) -> None:  # type: ignore[no-untyped-def]
    url = fresh_prosody.websocket_url
    alice = online_with_sm(url, "alice")
    bob = online_with_sm(url, "bob")
    bob_jid = bob.client.jid

    sent = alice.client.send_chat(bob_jid, "before")
    alice.flush()
    assert alice.client.request_ack()
    alice.flush()
    while True:  # the roster get and presence are acked too, without ids
        acked = alice.pump(Acked)
        assert isinstance(acked, Acked)
        if acked.ids:
            break
    assert acked.ids == [sent]
    assert bodies_until(bob, "before") == ["before"]

    # Queued but never sent: the socket dies first.
    lost = alice.client.send_chat(bob_jid, "lost in transit")
    alice.client.take_output()
    state = json.loads(json.dumps(alice.client.resume_state()))
    assert [msg_id for _, msg_id in state["unacked"]] == [lost]
    old_jid = alice.client.jid
    alice.kill()  # Prosody keeps the session (hibernation)

    bob.client.send_chat(old_jid, "during the outage")
    bob.flush()
    time.sleep(0.3)

    alice2 = Session(url, "alice@localhost", "alice", resume=state)
    resumed = alice2.pump(Resumed)
    assert resumed == Resumed(old_jid)
    assert alice2.client.jid == old_jid
    acked = alice2.pump(Acked)  # the re-sent message, acked after <r/>
    assert acked == Acked([lost])

    # Exactly once each way.
    bob.client.send_chat(old_jid, "marker")
    bob.flush()
    assert bodies_until(alice2, "marker") == ["during the outage", "marker"]
    alice2.client.send_chat(bob_jid, "marker 2")
    alice2.flush()
    assert bodies_until(bob, "marker 2") == ["lost in transit", "marker 2"]
    assert not [e for e in alice2.events if isinstance(e, (ChatReceived, Online))]
    alice2.close()
    bob.close()


def test_resume_after_hibernation_expired_starts_fresh(tmp_path: Path) -> None:
    server = make_prosody(tmp_path / "prosody", smacks_hibernation_time=1)
    try:
        url = server.websocket_url
        alice = online_with_sm(url, "alice")
        bob = online_with_sm(url, "bob")
        bob_jid = bob.client.jid
        lost = alice.client.send_chat(bob_jid, "lost in transit")
        alice.client.take_output()
        state = alice.client.resume_state()
        assert state is not None
        alice.kill()
        time.sleep(3)  # past smacks_hibernation_time

        alice2 = Session(url, "alice@localhost", "alice", resume=state)
        failed = alice2.pump(ResumeFailed)
        assert failed == ResumeFailed([lost], "item-not-found")
        online = alice2.pump(Online)
        assert isinstance(online, Online) and str(online.jid.bare) == "alice@localhost"
        assert isinstance(alice2.pump(RosterLoaded), RosterLoaded)
        enabled = alice2.pump(SmEnabled)
        assert isinstance(enabled, SmEnabled) and enabled.id != state["id"]

        # The app re-sends it under the same id; it arrives once.
        assert alice2.client.send_chat(bob_jid, "lost in transit", id=lost) == lost
        alice2.client.send_chat(bob_jid, "marker")
        alice2.flush()
        received: list[tuple[str | None, str]] = []
        while not received or received[-1][1] != "marker":
            event = bob.pump(ChatReceived)
            assert isinstance(event, ChatReceived)
            received.append((event.message.id, event.message.body))
        assert received[0] == (lost, "lost in transit")
        assert len(received) == 2
        alice2.close()
        bob.close()
    finally:
        server.stop()
