"""XEP-0198 transcripts: feed this XML to XmppClient, expect exactly these frames."""

from __future__ import annotations

import json

import pytest
from roost.xmpp.client import XmppClient
from roost.xmpp.errors import ProtocolError
from roost.xmpp.events import (
    Acked,
    ChatReceived,
    Closed,
    Online,
    PresenceChanged,
    Resumed,
    ResumeFailed,
    RosterLoaded,
    SmEnabled,
    SmFailed,
)
from roost.xmpp.jid import JID
from roost.xmpp.xeps.xep_0198 import (
    MODULUS,
    StreamManagement,
    enable_element,
    parse_enabled,
    parse_failed,
    parse_h,
    resume_element,
)
from roost.xmpp.xmlparse import parse_xml

from tests.xmpp.support import CountingRandom, ScramServer, features
from tests.xmpp.test_stream_transcript import (
    BIND_ID,
    CLOSE,
    FULL,
    RESOURCE,
    ROSTER_ID,
    authenticate,
    feed,
)

SM = "urn:xmpp:sm:3"
SM_FEATURES = features(
    '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>',
    '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>',
    f'<sm xmlns="{SM}"/>',
)
BIND_IQ = (
    f'<iq xmlns="jabber:client" type="set" id="{BIND_ID}">'
    f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>{RESOURCE}</resource></bind>'
    "</iq>"
)
BIND_RESULT = (
    f'<iq xmlns="jabber:client" type="result" id="{BIND_ID}">'
    f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{FULL}</jid></bind></iq>'
)
ROSTER_GET = (
    f'<iq xmlns="jabber:client" type="get" id="{ROSTER_ID}"><query xmlns="jabber:iq:roster"/></iq>'
)
PRESENCE = '<presence xmlns="jabber:client"/>'
ENABLED = f'<enabled xmlns="{SM}" id="sm-1" resume="true" max="300"/>'
R = f'<r xmlns="{SM}"/>'


def a(h: int) -> str:
    return f'<a xmlns="{SM}" h="{h}"/>'


def chat_frame(msg_id: str, to: str = "bob@example.org", body: str = "hi") -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" to="{to}" id="{msg_id}">'
        f"<body>{body}</body>"
        f'<origin-id xmlns="urn:xmpp:sid:0" id="{msg_id}"/>'
        # XEP-0184 receipt request, XEP-0333 markable, XEP-0085 active.
        '<request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/>'
        '<active xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )


def incoming(msg_id: str, body: str = "hello") -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" id="{msg_id}" '
        f'from="bob@example.org/phone" to="{FULL}"><body>{body}</body></message>'
    )


def sm_login(**kw: object) -> XmppClient:
    """Login to Online with SM offered: <enable/> goes out right after binding."""
    client = XmppClient("alice@example.org", "s3cret", random_bytes=CountingRandom(), **kw)  # type: ignore[arg-type]
    authenticate(client, ScramServer("alice", "s3cret"))
    assert feed(client, SM_FEATURES) == []
    assert client.take_output() == [BIND_IQ]
    assert feed(client, BIND_RESULT) == [Online(JID.parse(FULL))]
    assert client.take_output() == [
        f'<enable xmlns="{SM}" resume="true"/>',
        ROSTER_GET,
        PRESENCE,
    ]
    assert client.resume_state() is None  # not enabled yet
    assert feed(client, ENABLED) == [SmEnabled("sm-1", True, 300)]
    return client


def resumed_client(state: dict[str, object], **kw: object) -> XmppClient:
    """A new client from `state`, authenticated, having sent <resume/>."""
    # Through JSON, as the app would store it.
    saved = json.loads(json.dumps(state))
    client = XmppClient(
        "alice@example.org",
        "s3cret",
        random_bytes=CountingRandom(),
        resume=saved,
        **kw,  # type: ignore[arg-type]
    )
    authenticate(client, ScramServer("alice", "s3cret"))
    assert feed(client, SM_FEATURES) == []
    h_in = saved["h_in"]
    assert client.take_output() == [f'<resume xmlns="{SM}" previd="sm-1" h="{h_in}"/>']
    return client


# -- nonza builders and parsers ---------------------------------------------------


