"""Transcript tests: feed this XML to XmppClient, expect exactly these frames."""

from __future__ import annotations

import base64
import hashlib

import pytest
from roost.xmpp.client import MAX_SENT_IDS, XmppClient
from roost.xmpp.errors import AuthError, ProtocolError, StreamError
from roost.xmpp.events import (
    ChatMessage,
    ChatReceived,
    ChatSent,
    ChatState,
    Closed,
    Dropped,
    Marker,
    MessageFailed,
    NeedSaltedPassword,
    Online,
    PresenceChanged,
    Receipt,
    RosterChanged,
    RosterItem,
    RosterLoaded,
    SubscriptionChanged,
    SubscriptionRequest,
)
from roost.xmpp.jid import JID
from roost.xmpp.xmlparse import parse_xml

from tests.xmpp.support import (
    SERVER_OPEN,
    CountingRandom,
    ScramServer,
    b64,
    element_text,
    features,
    mechanisms,
)

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
CLIENT_OPEN = f'<open xmlns="{FRAMING}" to="example.org" version="1.0"/>'
CLOSE = f'<close xmlns="{FRAMING}"/>'
NONCE = b64(b"\x01" * 24)  # first random_bytes call
BIND_ID = "02" * 8
RESOURCE = "roost-03030303"
ROSTER_ID = "04" * 8
FULL = "alice@example.org/" + RESOURCE
BIND_FEATURES = features(
    '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>',
    '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session>',
)


def feed(client: XmppClient, xml: str) -> list[object]:
    return list(client.receive(parse_xml(xml)))


def new_client(secure: bool = False) -> XmppClient:
    return XmppClient("alice@example.org", "s3cret", secure, random_bytes=CountingRandom())


def authenticate(client: XmppClient, server: ScramServer, mechanism: str = "SCRAM-SHA-256") -> None:
    """From start() to the second stream's features, checking every frame."""
    client.start()
    assert client.take_output() == [CLIENT_OPEN]
    assert feed(client, SERVER_OPEN) == []
    offered = mechanisms("SCRAM-SHA-1", "PLAIN", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
    assert feed(client, features(offered)) == []
    client_first = f"n,,n=alice,r={NONCE}".encode()
    assert client.take_output() == [
        f'<auth xmlns="{SASL}" mechanism="{mechanism}">{b64(client_first)}</auth>'
    ]
    server_first = server.first(client_first)
    events = feed(client, f'<challenge xmlns="{SASL}">{b64(server_first)}</challenge>')
    assert events == [NeedSaltedPassword(server.hash_name, server.salt, server.iterations)]
    assert client.take_output() == []
    salted = hashlib.pbkdf2_hmac(server.hash_name, b"s3cret", server.salt, server.iterations)
    assert client.provide_salted_password(salted) == []
    [response] = client.take_output()
    server_final = server.final(base64.b64decode(element_text(response)))
    assert feed(client, f'<success xmlns="{SASL}">{b64(server_final)}</success>') == []
    assert client.take_output() == [CLIENT_OPEN]  # RFC 6120 §6.4.6: restart
    assert feed(client, SERVER_OPEN) == []


def login(client: XmppClient | None = None) -> XmppClient:
    """A complete login up to Online and the roster request."""
    client = client or new_client()
    authenticate(client, ScramServer("alice", "s3cret"))
    assert feed(client, BIND_FEATURES) == []
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="set" id="{BIND_ID}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>{RESOURCE}</resource></bind>'
        "</iq>"
    ]
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{BIND_ID}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{FULL}</jid></bind></iq>',
    )
    assert events == [Online(JID.parse(FULL))]
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="get" id="{ROSTER_ID}">'
        '<query xmlns="jabber:iq:roster"/></iq>',
        '<presence xmlns="jabber:client"/>',
    ]
    assert client.online
    return client


def test_full_login_with_scram_sha_256() -> None:
    client = login()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{ROSTER_ID}" to="{FULL}">'
        '<query xmlns="jabber:iq:roster" ver="1">'
        '<item jid="bob@example.org" name="Bob" subscription="both"><group>Friends</group></item>'
        '<item jid="carol@example.org" subscription="none" ask="subscribe"/>'
        '<item jid="not a jid"/>'
        "</query></iq>",
    )
    assert events == [
        RosterLoaded(
            [
                RosterItem(JID.parse("bob@example.org"), "Bob", "both", None, ["Friends"]),
                RosterItem(JID.parse("carol@example.org"), None, "none", "subscribe", []),
            ]
        )
    ]
    assert client.take_output() == []


def test_scram_sha_1_when_sha_256_is_not_offered() -> None:
    client = new_client()
    client.start()
    client.take_output()
    feed(client, SERVER_OPEN)
    feed(client, features(mechanisms("PLAIN", "SCRAM-SHA-1")))
    [auth] = client.take_output()
    assert 'mechanism="SCRAM-SHA-1"' in auth
    server = ScramServer("alice", "s3cret", hash_name="sha1")
    events = feed(
        client,
        f'<challenge xmlns="{SASL}">{b64(server.first(base64.b64decode(element_text(auth))))}'
        "</challenge>",
    )
    assert events == [NeedSaltedPassword("sha1", server.salt, 4096)]


def test_required_session_is_established_before_online() -> None:
    client = new_client()
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(
        client,
        features(
            '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>',
            '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/>',
        ),
    )
    client.take_output()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{BIND_ID}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{FULL}</jid></bind></iq>',
    )
    assert events == []
    session_id = "04" * 8
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="set" id="{session_id}">'
        '<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>'
    ]
    events = feed(client, f'<iq xmlns="jabber:client" type="result" id="{session_id}"/>')
    assert events == [Online(JID.parse(FULL))]
    assert client.take_output()[1] == '<presence xmlns="jabber:client"/>'


