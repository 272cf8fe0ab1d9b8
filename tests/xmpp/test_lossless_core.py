"""Issue 3, core side: origin-id and corrections on received messages,
per-conversation archive queries, XEP-0352 CSI, XEP-0199 pings to the
server, `unacked_ids()`, what `ack_after_confirm` waits for, forged roster
pushes. Transcripts: feed this XML, expect exactly these frames and events."""

from __future__ import annotations

import json

import pytest
from roost.xmpp.client import XmppClient
from roost.xmpp.events import (
    Acked,
    ArchiveDone,
    ArchiveMessage,
    ChatMessage,
    ChatReceived,
    ChatSent,
    Dropped,
    Online,
    Resumed,
    ResumeFailed,
    RosterChanged,
    RosterItem,
    RosterLoaded,
    SmEnabled,
)
from roost.xmpp.jid import JID
from roost.xmpp.xmlparse import parse_xml

from tests.xmpp.support import CountingRandom, ScramServer, features
from tests.xmpp.test_stream_management import (
    BIND_IQ,
    BIND_RESULT,
    ENABLED,
    PRESENCE,
    ROSTER_GET,
    SM,
    SM_FEATURES,
    R,
    a,
    chat_frame,
    incoming,
    saved_session,
    sm_login,
)
from tests.xmpp.test_stream_transcript import (
    CARBONS,
    FROM_BOB,
    FULL,
    MAM,
    ROSTER_ID,
    archive_result,
    authenticate,
    carbon,
    carbons_login,
    feed,
    fin,
    login,
)

CSI = "urn:xmpp:csi:0"
CORRECT = "urn:xmpp:message-correct:0"
SID = "urn:xmpp:sid:0"
CSI_FEATURE = f'<csi xmlns="{CSI}"/>'
BIND = '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>'
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NEXT_ID = "05" * 8  # the first id after login (CountingRandom call 5)


def bound(client: XmppClient, *children: str) -> XmppClient:
    """Authenticate, get these stream features, bind: Online (no SM unless offered)."""
    authenticate(client, ScramServer("alice", "s3cret"))
    assert feed(client, features(*children)) == []
    assert client.take_output() == [BIND_IQ]
    assert feed(client, BIND_RESULT) == [Online(JID.parse(FULL))]
    client.take_output()
    return client


def new_client(**kw: object) -> XmppClient:
    return XmppClient("alice@example.org", "s3cret", random_bytes=CountingRandom(), **kw)  # type: ignore[arg-type]


# -- 1. XEP-0359 origin-id, XEP-0308 corrections ------------------------------------

CORRECTION_FROM_BOB = (
    '<message xmlns="jabber:client" type="chat" id="b2" from="bob@example.org/x" '
    'to="alice@example.org"><body>hello, fixed</body>'
    f'<origin-id xmlns="{SID}" id="o-b2"/><replace xmlns="{CORRECT}" id="b1"/></message>'
)


def corrected(from_jid: str = "bob@example.org/x", to: str = "alice@example.org") -> ChatMessage:
    return ChatMessage(
        "b2", JID.parse(from_jid), JID.parse(to), "hello, fixed", "chat",
        origin_id="o-b2", replaces="b1",
    )


def test_live_message_carries_origin_id_and_replaces() -> None:
    client = login()
    assert feed(client, CORRECTION_FROM_BOB) == [ChatReceived(corrected())]
    plain = (
        '<message xmlns="jabber:client" type="chat" id="b3" from="bob@example.org/x">'
        f'<body>plain</body><origin-id xmlns="{SID}" id=""/><replace xmlns="{CORRECT}"/>'
        "</message>"
    )
    [received] = feed(client, plain)
    assert isinstance(received, ChatReceived)
    # Empty ids are no ids.
    assert received.message.origin_id is None and received.message.replaces is None