def test_builders_and_parsers() -> None:
    assert (
        enable_element(max_seconds=60).to_xml() == f'<enable xmlns="{SM}" resume="true" max="60"/>'
    )
    assert enable_element(resume=False).to_xml() == f'<enable xmlns="{SM}"/>'
    assert resume_element("x", MODULUS + 3).to_xml() == f'<resume xmlns="{SM}" previd="x" h="3"/>'
    enabled = parse_xml(f'<enabled xmlns="{SM}" id="i" resume="1" location="[::1]:5222"/>')
    assert parse_enabled(enabled) == ("i", True, None, "[::1]:5222")
    assert parse_enabled(parse_xml(f'<enabled xmlns="{SM}"/>')) == (None, False, None, None)
    failed = parse_xml(
        f'<failed xmlns="{SM}" h="7"><item-not-found '
        'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>'
    )
    assert parse_failed(failed) == ("item-not-found", 7)
    assert parse_failed(parse_xml(f'<failed xmlns="{SM}" h="-1"/>')) == (
        "undefined-condition",
        None,
    )
    assert parse_h(parse_xml(a(MODULUS - 1))) == MODULUS - 1
    for bad in (str(MODULUS), "-1", "1.0", "", "٣", "99999999999"):
        with pytest.raises(ProtocolError):
            parse_h(parse_xml(f'<a xmlns="{SM}" h="{bad}"/>'))
    with pytest.raises(ProtocolError):
        parse_h(parse_xml(f'<a xmlns="{SM}"/>'))


# -- enable and acks ----------------------------------------------------------------


def test_no_sm_without_the_feature() -> None:
    from tests.xmpp.test_stream_transcript import login

    client = login()  # exact frames: no <enable/>
    client.send_chat("bob@example.org", "x")
    client.take_output()
    assert feed(client, R) == []
    assert client.take_output() == []
    assert client.request_ack() is False
    assert client.resume_state() is None


def test_server_request_is_answered_with_the_handled_count() -> None:
    client = sm_login()
    assert feed(client, R) == []
    assert client.take_output() == [a(0)]
    roster = (
        f'<iq xmlns="jabber:client" type="result" id="{ROSTER_ID}">'
        '<query xmlns="jabber:iq:roster"/></iq>'
    )
    assert feed(client, roster) == [RosterLoaded([])]
    [presence] = feed(client, '<presence xmlns="jabber:client" from="bob@example.org/x"/>')
    assert isinstance(presence, PresenceChanged)
    [_] = feed(client, incoming("m1"))
    assert feed(client, R) == []
    assert client.take_output() == [a(3)]


def test_ack_requested_every_five_stanzas_and_acked_ids() -> None:
    client = sm_login()
    # roster get + presence already count 2: the third message makes 5.
    ids = [client.send_chat("bob@example.org", "hi") for _ in range(3)]
    assert client.take_output() == [chat_frame(i) for i in ids] + [R]
    assert feed(client, a(2)) == []  # roster get and presence: no message ids
    assert feed(client, a(3)) == [Acked([ids[0]])]
    assert feed(client, a(3)) == []  # the same h again: nothing new
    assert feed(client, a(5)) == [Acked(ids[1:])]
    assert client.request_ack() is False  # nothing unacknowledged
    fourth = client.send_chat("bob@example.org", "hi")
    assert client.request_ack() is True
    assert client.take_output() == [chat_frame(fourth), R]
    # Our own replies are stanzas too (a ping result).
    feed(
        client,
        '<iq xmlns="jabber:client" type="get" id="p" from="example.org">'
        '<ping xmlns="urn:xmpp:ping"/></iq>',
    )
    assert client.take_output() == [
        '<iq xmlns="jabber:client" type="result" id="p" to="example.org"/>'
    ]
    assert feed(client, a(7)) == [Acked([fourth])]


def test_counters_wrap_around_at_2_to_the_32() -> None:
    client = sm_login()
    assert feed(client, a(2)) == []
    sm = client._stream.sm
    sm.out = MODULUS - 1  # as if 2^32 - 1 stanzas had been sent and acked
    sm.h_in = MODULUS - 1
    ids = [client.send_chat("bob@example.org", "hi") for _ in range(3)]
    client.take_output()
    assert sm.out == 2
    assert feed(client, a(MODULUS - 1)) == []
    assert feed(client, a(0)) == [Acked(ids[:1])]
    assert feed(client, a(2)) == [Acked(ids[1:])]
    feed(client, incoming("m1"))
    feed(client, R)
    assert client.take_output() == [a(0)]