def test_server_final_in_a_challenge_then_empty_success() -> None:
    client = new_client()
    server = ScramServer("alice", "s3cret")
    client.start()
    feed(client, SERVER_OPEN)
    feed(client, features(mechanisms("SCRAM-SHA-256")))
    [_, auth] = client.take_output()
    first = server.first(base64.b64decode(element_text(auth)))
    feed(client, f'<challenge xmlns="{SASL}">{b64(first)}</challenge>')
    client.provide_salted_password(server.salted)
    [response] = client.take_output()
    final = server.final(base64.b64decode(element_text(response)))
    assert feed(client, f'<challenge xmlns="{SASL}">{b64(final)}</challenge>') == []
    assert client.take_output() == [f'<response xmlns="{SASL}"/>']
    assert feed(client, f'<success xmlns="{SASL}"/>') == []
    assert client.take_output() == [CLIENT_OPEN]


def _to_challenge(
    client: XmppClient, server: ScramServer, server_first: bytes | None = None
) -> None:
    client.start()
    feed(client, SERVER_OPEN)
    feed(client, features(mechanisms("SCRAM-SHA-256")))
    [_, auth] = client.take_output()
    first = server.first(base64.b64decode(element_text(auth)))
    events = feed(client, f'<challenge xmlns="{SASL}">{b64(server_first or first)}</challenge>')
    if server_first is None:
        assert len(events) == 1


def test_wrong_server_signature_closes_with_auth_error() -> None:
    client = new_client()
    server = ScramServer("alice", "s3cret")
    _to_challenge(client, server)
    client.provide_salted_password(server.salted)
    client.take_output()
    forged = b"v=" + base64.b64encode(b"\x00" * 32)
    [closed] = feed(client, f'<success xmlns="{SASL}">{b64(forged)}</success>')
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    assert closed.error.condition == "server-signature"
    assert client.take_output() == [CLOSE]
    assert client.state == "closed"


def test_success_without_any_server_signature_is_refused() -> None:
    client = new_client()
    server = ScramServer("alice", "s3cret")
    _to_challenge(client, server)
    client.provide_salted_password(server.salted)
    [closed] = feed(client, f'<success xmlns="{SASL}"/>')
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)


def test_sasl_failure_closes_with_auth_error() -> None:
    client = new_client()
    server = ScramServer("alice", "wrong")
    _to_challenge(client, server)
    client.provide_salted_password(server.salted)
    client.take_output()
    events = feed(
        client,
        f'<failure xmlns="{SASL}"><not-authorized/><text xml:lang="en">Nope</text></failure>',
    )
    [closed] = events
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    assert closed.error.condition == "not-authorized"
    assert closed.error.text == "Nope"
    assert closed.error.user_message == "Wrong address or password."
    assert client.take_output() == [CLOSE]
    assert feed(client, SERVER_OPEN) == []  # nothing more after the end


def test_weak_iteration_count_is_refused() -> None:
    client = new_client()
    server = ScramServer("alice", "s3cret", iterations=1000)
    client.start()
    feed(client, SERVER_OPEN)
    feed(client, features(mechanisms("SCRAM-SHA-256")))
    [_, auth] = client.take_output()
    first = server.first(base64.b64decode(element_text(auth)))
    [closed] = feed(client, f'<challenge xmlns="{SASL}">{b64(first)}</challenge>')
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    assert closed.error.condition == "weak-iterations"


def test_plain_only_over_a_secure_transport() -> None:
    insecure = new_client()
    insecure.start()
    feed(insecure, SERVER_OPEN)
    [closed] = feed(insecure, features(mechanisms("PLAIN")))
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    assert closed.error.condition == "no-usable-mechanism"
    assert insecure.take_output() == [CLIENT_OPEN, CLOSE]

    secure = new_client(secure=True)
    secure.start()
    feed(secure, SERVER_OPEN)
    assert feed(secure, features(mechanisms("PLAIN"))) == []
    plain = b64(b"\x00alice\x00s3cret")
    assert secure.take_output()[1] == f'<auth xmlns="{SASL}" mechanism="PLAIN">{plain}</auth>'
    assert feed(secure, f'<success xmlns="{SASL}"/>') == []
    assert secure.take_output() == [CLIENT_OPEN]


def test_stream_error_closes() -> None:
    client = login()
    events = feed(
        client,
        '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
        '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Replaced</text>'
        "</stream:error>",
    )
    [closed] = events
    assert isinstance(closed, Closed) and isinstance(closed.error, StreamError)
    assert (closed.error.condition, closed.error.text) == ("conflict", "Replaced")
    assert client.take_output() == [CLOSE]
    assert not client.online


def test_server_close_is_answered() -> None:
    client = login()
    assert feed(client, CLOSE) == [Closed(None)]
    assert client.take_output() == [CLOSE]


def test_our_close_then_server_close() -> None:
    client = login()
    client.close()
    assert client.take_output() == [CLOSE]
    assert feed(client, CLOSE) == [Closed(None)]
    assert client.take_output() == []


def test_features_before_open_is_a_protocol_error() -> None:
    client = new_client()
    client.start()
    [closed] = feed(client, features(mechanisms("SCRAM-SHA-256")))
    assert isinstance(closed, Closed) and isinstance(closed.error, ProtocolError)