def test_carbons_carry_origin_id_and_replaces() -> None:
    client = carbons_login()
    assert feed(client, carbon("received", CORRECTION_FROM_BOB)) == [ChatReceived(corrected())]
    from_phone = CORRECTION_FROM_BOB.replace(
        'from="bob@example.org/x" to="alice@example.org"',
        'from="alice@example.org/phone" to="bob@example.org"',
    )
    assert feed(client, carbon("sent", from_phone)) == [
        ChatSent(corrected("alice@example.org/phone", "bob@example.org"))
    ]


def test_archive_result_carries_origin_id_and_replaces() -> None:
    client = login()
    query_id = client.query_archive()
    client.take_output()
    [archived] = feed(client, archive_result("A9", CORRECTION_FROM_BOB, query_id=query_id))
    assert isinstance(archived, ArchiveMessage)
    assert archived.message.origin_id == "o-b2" and archived.message.replaces == "b1"
    assert archived.message.archive_id == "A9"


def test_send_correction() -> None:
    client = login()
    original = client.send_chat("bob@example.org", "helo")
    fixed = client.send_chat("bob@example.org", "hello", replaces=original)
    assert fixed != original
    [_, frame] = client.take_output()
    assert frame == (
        f'<message xmlns="jabber:client" type="chat" to="bob@example.org" id="{fixed}">'
        f'<body>hello</body><origin-id xmlns="{SID}" id="{fixed}"/>'
        f'<replace xmlns="{CORRECT}" id="{original}"/>'
        '<request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/>'
        '<active xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )
    # Re-sent from the outbox under its own id, still a correction.
    client.send_chat("bob@example.org", "hello", id=fixed, replaces=original)
    [again] = client.take_output()
    assert again == frame
    with pytest.raises(ValueError):
        client.send_chat("bob@example.org", "x", replaces="")


# -- 2. XEP-0313 per conversation -----------------------------------------------------


def test_archive_query_with_a_conversation() -> None:
    client = login()
    query_id = client.query_archive(with_jid="bob@example.org", before_id="A7", max=20)
    [query] = client.take_output()
    iq = parse_xml(query)
    assert iq.get("to") is None  # our own archive
    form = iq.find("query", MAM).find("x", "jabber:x:data")  # type: ignore[union-attr]
    fields = {f.get("var"): f.find_text("value") for f in form.find_all("field")}  # type: ignore[union-attr]
    assert fields == {"FORM_TYPE": MAM, "with": "bob@example.org"}
    assert "<max>20</max><before>A7</before>" in query
    # Results are checked as for any query: our queryid, from our own archive.
    [forged] = feed(client, archive_result("A5", FROM_BOB, query_id=query_id,
                                           sender="bob@example.org"))
    assert isinstance(forged, Dropped) and "forged" in forged.reason
    [ok] = feed(client, archive_result("A6", FROM_BOB, query_id=query_id))
    assert isinstance(ok, ArchiveMessage) and ok.archive_id == "A6"
    iq_id = iq.get("id") or ""
    assert feed(client, fin(iq_id, True, "A6", "A6", 1)) == [
        ArchiveDone(query_id, True, "A6", 1, "A6")
    ]
    client.query_archive(with_jid=JID.parse("carol@example.org"), before_last=True)
    [query] = client.take_output()
    assert '<field var="with"><value>carol@example.org</value></field>' in query
    assert "<before/>" in query


# -- 3. XEP-0352 client state indication --------------------------------------------


def test_csi_only_when_offered_online_and_changed() -> None:
    client = new_client()
    assert not client.csi_supported
    assert not client.set_active(False)  # not even started
    bound(client, BIND, CSI_FEATURE)
    assert client.csi_supported
    assert not client.set_active(True)  # a fresh session is active already
    assert client.take_output() == []
    assert client.set_active(False)
    assert client.take_output() == [f'<inactive xmlns="{CSI}"/>']
    assert not client.set_active(False)
    assert client.take_output() == []
    assert client.set_active(True)
    assert client.take_output() == [f'<active xmlns="{CSI}"/>']
    client.close()
    assert not client.set_active(False)  # closing: not online
    assert client.take_output() == ['<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>']


def test_no_csi_without_the_feature() -> None:
    client = bound(new_client(), BIND)
    assert not client.csi_supported
    assert not client.set_active(False)
    assert client.take_output() == []


def test_csi_nonzas_are_not_counted_by_stream_management() -> None:
    client = new_client()
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, features(BIND, f'<sm xmlns="{SM}"/>', CSI_FEATURE))
    client.take_output()
    feed(client, BIND_RESULT)
    feed(client, ENABLED)
    client.take_output()
    out = client.resume_state()["out"]  # type: ignore[index]
    assert client.set_active(False)
    assert client.take_output() == [f'<inactive xmlns="{CSI}"/>']
    assert client.resume_state()["out"] == out  # type: ignore[index]
    assert feed(client, a(out)) == []  # type: ignore[arg-type]