@pytest.mark.parametrize("h", [3, MODULUS - 1])  # more than sent; or going backwards
def test_ack_out_of_range_is_a_stream_error(h: int) -> None:
    client = sm_login()
    if h == MODULUS - 1:
        assert feed(client, a(1)) == []  # backwards from 1 is 2^32 - 1 ahead
    [closed] = feed(client, a(h))
    assert isinstance(closed, Closed) and isinstance(closed.error, ProtocolError)
    assert client.take_output() == [
        '<error xmlns="http://etherx.jabber.org/streams">'
        '<undefined-condition xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>'
        f'<handled-count-too-high xmlns="{SM}" h="{h}" send-count="2"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">'
        f"You acknowledged {h} stanzas, but I only sent you 2 so far.</text></error>",
        CLOSE,
    ]
    assert client.resume_state() is None


def test_bad_h_closes_the_stream() -> None:
    client = sm_login()
    [closed] = feed(client, f'<a xmlns="{SM}" h="lots"/>')
    assert isinstance(closed, Closed) and isinstance(closed.error, ProtocolError)


def test_enable_refused() -> None:
    client = XmppClient("alice@example.org", "s3cret", random_bytes=CountingRandom())
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, SM_FEATURES)
    feed(client, BIND_RESULT)
    client.take_output()
    events = feed(
        client,
        f'<failed xmlns="{SM}"><unexpected-request '
        'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>',
    )
    assert events == [SmFailed("unexpected-request")]
    client.send_chat("bob@example.org", "x")
    client.take_output()
    assert feed(client, R) == []
    assert client.take_output() == []  # no acks without SM
    assert client.request_ack() is False
    assert client.resume_state() is None
    assert client.online


def test_unacked_queue_is_bounded() -> None:
    client = sm_login()
    client._stream.sm.max_unacked = 4
    client.send_chat("bob@example.org", "1")
    client.send_chat("bob@example.org", "2")  # 4 unacked now
    client.send_chat("bob@example.org", "3")  # overflow: the session is broken
    assert client.take_output()[-1] == CLOSE
    assert not client.online
    with pytest.raises(RuntimeError):
        client.send_chat("bob@example.org", "4")
    [closed] = feed(client, CLOSE)
    assert isinstance(closed, Closed) and isinstance(closed.error, ProtocolError)


# -- inbound acks after the app stored ------------------------------------------------


def test_ack_after_confirm() -> None:
    client = sm_login(ack_after_confirm=True)
    [received] = feed(client, incoming("m1"))
    assert isinstance(received, ChatReceived)
    feed(client, '<presence xmlns="jabber:client" from="bob@example.org/x"/>')
    assert feed(client, R) == []
    assert client.take_output() == [a(0)]  # m1 isn't stored yet
    assert client.resume_state()["h_in"] == 0  # type: ignore[index]
    client.confirm_handled()
    # The server asked and got less than we had: it gets the rest unasked.
    assert client.take_output() == [a(2)]
    with pytest.raises(ValueError):
        client.confirm_handled()
    feed(client, incoming("m2"))
    feed(client, incoming("m3"))
    client.confirm_handled(1)
    assert client.take_output() == []  # nothing owed: the server hasn't asked
    feed(client, R)
    assert client.take_output() == [a(3)]
    client.confirm_handled(1)
    assert client.take_output() == [a(4)]
    assert client.resume_state()["h_in"] == 4  # type: ignore[index]


def test_without_confirm_mode_stanzas_count_when_received() -> None:
    client = sm_login()
    feed(client, incoming("m1"))
    client.confirm_handled(0)
    with pytest.raises(ValueError):
        client.confirm_handled(1)  # nothing waits for the app in this mode
    feed(client, R)
    assert client.take_output() == [a(1)]


def test_confirm_mode_works_without_sm() -> None:
    from tests.xmpp.test_stream_transcript import login

    client = XmppClient(
        "alice@example.org", "s3cret", random_bytes=CountingRandom(), ack_after_confirm=True
    )
    login(client)
    feed(client, incoming("m1"))
    client.confirm_handled()  # accepted, nothing to send
    assert client.take_output() == []


# -- resumption -------------------------------------------------------------------------