def test_no_bind_feature_is_a_protocol_error() -> None:
    client = new_client()
    authenticate(client, ScramServer("alice", "s3cret"))
    [closed] = feed(client, features())
    assert isinstance(closed, Closed) and isinstance(closed.error, ProtocolError)


# -- stanzas once online ----------------------------------------------------------


def test_ping_gets_a_result() -> None:
    client = login()
    events = feed(
        client,
        '<iq xmlns="jabber:client" type="get" id="p1" from="example.org">'
        '<ping xmlns="urn:xmpp:ping"/></iq>',
    )
    assert events == []
    assert client.take_output() == [
        '<iq xmlns="jabber:client" type="result" id="p1" to="example.org"/>'
    ]


def test_unknown_iq_gets_service_unavailable() -> None:
    client = login()
    feed(
        client,
        '<iq xmlns="jabber:client" type="get" id="v1" from="bob@example.org/x">'
        '<query xmlns="jabber:iq:version"/></iq>',
    )
    assert client.take_output() == [
        '<iq xmlns="jabber:client" type="error" id="v1" to="bob@example.org/x">'
        '<error type="cancel">'
        '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></iq>"
    ]


def test_results_and_errors_are_never_answered() -> None:
    client = login()
    for xml in (
        '<iq xmlns="jabber:client" type="result" id="nope" from="bob@example.org/x"/>',
        '<iq xmlns="jabber:client" type="error" id="nope2" from="bob@example.org/x"/>',
    ):
        assert feed(client, xml) == [Dropped("response to an unknown iq id")]
    assert client.take_output() == []


def test_roster_result_from_someone_else_is_ignored() -> None:
    client = login()
    forged = (
        f'<iq xmlns="jabber:client" type="result" id="{ROSTER_ID}" from="mallory@evil.example">'
        '<query xmlns="jabber:iq:roster"><item jid="mallory@evil.example" subscription="both"/>'
        "</query></iq>"
    )
    [dropped] = feed(client, forged)
    assert isinstance(dropped, Dropped)
    # The real answer is still accepted afterwards.
    real = (
        f'<iq xmlns="jabber:client" type="result" id="{ROSTER_ID}">'
        '<query xmlns="jabber:iq:roster"/></iq>'
    )
    assert feed(client, real) == [RosterLoaded([])]


@pytest.mark.parametrize("sender", ["", ' from="alice@example.org"', f' from="{FULL}"'])
def test_roster_push_from_own_account_is_accepted(sender: str) -> None:
    client = login()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="set" id="push1"{sender}>'
        '<query xmlns="jabber:iq:roster"><item jid="dave@example.org" name="Dave"/></query></iq>',
    )
    assert events == [RosterChanged(RosterItem(JID.parse("dave@example.org"), "Dave"))]
    reply_to = sender.replace("from=", "to=")
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="result" id="push1"{reply_to}/>'
    ]
    assert JID.parse("dave@example.org") in client.roster


@pytest.mark.parametrize(
    "sender",
    [
        "mallory@evil.example",
        "alice@example.org.evil.example",
        "example.org",
        "bob@example.org/alice@example.org",
    ],
)
def test_forged_roster_push_is_dropped_and_refused(sender: str) -> None:
    client = login()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="set" id="evil" from="{sender}">'
        '<query xmlns="jabber:iq:roster"><item jid="mallory@evil.example" subscription="both"/>'
        "</query></iq>",
    )
    [dropped] = events
    assert isinstance(dropped, Dropped)
    assert client.roster == {}
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="error" id="evil" to="{sender}"><error type="cancel">'
        '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
    ]


def test_roster_push_remove() -> None:
    client = login()
    feed(
        client,
        '<iq xmlns="jabber:client" type="set" id="a"><query xmlns="jabber:iq:roster">'
        '<item jid="dave@example.org"/></query></iq>',
    )
    events = feed(
        client,
        '<iq xmlns="jabber:client" type="set" id="b"><query xmlns="jabber:iq:roster">'
        '<item jid="dave@example.org" subscription="remove"/></query></iq>',
    )
    assert events == [RosterChanged(RosterItem(JID.parse("dave@example.org"), None, "remove"))]
    assert client.roster == {}


def test_presence_events() -> None:
    client = login()
    events = feed(
        client,
        '<presence xmlns="jabber:client" from="bob@example.org/phone">'
        "<show>away</show><status>Lunch</status><priority>5</priority></presence>",
    )
    assert events == [PresenceChanged(JID.parse("bob@example.org/phone"), True, "away", "Lunch", 5)]
    events = feed(
        client, '<presence xmlns="jabber:client" type="unavailable" from="bob@example.org/phone"/>'
    )
    assert events == [PresenceChanged(JID.parse("bob@example.org/phone"), False)]
    events = feed(
        client,
        '<presence xmlns="jabber:client" type="subscribe" from="carol@example.org">'
        "<status>Hi, it's Carol</status></presence>",
    )
    assert events == [SubscriptionRequest(JID.parse("carol@example.org"), "Hi, it's Carol")]
    for kind in ("subscribed", "unsubscribe", "unsubscribed"):
        events = feed(
            client, f'<presence xmlns="jabber:client" type="{kind}" from="carol@example.org/x"/>'
        )
        assert events == [SubscriptionChanged(JID.parse("carol@example.org"), kind)]


def test_presence_with_bad_show_or_priority_is_tolerated() -> None:
    client = login()
    events = feed(
        client,
        '<presence xmlns="jabber:client" from="bob@example.org/x">'
        "<show>sleeping</show><priority>lots</priority></presence>",
    )
    assert events == [PresenceChanged(JID.parse("bob@example.org/x"), True, None, None, 0)]