def test_after_resumption_the_csi_state_is_unknown_so_the_first_call_sends() -> None:
    state, _ = saved_session()
    client = new_client(resume=json.loads(json.dumps(state)))
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, features(BIND, f'<sm xmlns="{SM}"/>', CSI_FEATURE))
    client.take_output()  # <resume/>
    assert feed(client, f'<resumed xmlns="{SM}" previd="sm-1" h="4"/>')[0] == Resumed(
        JID.parse(FULL)
    )
    client.take_output()
    # The server may still have the old connection's <inactive/>.
    assert client.set_active(True)
    assert client.take_output() == [f'<active xmlns="{CSI}"/>']
    assert not client.set_active(True)


def test_after_a_failed_resumption_the_fresh_session_is_active() -> None:
    state, _ = saved_session()
    client = new_client(resume=json.loads(json.dumps(state)))
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, features(BIND, f'<sm xmlns="{SM}"/>', CSI_FEATURE))
    client.take_output()
    [failed] = feed(client, f'<failed xmlns="{SM}"/>')
    assert isinstance(failed, ResumeFailed)
    assert feed(client, BIND_RESULT) == [Online(JID.parse(FULL))]
    client.take_output()
    assert not client.set_active(True)
    assert client.set_active(False)


# -- 4. XEP-0199 ping to our server ---------------------------------------------------


def test_ping_to_our_server_and_its_answers() -> None:
    client = login()
    ping_id = client.ping()
    assert ping_id == NEXT_ID
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="get" id="{ping_id}" to="example.org">'
        '<ping xmlns="urn:xmpp:ping"/></iq>'
    ]
    # Only the domain may answer; the real answer is still taken afterwards.
    [dropped] = feed(
        client, f'<iq xmlns="jabber:client" type="result" id="{ping_id}" from="bob@example.org"/>'
    )
    assert isinstance(dropped, Dropped)
    assert feed(
        client, f'<iq xmlns="jabber:client" type="result" id="{ping_id}" from="example.org"/>'
    ) == []
    # An error answer is not the end of the session.
    second = client.ping()
    client.take_output()
    error = (
        f'<iq xmlns="jabber:client" type="error" id="{second}" from="example.org">'
        f'<error type="cancel"><service-unavailable xmlns="{STANZAS}"/></error></iq>'
    )
    assert feed(client, error) == []
    assert client.online and client.take_output() == []
    # Server pings are still answered.
    assert feed(
        client,
        '<iq xmlns="jabber:client" type="get" id="sp1" from="example.org">'
        '<ping xmlns="urn:xmpp:ping"/></iq>',
    ) == []
    assert client.take_output() == [
        '<iq xmlns="jabber:client" type="result" id="sp1" to="example.org"/>'
    ]


def test_ping_before_online_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        new_client().ping()


# -- 5. unacked_ids / sm_active -------------------------------------------------------


def test_unacked_ids_without_sm_is_empty() -> None:
    client = login()
    client.send_chat("bob@example.org", "one")
    assert client.unacked_ids() == []
    assert not client.sm_active