def saved_session() -> tuple[dict[str, object], list[str]]:
    """A session with 2 messages sent, the first acknowledged, 1 stanza received."""
    client = sm_login()
    ids = [client.send_chat("bob@example.org", "one"), client.send_chat("bob@example.org", "two")]
    client.take_output()
    assert feed(client, a(3)) == [Acked(ids[:1])]
    feed(client, incoming("in1"))
    state = client.resume_state()
    assert state is not None
    assert state == {
        "id": "sm-1",
        "h_in": 1,
        "out": 4,
        "unacked": [[chat_frame(ids[1], body="two"), ids[1]]],
        "max": 300,
        "location": None,
        "jid": FULL,
        "sent": [[ids[0], "bob@example.org"], [ids[1], "bob@example.org"]],
    }
    return state, ids


def test_resume_resends_exactly_the_unacked_stanzas() -> None:
    state, ids = saved_session()
    client = resumed_client(state)
    events = feed(client, f'<resumed xmlns="{SM}" previd="sm-1" h="3"/>')
    assert events == [Resumed(JID.parse(FULL))]
    assert client.online and client.jid == JID.parse(FULL)
    # No roster, no presence: the session goes on. The unacked message once, then <r/>.
    assert client.take_output() == [chat_frame(ids[1], body="two"), R]
    # A second <resumed/> changes nothing (and re-sends nothing).
    assert feed(client, f'<resumed xmlns="{SM}" previd="sm-1" h="3"/>') == []
    assert client.take_output() == []
    assert feed(client, a(4)) == [Acked(ids[1:])]
    # Counting goes on from the saved values.
    feed(client, incoming("in2"))
    feed(client, R)
    assert client.take_output() == [a(2)]
    new = client.send_chat("bob@example.org", "three")
    assert client.take_output() == [chat_frame(new, body="three")]
    assert feed(client, a(5)) == [Acked([new])]
    # A bounce for a message of the old session is still recognised.
    bounce = (
        f'<message xmlns="jabber:client" type="error" id="{ids[0]}" from="bob@example.org">'
        '<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></message>"
    )
    [failed] = feed(client, bounce)
    assert type(failed).__name__ == "MessageFailed"


def test_resumed_h_acknowledging_everything_resends_nothing() -> None:
    state, ids = saved_session()
    client = resumed_client(state)
    events = feed(client, f'<resumed xmlns="{SM}" previd="sm-1" h="4"/>')
    assert events == [Resumed(JID.parse(FULL)), Acked(ids[1:])]
    assert client.take_output() == [R]  # only the <r/> proving the server reads us


def test_resumed_with_another_id_is_fatal() -> None:
    state, _ = saved_session()
    client = resumed_client(state)
    [closed] = feed(client, f'<resumed xmlns="{SM}" previd="other" h="3"/>')
    assert isinstance(closed, Closed) and isinstance(closed.error, ProtocolError)
    assert client.take_output()[-1] == CLOSE


def test_resumed_with_more_acked_than_the_saved_state_knows_goes_on() -> None:
    """A state saved just before a reload, after which more went out: the
    server's h is higher than our count. Everything we know of is acked and
    the server's count is ours; the session goes on (the app re-sends what
    its outbox holds, under the same ids)."""
    state, ids = saved_session()
    client = resumed_client(state)
    events = feed(client, f'<resumed xmlns="{SM}" previd="sm-1" h="9"/>')
    assert events == [Resumed(JID.parse(FULL)), Acked(ids[1:])]
    assert client.online and client.unacked_ids() == []
    assert client.take_output() == [R]  # nothing re-sent: the server has it all
    later = client.resume_state()
    assert later is not None and later["out"] == 9 and later["unacked"] == []


def fresh_bind(client: XmppClient) -> None:
    assert client.take_output() == [BIND_IQ]
    assert feed(client, BIND_RESULT) == [Online(JID.parse(FULL))]
    assert client.take_output() == [f'<enable xmlns="{SM}" resume="true"/>', ROSTER_GET, PRESENCE]


def test_resume_failure_falls_back_to_a_fresh_session() -> None:
    state, ids = saved_session()
    client = resumed_client(state)
    events = feed(
        client,
        f'<failed xmlns="{SM}" h="3"><item-not-found '
        'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>',
    )
    assert events == [ResumeFailed(ids[1:], "item-not-found")]
    fresh_bind(client)
    assert client.resume_state() is None
    assert feed(client, f'<enabled xmlns="{SM}" id="sm-2" resume="true"/>') == [
        SmEnabled("sm-2", True)
    ]
    assert client.resume_state()["unacked"] == [[ROSTER_GET, ""], [PRESENCE, ""]]  # type: ignore[index]