def test_chat_received_with_delay() -> None:
    client = login()
    events = feed(
        client,
        '<message xmlns="jabber:client" type="chat" id="m1" from="bob@example.org/phone" '
        f'to="{FULL}"><body>Hi &lt;there&gt;</body><thread>t1</thread>'
        '<delay xmlns="urn:xmpp:delay" from="example.org" stamp="2002-09-10T23:08:25Z"/>'
        "</message>",
    )
    assert events == [
        ChatReceived(
            ChatMessage(
                "m1",
                JID.parse("bob@example.org/phone"),
                JID.parse(FULL),
                "Hi <there>",
                "chat",
                "t1",
                1031699305.0,
            )
        )
    ]


def test_messages_without_body_or_of_other_types_are_ignored() -> None:
    client = login()
    assert feed(client, '<message xmlns="jabber:client" from="bob@example.org/x"/>') == []
    # A groupchat message from a room we never joined is refused, not shown.
    [dropped] = feed(
        client,
        '<message xmlns="jabber:client" type="groupchat" from="room@muc.example.org/bob">'
        "<body>hi</body></message>",
    )
    assert isinstance(dropped, Dropped)
    [event] = feed(
        client,
        '<message xmlns="jabber:client" from="bob@example.org/x"><body>plain</body></message>',
    )
    assert isinstance(event, ChatReceived) and event.message.type == "normal"


def test_message_error_becomes_message_failed() -> None:
    client = login()
    msg_id = client.send_chat("nobody@example.org", "hello")
    [event] = feed(
        client,
        f'<message xmlns="jabber:client" type="error" id="{msg_id}" from="nobody@example.org">'
        '<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        "</error></message>",
    )
    assert isinstance(event, MessageFailed)
    assert event.id == msg_id
    assert (event.error.condition, event.error.type) == ("item-not-found", "cancel")


ITEM_NOT_FOUND = (
    '<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>'
)


@pytest.mark.parametrize(
    "sender",
    [
        None,  # our server, on behalf of our account
        "example.org",  # our own server
        "nobody@example.org",  # the addressee's bare JID
        "nobody@example.org/phone",  # one of the addressee's devices
    ],
)
def test_message_error_accepted_from_addressee_or_own_server(sender: str | None) -> None:
    client = login()
    msg_id = client.send_chat("Nobody@example.org", "hello")
    client.take_output()
    attr = "" if sender is None else f' from="{sender}"'
    error = (
        f'<message xmlns="jabber:client" type="error" id="{msg_id}"{attr}>'
        f"{ITEM_NOT_FOUND}</message>"
    )
    [event] = feed(client, error)
    assert isinstance(event, MessageFailed) and event.id == msg_id
    # One bounce per message: the id is forgotten once it failed.
    [again] = feed(client, error)
    assert isinstance(again, Dropped)


@pytest.mark.parametrize(
    "sender",
    [
        "mallory@example.org",  # someone else on our server
        "nobody@evil.example",  # right localpart, other domain
        "evil.example",  # another server
        "example.org/x",  # our domain with a resource: not the server itself
        "alice@example.org",  # our own account isn't who we wrote to
    ],
)
def test_forged_message_error_is_dropped(sender: str) -> None:
    """The recipient (or anyone who saw an id) can't mark our message "Not delivered"."""
    client = login()
    msg_id = client.send_chat("nobody@example.org", "hello")
    client.take_output()
    error = (
        f'<message xmlns="jabber:client" type="error" id="{msg_id}" from="{sender}">'
        f"{ITEM_NOT_FOUND}</message>"
    )
    [event] = feed(client, error)
    assert isinstance(event, Dropped)
    assert client.take_output() == []  # errors are never answered
    # The real bounce still counts.
    [event] = feed(client, error.replace(f'from="{sender}"', 'from="nobody@example.org"'))
    assert isinstance(event, MessageFailed)


def test_message_error_for_an_unknown_id_is_dropped() -> None:
    client = login()
    [event] = feed(
        client,
        f'<message xmlns="jabber:client" type="error" id="never-sent">{ITEM_NOT_FOUND}</message>',
    )
    assert isinstance(event, Dropped)


def test_sent_ids_are_bounded() -> None:
    client = login()
    counter = iter(range(1, 10_000))
    # Distinct ids past 256 (CountingRandom repeats after 256 calls).
    client._stream.random_bytes = lambda n: next(counter).to_bytes(n, "big")
    first = client.send_chat("bob@example.org", "0")
    for i in range(MAX_SENT_IDS):
        last = client.send_chat("bob@example.org", str(i))
    bounce = (
        '<message xmlns="jabber:client" type="error" id="{}" from="bob@example.org">{}</message>'
    )
    [old] = feed(client, bounce.format(first, ITEM_NOT_FOUND))
    assert isinstance(old, Dropped)  # forgotten: the map keeps the newest MAX_SENT_IDS
    [new] = feed(client, bounce.format(last, ITEM_NOT_FOUND))
    assert isinstance(new, MessageFailed)


def test_malformed_from_is_dropped_not_fatal() -> None:
    client = login()
    [event] = feed(client, '<message xmlns="jabber:client" from="@bad"><body>x</body></message>')
    assert isinstance(event, Dropped)
    assert client.online


def test_send_chat_frame() -> None:
    client = login()
    msg_id = client.send_chat(JID.parse("Bob@Example.org"), "a < b & c")
    assert client.take_output() == [
        f'<message xmlns="jabber:client" type="chat" to="bob@example.org" id="{msg_id}">'
        "<body>a &lt; b &amp; c</body>"
        f'<origin-id xmlns="urn:xmpp:sid:0" id="{msg_id}"/>'
        '<request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/>'
        '<active xmlns="http://jabber.org/protocol/chatstates"/></message>'
    ]