def test_unacked_ids_follow_sends_and_acks() -> None:
    client = sm_login()
    assert client.sm_active and client.unacked_ids() == []
    one = client.send_chat("bob@example.org", "one")
    two = client.send_chat("bob@example.org", "two")
    client.send_chat_state("bob@example.org", "composing")  # no id: not listed
    assert client.unacked_ids() == [one, two]
    assert feed(client, a(3)) == [Acked([one])]
    assert client.unacked_ids() == [two]
    assert feed(client, a(5)) == [Acked([two])]
    assert client.unacked_ids() == []


def test_unacked_ids_after_resumed_are_what_the_core_resent() -> None:
    state, ids = saved_session()
    client = new_client(resume=json.loads(json.dumps(state)))
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, SM_FEATURES)
    client.take_output()
    feed(client, f'<resumed xmlns="{SM}" previd="sm-1" h="3"/>')
    assert client.take_output() == [chat_frame(ids[1], body="two"), R]
    assert client.unacked_ids() == ids[1:]
    assert client.sm_active


def test_unacked_ids_after_resume_failed_are_empty() -> None:
    state, ids = saved_session()
    client = new_client(resume=json.loads(json.dumps(state)))
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, SM_FEATURES)
    client.take_output()
    assert feed(client, f'<failed xmlns="{SM}"/>') == [
        ResumeFailed(ids[1:], "undefined-condition")
    ]
    assert client.unacked_ids() == []
    feed(client, BIND_RESULT)
    assert client.sm_active  # a new <enable/> went out


def test_enable_refused_turns_sm_off() -> None:
    client = new_client()
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, SM_FEATURES)
    client.take_output()
    feed(client, BIND_RESULT)
    assert client.sm_active
    msg_id = client.send_chat("bob@example.org", "early")
    assert client.unacked_ids() == [msg_id]
    feed(client, f'<failed xmlns="{SM}"><unexpected-request xmlns="{STANZAS}"/></failed>')
    assert not client.sm_active and client.unacked_ids() == []


def test_messages_sent_before_enabled_are_acked_once_enabled() -> None:
    client = new_client()
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, SM_FEATURES)
    client.take_output()
    feed(client, BIND_RESULT)
    assert client.take_output() == [f'<enable xmlns="{SM}" resume="true"/>', ROSTER_GET, PRESENCE]
    msg_id = client.send_chat("bob@example.org", "from the outbox")
    assert not client.request_ack()  # <r/> isn't allowed before <enabled/>
    client.take_output()
    assert feed(client, ENABLED) == [SmEnabled("sm-1", True, 300)]
    assert client.take_output() == [R]  # asked at once, so the message shows "on server"
    assert feed(client, a(3)) == [Acked([msg_id])]


# -- 6. what ack_after_confirm waits for ----------------------------------------------


def confirm_client() -> XmppClient:
    """SM + carbons + ack_after_confirm, enabled, roster loaded, carbons on."""
    client = new_client(ack_after_confirm=True, carbons=True)
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, SM_FEATURES)
    client.take_output()
    feed(client, BIND_RESULT)
    feed(client, ENABLED)
    disco_id = "05" * 8
    feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{disco_id}" from="example.org">'
        '<query xmlns="http://jabber.org/protocol/disco#info">'
        f'<feature var="{CARBONS}"/></query></iq>',
    )
    feed(client, f'<iq xmlns="jabber:client" type="result" id="{"06" * 8}"/>')
    assert client.carbons_enabled
    assert feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{ROSTER_ID}">'
        '<query xmlns="jabber:iq:roster"/></iq>',
    ) == [RosterLoaded([])]
    client.take_output()
    feed(client, R)
    assert client.take_output() == [a(3)]  # disco, carbons, roster: handled
    return client


SENT_CARBON = carbon(
    "sent",
    '<message xmlns="jabber:client" type="chat" id="p1" from="alice@example.org/phone" '
    'to="bob@example.org"><body>from my phone</body></message>',
)