def test_resume_failure_h_tells_what_arrived() -> None:
    state, ids = saved_session()
    client = resumed_client(state)
    events = feed(client, f'<failed xmlns="{SM}" h="4"/>')
    assert events == [Acked(ids[1:]), ResumeFailed([], "undefined-condition")]
    fresh_bind(client)


def test_resume_failure_without_h_reports_all_unacked() -> None:
    state, ids = saved_session()
    client = resumed_client(state)
    [failed] = feed(client, f'<failed xmlns="{SM}"/>')
    assert failed == ResumeFailed(ids[1:], "undefined-condition")
    fresh_bind(client)


def test_resume_without_sm_feature_binds() -> None:
    state, ids = saved_session()
    client = XmppClient("alice@example.org", "s3cret", random_bytes=CountingRandom(), resume=state)
    authenticate(client, ScramServer("alice", "s3cret"))
    events = feed(client, features('<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>'))
    assert events == [ResumeFailed(ids[1:], "feature-not-implemented")]
    assert client.take_output() == [BIND_IQ]


@pytest.mark.parametrize(
    "change",
    [
        {"id": None},
        {"h_in": "1"},
        {"unacked": "x"},
        {"jid": "alice@example.org"},  # no resource
        {"jid": "mallory@example.org/x"},  # another account
        {"jid": "@"},
    ],
)
def test_malformed_resume_state_is_refused(change: dict[str, object]) -> None:
    state, _ = saved_session()
    state.update(change)
    with pytest.raises(ValueError):
        XmppClient("alice@example.org", "s3cret", random_bytes=CountingRandom(), resume=state)
    del state["out"]
    with pytest.raises(ValueError):
        XmppClient("alice@example.org", "s3cret", random_bytes=CountingRandom(), resume=state)


def test_orderly_close_is_not_resumable() -> None:
    client = sm_login()
    assert client.resume_state() is not None
    client.close()
    assert client.resume_state() is None


def test_state_object_round_trip() -> None:
    sm = StreamManagement()
    sm.load_state({"id": "x", "h_in": MODULUS + 1, "out": 3, "unacked": [["<m/>", "i"]]})
    assert (sm.h_in, sm.out, sm.acked, sm.unacked_ids()) == (1, 3, 2, ["i"])
    assert sm.to_state()["unacked"] == [["<m/>", "i"]]


def test_acks_without_resumption_when_the_driver_keeps_no_state() -> None:
    """sm_resume=False: <enable/> without resume, so the server ends the session
    on a drop instead of holding it (and the messages sent to it) for a resume."""
    client = XmppClient(
        "alice@example.org", "s3cret", random_bytes=CountingRandom(), sm_resume=False
    )
    authenticate(client, ScramServer("alice", "s3cret"))
    assert feed(client, SM_FEATURES) == []
    assert client.take_output() == [BIND_IQ]
    feed(client, BIND_RESULT)
    assert client.take_output()[0] == f'<enable xmlns="{SM}"/>'
    assert feed(client, f'<enabled xmlns="{SM}"/>') == [SmEnabled(None, False, None)]
    msg_id = client.send_chat("bob@example.org", "hi")
    client.request_ack()
    client.take_output()
    # The roster request and initial presence follow <enable/>: the message is the 3rd.
    assert feed(client, f'<a xmlns="{SM}" h="2"/>') == []
    assert feed(client, f'<a xmlns="{SM}" h="3"/>') == [Acked([msg_id])]


def test_confirm_ledger_matches_a_plain_model_under_random_interleaving() -> None:
    """The ledger keeps a moving head (linear in a burst); h, `waiting` and
    the owed <a/> must be what the plain definition gives, at every step."""
    import random

    rng = random.Random(7)
    sm = StreamManagement(ack_after_confirm=True)
    sm.enabled = True
    model: list[bool] = []  # waiting flag per stanza after h (all counted)
    h = 0
    for _ in range(20_000):
        action = rng.random()
        if action < 0.55:
            waiting = rng.random() < 0.8
            sm.received(waiting)
            if waiting or model:
                model.append(waiting)
            else:
                h += 1
        elif action < 0.9:
            n = rng.randint(0, sum(model))
            sm.confirm(n)
            for i, w in enumerate(model):
                if n == 0:
                    break
                if w:
                    model[i] = False
                    n -= 1
            while model and not model[0]:
                model.pop(0)
                h += 1
        else:
            sm.answer()
            assert sm.owed == bool(model)  # more to confirm: another <a/> follows
        assert sm.h_in == h
        assert sm.waiting == sum(model)