def test_subscription_methods() -> None:
    client = login()
    client.subscribe("bob@example.org/ignored")
    client.deny("eve@example.org")
    client.unsubscribe("bob@example.org")
    client.approve("carol@example.org")  # not in roster: mutual
    assert client.take_output() == [
        '<presence xmlns="jabber:client" type="subscribe" to="bob@example.org"/>',
        '<presence xmlns="jabber:client" type="unsubscribed" to="eve@example.org"/>',
        '<presence xmlns="jabber:client" type="unsubscribe" to="bob@example.org"/>',
        '<presence xmlns="jabber:client" type="subscribed" to="carol@example.org"/>',
        '<presence xmlns="jabber:client" type="subscribe" to="carol@example.org"/>',
    ]
    feed(
        client,
        '<iq xmlns="jabber:client" type="set" id="r"><query xmlns="jabber:iq:roster">'
        '<item jid="dan@example.org" subscription="to"/></query></iq>',
    )
    client.take_output()
    client.approve("dan@example.org")  # we already see dan: only subscribed
    assert client.take_output() == [
        '<presence xmlns="jabber:client" type="subscribed" to="dan@example.org"/>'
    ]


def test_presence_and_roster_set_frames() -> None:
    client = login()
    client.send_presence("dnd", "Busy")
    client.send_presence(available=False)
    iq_id = client.set_roster_item("bob@example.org", "Bob", ["Friends"])
    assert client.take_output() == [
        '<presence xmlns="jabber:client"><show>dnd</show><status>Busy</status></presence>',
        '<presence xmlns="jabber:client" type="unavailable"/>',
        f'<iq xmlns="jabber:client" type="set" id="{iq_id}"><query xmlns="jabber:iq:roster">'
        '<item jid="bob@example.org" name="Bob"><group>Friends</group></item></query></iq>',
    ]
    assert feed(client, f'<iq xmlns="jabber:client" type="result" id="{iq_id}"/>') == []


def test_sending_before_online_is_a_programming_error() -> None:
    client = new_client()
    with pytest.raises(RuntimeError):
        client.send_chat("bob@example.org", "too early")


# -- XEP-0280 carbons ---------------------------------------------------------------

DISCO_ID = "05" * 8
CARBONS_ID = "06" * 8
DISCO_INFO = "http://jabber.org/protocol/disco#info"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"


def carbons_login(features_: tuple[str, ...] = (CARBONS,)) -> XmppClient:
    """Login with `carbons=True`: disco#info to the domain after Online, then
    `<enable/>` when the server lists carbons."""
    client = XmppClient(
        "alice@example.org", "s3cret", random_bytes=CountingRandom(), carbons=True
    )
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, BIND_FEATURES)
    client.take_output()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{BIND_ID}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{FULL}</jid></bind></iq>',
    )
    assert events == [Online(JID.parse(FULL))]
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="get" id="{ROSTER_ID}">'
        '<query xmlns="jabber:iq:roster"/></iq>',
        '<presence xmlns="jabber:client"/>',
        f'<iq xmlns="jabber:client" type="get" id="{DISCO_ID}" to="example.org">'
        f'<query xmlns="{DISCO_INFO}"/></iq>',
    ]
    found = "".join(f'<feature var="{var}"/>' for var in features_)
    assert feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{DISCO_ID}" from="example.org" '
        f'to="{FULL}"><query xmlns="{DISCO_INFO}"><identity category="server" type="im"/>'
        f"{found}</query></iq>",
    ) == []
    return client


def test_carbons_enabled_after_online_when_the_server_has_them() -> None:
    client = carbons_login()
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="set" id="{CARBONS_ID}"><enable xmlns="{CARBONS}"/></iq>'
    ]
    assert not client.carbons_enabled
    assert feed(client, f'<iq xmlns="jabber:client" type="result" id="{CARBONS_ID}"/>') == []
    assert client.carbons_enabled


def test_carbons_not_enabled_without_the_feature() -> None:
    client = carbons_login(features_=("urn:xmpp:ping",))
    assert client.take_output() == []
    assert not client.carbons_enabled


def test_server_features_answer_from_someone_else_is_ignored() -> None:
    client = XmppClient(
        "alice@example.org", "s3cret", random_bytes=CountingRandom(), carbons=True
    )
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, BIND_FEATURES)
    feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{BIND_ID}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{FULL}</jid></bind></iq>',
    )
    client.take_output()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{DISCO_ID}" from="mallory@evil.example">'
        f'<query xmlns="{DISCO_INFO}"><feature var="{CARBONS}"/></query></iq>',
    )
    assert [type(e) for e in events] == [Dropped]
    assert client.take_output() == []


def carbon(direction: str, inner: str, sender: str = "alice@example.org") -> str:
    return (
        f'<message xmlns="jabber:client" from="{sender}" to="{FULL}" type="chat">'
        f'<{direction} xmlns="{CARBONS}"><forwarded xmlns="{FORWARD}">{inner}</forwarded>'
        f"</{direction}></message>"
    )


def test_received_carbon_is_a_chat_received_for_the_inner_message() -> None:
    client = carbons_login()
    inner = (
        '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/x" '
        'to="alice@example.org/phone"><body>to your phone</body></message>'
    )
    assert feed(client, carbon("received", inner)) == [
        ChatReceived(
            ChatMessage(
                "b1",
                JID.parse("bob@example.org/x"),
                JID.parse("alice@example.org/phone"),
                "to your phone",
                "chat",
            )
        )
    ]