def test_sent_and_received_carbons_wait_for_confirmation() -> None:
    client = confirm_client()
    [sent] = feed(client, SENT_CARBON)
    assert isinstance(sent, ChatSent) and sent.needs_confirm
    [received] = feed(client, carbon("received", FROM_BOB))
    assert isinstance(received, ChatReceived) and received.needs_confirm
    feed(client, R)
    assert client.take_output() == [a(3)]
    client.confirm_handled()  # the sent carbon
    assert client.take_output() == [a(4)]
    client.confirm_handled()
    assert client.take_output() == [a(5)]
    with pytest.raises(ValueError):
        client.confirm_handled()


def test_forged_or_empty_carbons_and_archive_results_do_not_wait() -> None:
    client = confirm_client()
    forged = carbon("sent", FROM_BOB, sender="mallory@evil.example")
    [dropped] = feed(client, forged)
    assert isinstance(dropped, Dropped)
    no_to = carbon(
        "sent",
        '<message xmlns="jabber:client" type="chat" id="p2" from="alice@example.org/phone">'
        "<body>to nobody</body></message>",
    )
    [dropped] = feed(client, no_to)
    assert isinstance(dropped, Dropped)
    query_id = client.query_archive()
    client.take_output()
    [archived] = feed(client, archive_result("A1", FROM_BOB, query_id=query_id))
    assert isinstance(archived, ArchiveMessage) and not archived.needs_confirm
    feed(client, R)
    assert client.take_output() == [a(6)]  # all three counted at once
    with pytest.raises(ValueError):
        client.confirm_handled()


def test_a_waiting_message_holds_back_later_stanzas_until_confirmed() -> None:
    client = confirm_client()
    feed(client, incoming("m1"))
    feed(client, '<presence xmlns="jabber:client" from="bob@example.org/x"/>')
    feed(client, SENT_CARBON)
    feed(client, R)
    assert client.take_output() == [a(3)]
    client.confirm_handled()
    assert client.take_output() == [a(5)]  # m1 and the presence; the carbon waits
    client.confirm_handled()
    assert client.take_output() == [a(6)]


def test_only_stanzas_move_the_inbound_count() -> None:
    client = sm_login()
    # Not message/presence/iq: not a stanza, not counted (XEP-0198 §4).
    assert feed(client, '<unknown xmlns="jabber:client"/>') == []
    feed(client, incoming("m1"))
    feed(client, R)
    assert client.take_output() == [a(1)]


# -- 7. forged roster pushes ------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    ["bob@example.org", "bob@example.org/x", "alice@example.org/phone", "example.org"],
)
def test_forged_roster_push_changes_nothing(sender: str) -> None:
    client = login()
    feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{ROSTER_ID}">'
        '<query xmlns="jabber:iq:roster"><item jid="bob@example.org" subscription="both"/>'
        "</query></iq>",
    )
    before = dict(client.roster)
    for item in ('<item jid="bob@example.org" subscription="remove"/>',
                 '<item jid="mallory@evil.example" subscription="both"/>'):
        events = feed(
            client,
            f'<iq xmlns="jabber:client" type="set" id="evil" from="{sender}">'
            f'<query xmlns="jabber:iq:roster">{item}</query></iq>',
        )
        assert [type(e) for e in events] == [Dropped]
        assert not any(isinstance(e, RosterChanged) for e in events)
        assert client.take_output() == [
            f'<iq xmlns="jabber:client" type="error" id="evil" to="{sender}">'
            f'<error type="cancel"><service-unavailable xmlns="{STANZAS}"/></error></iq>'
        ]
    assert client.roster == before
    # The genuine push (no from) still works.
    events = feed(
        client,
        '<iq xmlns="jabber:client" type="set" id="ok"><query xmlns="jabber:iq:roster">'
        '<item jid="bob@example.org" subscription="remove"/></query></iq>',
    )
    assert events == [RosterChanged(RosterItem(JID.parse("bob@example.org"), None, "remove"))]