def test_sent_carbon_is_a_chat_sent() -> None:
    client = carbons_login()
    inner = (
        '<message xmlns="jabber:client" type="chat" id="p1" from="alice@example.org/phone" '
        'to="bob@example.org"><body>from my phone</body></message>'
    )
    assert feed(client, carbon("sent", inner)) == [
        ChatSent(
            ChatMessage(
                "p1",
                JID.parse("alice@example.org/phone"),
                JID.parse("bob@example.org"),
                "from my phone",
                "chat",
            )
        )
    ]
    # A sent carbon without a body (chat state) is nothing to show.
    no_body = (
        '<message xmlns="jabber:client" type="chat" from="alice@example.org/phone" '
        'to="bob@example.org"><active xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )
    assert feed(client, carbon("sent", no_body)) == []


@pytest.mark.parametrize(
    "sender", ["bob@example.org", "bob@example.org/x", "alice@example.org/phone", "example.org"]
)
def test_forged_carbon_from_another_jid_is_dropped(sender: str) -> None:
    client = carbons_login()
    inner = (
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x" '
        'to="alice@example.org"><body>FORGED</body></message>'
    )
    client.take_output()  # <enable/>
    for direction in ("received", "sent"):
        [event] = feed(client, carbon(direction, inner, sender))
        assert isinstance(event, Dropped) and "forged" in event.reason
    assert client.take_output() == []


def test_forged_carbon_is_dropped_even_without_carbons_enabled() -> None:
    client = login()
    inner = (
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x" '
        'to="alice@example.org"><body>FORGED</body></message>'
    )
    [event] = feed(client, carbon("received", inner, "carol@example.org/bot"))
    assert isinstance(event, Dropped)


def test_carbon_inside_groupchat_or_bare_forwarded_is_not_a_carbon() -> None:
    client = carbons_login()
    inner = (
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x" '
        'to="alice@example.org"><body>FORGED</body></message>'
    )
    groupchat = (
        f'<message xmlns="jabber:client" from="room@muc.example.org/mallory" to="{FULL}" '
        f'type="groupchat"><body>outer</body><received xmlns="{CARBONS}">'
        f'<forwarded xmlns="{FORWARD}">{inner}</forwarded></received></message>'
    )
    # Not from a room we are in: refused; never the inner one (tests/xmpp/test_muc.py
    # has the same from a joined room).
    [dropped] = feed(client, groupchat)
    assert isinstance(dropped, Dropped)
    bare_forwarded = (
        f'<message xmlns="jabber:client" from="carol@example.org/c" to="{FULL}" type="chat">'
        f'<body>outer</body><forwarded xmlns="{FORWARD}">{inner}</forwarded></message>'
    )
    assert feed(client, bare_forwarded) == [
        ChatReceived(
            ChatMessage(
                None, JID.parse("carol@example.org/c"), JID.parse(FULL), "outer", "chat"
            )
        )
    ]


# -- XEP-0313 archive ----------------------------------------------------------------

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
QUERY_ID = "05" * 8
QUERY_IQ = "06" * 8


def archive_result(
    archive_id: str,
    inner: str,
    query_id: str = QUERY_ID,
    sender: str | None = "alice@example.org",
    stamp: str = "2024-01-02T03:04:05Z",
) -> str:
    from_attr = "" if sender is None else f' from="{sender}"'
    return (
        f'<message xmlns="jabber:client"{from_attr} to="{FULL}">'
        f'<result xmlns="{MAM}" queryid="{query_id}" id="{archive_id}">'
        f'<forwarded xmlns="{FORWARD}"><delay xmlns="urn:xmpp:delay" stamp="{stamp}"/>'
        f"{inner}</forwarded></result></message>"
    )


def fin(iq_id: str, complete: bool, first: str, last: str, count: int) -> str:
    return (
        f'<iq xmlns="jabber:client" type="result" id="{iq_id}">'
        f'<fin xmlns="{MAM}" complete="{"true" if complete else "false"}">'
        f'<set xmlns="{RSM}"><first>{first}</first><last>{last}</last>'
        f"<count>{count}</count></set></fin></iq>"
    )


FROM_BOB = (
    '<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/x" '
    'to="alice@example.org"><body>hello from the past</body></message>'
)
TO_BOB = (
    '<message xmlns="jabber:client" type="chat" id="a1" from="alice@example.org/phone" '
    'to="bob@example.org"><body>my old reply</body></message>'
)


def test_archive_query_results_fin_and_next_page() -> None:
    from roost.xmpp.events import ArchiveDone, ArchiveMessage

    client = login()
    query_id = client.query_archive(after_id="A0")
    assert query_id == QUERY_ID
    [query] = client.take_output()
    assert query.startswith(f'<iq xmlns="jabber:client" type="set" id="{QUERY_IQ}">')
    assert "to=" not in query.split(">")[0]  # our own archive
    assert f'queryid="{QUERY_ID}"' in query
    assert "<max>100</max><after>A0</after>" in query
    stamp = 1704164645.0
    [received] = feed(client, archive_result("A1", FROM_BOB))
    assert received == ArchiveMessage(
        QUERY_ID,
        "A1",
        stamp,
        ChatMessage(
            "b1", JID.parse("bob@example.org/x"), JID.parse("alice@example.org"),
            "hello from the past", "chat", None, stamp, "A1",
        ),
        "in",
    )
    # No `from` is our own archive too; our own message is "out".
    [sent] = feed(client, archive_result("A2", TO_BOB, sender=None))
    assert isinstance(sent, ArchiveMessage) and sent.direction == "out"
    assert sent.message.archive_id == "A2" and sent.message.id == "a1"
    assert feed(client, fin(QUERY_IQ, False, "A1", "A2", 7)) == [
        ArchiveDone(QUERY_ID, False, "A2", 7, "A1")
    ]
    # After its fin, the query id is forgotten: a late result is dropped.
    [late] = feed(client, archive_result("A3", FROM_BOB))
    assert isinstance(late, Dropped)
    # The next page, forward from the last id.
    second = client.query_archive(after_id="A2", max=50)
    [query] = client.take_output()
    assert "<max>50</max><after>A2</after>" in query and f'queryid="{second}"' in query


def test_archive_last_page_and_before() -> None:
    client = login()
    client.query_archive(before_last=True)
    [query] = client.take_output()
    assert "<max>100</max><before/>" in query
    client.query_archive(before_id="A5", max=20)
    [query] = client.take_output()
    assert "<max>20</max><before>A5</before>" in query


@pytest.mark.parametrize(
    "sender", ["bob@example.org", "alice@example.org/phone", "example.org", "carol@example.org"]
)
def test_archive_result_from_anyone_else_is_dropped(sender: str) -> None:
    client = login()
    client.query_archive()
    client.take_output()
    [event] = feed(client, archive_result("A1", FROM_BOB, sender=sender))
    assert isinstance(event, Dropped) and "forged" in event.reason


def test_archive_result_for_a_query_we_did_not_send_is_dropped() -> None:
    client = login()
    [event] = feed(client, archive_result("A1", FROM_BOB))  # nothing asked yet
    assert isinstance(event, Dropped) and "forged" in event.reason
    client.query_archive()
    client.take_output()
    [event] = feed(client, archive_result("A1", FROM_BOB, query_id="guessed"))
    assert isinstance(event, Dropped)
    # A result without exactly one forwarded message is refused, not shown.
    bad = (
        f'<message xmlns="jabber:client" from="alice@example.org">'
        f'<result xmlns="{MAM}" queryid="{QUERY_ID}" id="A1"/></message>'
    )
    [event] = feed(client, bad)
    assert isinstance(event, Dropped)


def test_archive_item_not_found_is_a_gap_and_other_errors_fail() -> None:
    from roost.xmpp.events import ArchiveFailed, ArchiveGap

    client = login()
    query_id = client.query_archive(after_id="gone")
    client.take_output()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="error" id="{QUERY_IQ}"><error type="cancel">'
        '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    )
    assert events == [ArchiveGap(query_id)]
    query_id = client.query_archive()
    [query] = client.take_output()
    iq_id = query.split('id="')[1].split('"')[0]
    [failed] = feed(
        client,
        f'<iq xmlns="jabber:client" type="error" id="{iq_id}"><error type="cancel">'
        '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    )
    assert isinstance(failed, ArchiveFailed) and failed.query_id == query_id


def test_live_message_carries_only_a_trusted_stanza_id() -> None:
    client = login()
    message = (
        f'<message xmlns="jabber:client" type="chat" id="m1" from="bob@example.org/x" '
        f'to="{FULL}"><body>hi</body>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="FAKE" by="bob@example.org"/>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="S1" by="alice@example.org"/></message>'
    )
    [event] = feed(client, message)
    assert isinstance(event, ChatReceived) and event.message.archive_id == "S1"
    only_forged = message.replace(' id="S1" by="alice@example.org"', ' id="S2" by="mallory@x"')
    [event] = feed(client, only_forged)
    assert isinstance(event, ChatReceived) and event.message.archive_id is None


# -- receipts (XEP-0184), chat markers (XEP-0333), chat states (XEP-0085) -------


def test_receipt_and_markers_for_our_message_from_its_addressee() -> None:
    client = login()
    msg_id = client.send_chat("bob@example.org", "hi")
    client.take_output()
    events = feed(
        client,
        f'<message xmlns="jabber:client" from="bob@example.org/phone" to="{FULL}" id="r1">'
        f'<received xmlns="urn:xmpp:receipts" id="{msg_id}"/></message>',
    )
    assert events == [Receipt(JID.parse("bob@example.org/phone"), msg_id)]
    events = feed(
        client,
        f'<message xmlns="jabber:client" type="chat" from="bob@example.org/laptop" id="m2">'
        f'<displayed xmlns="urn:xmpp:chat-markers:0" id="{msg_id}"/></message>',
    )
    assert events == [Marker(JID.parse("bob@example.org/laptop"), "displayed", msg_id)]
    assert client.take_output() == []  # a receipt is never answered


@pytest.mark.parametrize(
    "sender", ["mallory@example.org/x", "example.org", "bob@evil.example/x", None]
)
def test_forged_receipt_or_marker_from_another_jid_is_dropped(sender: str | None) -> None:
    client = login()
    msg_id = client.send_chat("bob@example.org", "hi")
    from_attr = "" if sender is None else f' from="{sender}"'
    [event] = feed(
        client,
        f'<message xmlns="jabber:client"{from_attr}>'
        f'<received xmlns="urn:xmpp:receipts" id="{msg_id}"/></message>',
    )
    assert isinstance(event, Dropped)
    [event] = feed(
        client,
        f'<message xmlns="jabber:client" type="chat"{from_attr}>'
        f'<displayed xmlns="urn:xmpp:chat-markers:0" id="{msg_id}"/></message>',
    )
    assert isinstance(event, Dropped)


def test_receipt_or_marker_for_an_unknown_id_is_dropped() -> None:
    client = login()
    client.send_chat("bob@example.org", "hi")
    for payload in (
        '<received xmlns="urn:xmpp:receipts" id="not-ours"/>',
        '<displayed xmlns="urn:xmpp:chat-markers:0" id="not-ours"/>',
    ):
        [event] = feed(
            client, f'<message xmlns="jabber:client" from="bob@example.org/x">{payload}</message>'
        )
        assert isinstance(event, Dropped)


def roster_push(client: XmppClient, jid: str, subscription: str) -> None:
    feed(
        client,
        '<iq xmlns="jabber:client" type="set" id="push-r"><query xmlns="jabber:iq:roster">'
        f'<item jid="{jid}" subscription="{subscription}"/></query></iq>',
    )
    client.take_output()  # the push's result


def test_receipt_request_is_answered_at_once() -> None:
    client = login()
    roster_push(client, "bob@example.org", "both")
    events = feed(
        client,
        f'<message xmlns="jabber:client" type="chat" id="b1" from="bob@example.org/phone" '
        f'to="{FULL}"><body>hi</body><request xmlns="urn:xmpp:receipts"/>'
        '<markable xmlns="urn:xmpp:chat-markers:0"/>'
        '<active xmlns="http://jabber.org/protocol/chatstates"/></message>',
    )
    [received] = events
    assert isinstance(received, ChatReceived)
    assert received.message.markable and received.message.chat_state == "active"
    assert client.take_output() == [
        '<message xmlns="jabber:client" to="bob@example.org/phone" id="0505050505050505">'
        '<received xmlns="urn:xmpp:receipts" id="b1"/></message>'
    ]


@pytest.mark.parametrize(
    "stanza",
    [
        # groupchat: never (XEP-0184 §5.5)
        '<message xmlns="jabber:client" type="groupchat" id="g1" from="room@muc.example.org/bob">'
        '<body>hi</body><request xmlns="urn:xmpp:receipts"/></message>',
        # a carbon of a message we sent from another client
        f'<message xmlns="jabber:client" from="alice@example.org" to="{FULL}">'
        '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        '<message xmlns="jabber:client" type="chat" id="c1" from="alice@example.org/phone" '
        'to="bob@example.org"><body>hi</body><request xmlns="urn:xmpp:receipts"/></message>'
        "</forwarded></sent></message>",
        # a message from another client of our own account
        f'<message xmlns="jabber:client" type="chat" id="o1" from="alice@example.org/phone" '
        f'to="{FULL}"><body>note</body><request xmlns="urn:xmpp:receipts"/></message>',
        # no id to acknowledge
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x">'
        '<body>hi</body><request xmlns="urn:xmpp:receipts"/></message>',
    ],
)
def test_no_receipt_for_groupchat_carbons_own_clients_or_without_id(stanza: str) -> None:
    client = login()
    feed(client, stanza)
    assert client.take_output() == []


def test_no_receipt_for_an_archive_result() -> None:
    client = login()
    query_id = client.query_archive(before_last=True)
    client.take_output()
    [event] = feed(
        client,
        f'<message xmlns="jabber:client" from="alice@example.org" to="{FULL}">'
        f'<result xmlns="urn:xmpp:mam:2" queryid="{query_id}" id="a1">'
        '<forwarded xmlns="urn:xmpp:forward:0">'
        '<message xmlns="jabber:client" type="chat" id="x1" from="bob@example.org/x" '
        f'to="{FULL}"><body>old</body><request xmlns="urn:xmpp:receipts"/></message>'
        "</forwarded></result></message>",
    )
    assert event.message.id == "x1"  # type: ignore[attr-defined]
    assert client.take_output() == []


def test_standalone_chat_states_and_markers_out() -> None:
    client = login()
    assert feed(
        client,
        '<message xmlns="jabber:client" type="chat" from="bob@example.org/x">'
        '<composing xmlns="http://jabber.org/protocol/chatstates"/></message>',
    ) == [ChatState(JID.parse("bob@example.org/x"), "composing")]
    # Our own other client's states (not carbons) are not someone typing.
    assert feed(
        client,
        '<message xmlns="jabber:client" type="chat" from="alice@example.org/phone">'
        '<composing xmlns="http://jabber.org/protocol/chatstates"/></message>',
    ) == []
    client.send_chat_state("bob@example.org", "paused")
    marker_id = client.send_marker("bob@example.org", "displayed", "b1")
    assert client.take_output() == [
        '<message xmlns="jabber:client" to="bob@example.org" type="chat">'
        '<paused xmlns="http://jabber.org/protocol/chatstates"/></message>',
        f'<message xmlns="jabber:client" to="bob@example.org" id="{marker_id}" type="chat">'
        '<displayed xmlns="urn:xmpp:chat-markers:0" id="b1"/>'
        '<store xmlns="urn:xmpp:hints"/></message>',
    ]


def test_no_receipt_for_someone_who_cant_see_our_presence() -> None:
    """XEP-0184 §8: a receipt would tell a stranger (or a contact we haven't
    allowed to see our presence) that we are online."""
    request = (
        '<message xmlns="jabber:client" type="chat" id="s1" from="{jid}/x" '
        f'to="{FULL}"><body>hi</body><request xmlns="urn:xmpp:receipts"/></message>'
    )
    client = login()
    feed(client, request.format(jid="stranger@example.net"))
    assert client.take_output() == []
    roster_push(client, "carol@example.org", "to")  # we see hers; she doesn't see ours
    feed(client, request.format(jid="carol@example.org"))
    assert client.take_output() == []
    roster_push(client, "carol@example.org", "from")
    feed(client, request.format(jid="carol@example.org"))
    assert len(client.take_output()) == 1
