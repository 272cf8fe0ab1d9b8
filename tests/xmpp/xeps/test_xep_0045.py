"""XEP-0045 MUC: join/leave presence, occupant presence, admin and owner queries,
subjects, mediated invitations."""

from __future__ import annotations

import pytest
from roost.xmpp.errors import JidError
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0045
from roost.xmpp.xeps.xep_0045 import MediatedInvite, MucItem, MucUser
from roost.xmpp.xmlparse import parse_xml

ROOM = JID.parse("chess@conference.example.org")
MUC = "http://jabber.org/protocol/muc"
USER = "http://jabber.org/protocol/muc#user"


def test_join_presence() -> None:
    occupant = ROOM.with_resource("Alice")
    assert xep_0045.build_join(occupant).to_xml() == (
        '<presence xmlns="jabber:client" to="chess@conference.example.org/Alice">'
        f'<x xmlns="{MUC}"><history maxstanzas="0"/></x></presence>'
    )
    assert xep_0045.build_join(occupant, "s3cret & co", None).to_xml() == (
        '<presence xmlns="jabber:client" to="chess@conference.example.org/Alice">'
        f'<x xmlns="{MUC}"><password>s3cret &amp; co</password></x></presence>'
    )
    since = xep_0045.build_join(occupant, None, 20, 1_700_000_000.0).to_xml()
    assert '<history maxstanzas="20" since="2023-11-14T22:13:20Z"/>' in since
    with pytest.raises(ValueError):
        xep_0045.build_join(ROOM)  # no nick


def test_leave_and_nick_change() -> None:
    assert xep_0045.build_leave(ROOM.with_resource("A"), "bye").to_xml() == (
        '<presence xmlns="jabber:client" to="chess@conference.example.org/A" '
        'type="unavailable"><status>bye</status></presence>'
    )
    # A nick change carries no muc <x/> (that would be a join).
    assert xep_0045.build_nick_change(ROOM.with_resource("B")).to_xml() == (
        '<presence xmlns="jabber:client" to="chess@conference.example.org/B"/>'
    )


def test_nick_must_be_a_resourcepart() -> None:
    with pytest.raises(JidError):
        ROOM.with_resource("")


def test_parse_self_presence_from_prosody() -> None:
    presence = parse_xml(
        '<presence xmlns="jabber:client" from="chess@conference.example.org/Alice">'
        '<x xmlns="vcard-temp:x:update"><photo/></x>'
        f'<x xmlns="{USER}"><status code="201"/>'
        '<item role="moderator" affiliation="owner" jid="alice@example.org/web"/>'
        '<status code="110"/><status code="bad"/><status code="1100"/></x></presence>'
    )
    user = xep_0045.parse_user(presence)
    assert user == MucUser(
        MucItem("moderator", "owner", JID.parse("alice@example.org/web")), [201, 110]
    )


def test_parse_user_takes_the_first_item_and_destroy_and_every_status() -> None:
    # One pass over <x/>: children of other namespaces don't count.
    presence = parse_xml(
        f'<presence xmlns="jabber:client"><x xmlns="{USER}">'
        '<item xmlns="urn:example:other" role="moderator"/><status xmlns="urn:example:other" '
        'code="307"/><status code="100"/><item role="visitor" nick="first"/>'
        '<destroy><reason>one</reason></destroy><item role="moderator" nick="second"/>'
        '<status code="170"/><destroy jid="other@conference.example.org"/></x></presence>'
    )
    user = xep_0045.parse_user(presence)
    assert user is not None and user.codes == [100, 170]
    assert user.item == MucItem("visitor", None, None, "first")
    assert user.destroyed and user.alternate is None and user.destroy_reason == "one"
    assert xep_0045.status_codes(presence.children[0]) == [100, 170]


def test_parse_kick_ban_nick_change_and_destroy() -> None:
    kicked = parse_xml(
        f'<presence xmlns="jabber:client" type="unavailable"><x xmlns="{USER}">'
        '<status code="307"/><item role="none" affiliation="none">'
        '<actor nick="Alice" jid="alice@example.org/web"/><reason>spam</reason></item>'
        '<status code="110"/></x></presence>'
    )
    user = xep_0045.parse_user(kicked)
    assert user is not None and user.codes == [307, 110]
    assert user.item == MucItem("none", "none", None, None, "Alice", "spam")
    renamed = parse_xml(
        f'<presence xmlns="jabber:client" type="unavailable"><x xmlns="{USER}">'
        '<item affiliation="member" role="participant" nick="Bobby"/>'
        '<status code="303"/></x></presence>'
    )
    user = xep_0045.parse_user(renamed)
    assert user is not None and user.item is not None and user.item.nick == "Bobby"
    assert xep_0045.NICK_CHANGED in user.codes
    destroyed = parse_xml(
        f'<presence xmlns="jabber:client" type="unavailable"><x xmlns="{USER}">'
        '<item affiliation="none" role="none"/>'
        '<destroy jid="new@conference.example.org"><reason>moved</reason></destroy>'
        "</x></presence>"
    )
    user = xep_0045.parse_user(destroyed)
    assert user is not None and user.destroyed
    assert user.alternate == JID.parse("new@conference.example.org")
    assert user.destroy_reason == "moved"
    actor_jid_only = parse_xml(
        f'<presence xmlns="jabber:client"><x xmlns="{USER}"><item role="none">'
        '<actor jid="admin@example.org"/></item></x></presence>'
    )
    user = xep_0045.parse_user(actor_jid_only)
    assert user is not None and user.item is not None and user.item.actor == "admin@example.org"
    assert xep_0045.parse_user(parse_xml('<presence xmlns="jabber:client"/>')) is None
    bad_jid = parse_xml(
        f'<presence xmlns="jabber:client"><x xmlns="{USER}"><item jid="@bad"/></x></presence>'
    )
    user = xep_0045.parse_user(bad_jid)
    assert user is not None and user.item is not None and user.item.jid is None


def test_subject() -> None:
    def subject(xml: str) -> str | None:
        return xep_0045.parse_subject(parse_xml(xml))

    assert subject(
        '<message xmlns="jabber:client" type="groupchat"><subject>Chess!</subject></message>'
    ) == "Chess!"
    assert subject('<message xmlns="jabber:client" type="groupchat"><subject/></message>') == ""
    # With a body it is a message, not a subject change (§8.1); not groupchat: neither.
    assert subject(
        '<message xmlns="jabber:client" type="groupchat"><subject>x</subject><body>hi</body>'
        "</message>"
    ) is None
    assert subject('<message xmlns="jabber:client"><subject>x</subject></message>') is None
    built = xep_0045.build_subject(ROOM.with_resource("ignored"), "New <topic>", "s1")
    assert built.to_xml() == (
        '<message xmlns="jabber:client" to="chess@conference.example.org" type="groupchat" '
        'id="s1"><subject>New &lt;topic&gt;</subject></message>'
    )
    assert xep_0045.parse_subject(parse_xml(built.to_xml())) == "New <topic>"


def test_mediated_invitation() -> None:
    message = parse_xml(
        '<message xmlns="jabber:client" from="chess@conference.example.org" '
        f'to="bob@example.org"><x xmlns="{USER}"><invite from="alice@example.org/web">'
        "<reason>Join us</reason></invite><password>pw</password></x></message>"
    )
    assert xep_0045.parse_mediated_invite(message) == MediatedInvite(
        ROOM, JID.parse("alice@example.org/web"), "Join us", "pw"
    )
    no_invite = parse_xml(
        f'<message xmlns="jabber:client" from="{ROOM}"><x xmlns="{USER}"/></message>'
    )
    assert xep_0045.parse_mediated_invite(no_invite) is None
    from_a_domain = parse_xml(
        '<message xmlns="jabber:client" from="conference.example.org">'
        f'<x xmlns="{USER}"><invite/></x></message>'
    )
    assert xep_0045.parse_mediated_invite(from_a_domain) is None
    built = xep_0045.build_mediated_invite(ROOM, JID.parse("bob@example.org"), "m1", "hi")
    assert built.to_xml() == (
        '<message xmlns="jabber:client" to="chess@conference.example.org" id="m1">'
        f'<x xmlns="{USER}"><invite to="bob@example.org"><reason>hi</reason></invite></x>'
        "</message>"
    )


def test_admin_queries() -> None:
    admin = "http://jabber.org/protocol/muc#admin"
    assert xep_0045.build_role_query("Bob", "none", "bye").to_xml() == (
        f'<query xmlns="{admin}"><item nick="Bob" role="none"><reason>bye</reason></item>'
        "</query>"
    )
    assert xep_0045.build_affiliation_query(
        JID.parse("bob@example.org/phone"), "outcast"
    ).to_xml() == (f'<query xmlns="{admin}"><item jid="bob@example.org" affiliation="outcast"/>'
                   "</query>")
    assert xep_0045.build_affiliation_list_query("member").to_xml() == (
        f'<query xmlns="{admin}"><item affiliation="member"/></query>'
    )
    for bad in (
        lambda: xep_0045.build_role_query("Bob", "king"),
        lambda: xep_0045.build_affiliation_query(ROOM, "friend"),
        lambda: xep_0045.build_affiliation_list_query("all"),
    ):
        with pytest.raises(ValueError):
            bad()
    answer = parse_xml(
        f'<query xmlns="{admin}"><item affiliation="member" jid="bob@example.org" nick="Bob"/>'
        '<item affiliation="member" jid="carol@example.org"/></query>'
    )
    assert xep_0045.parse_admin_items(answer) == [
        MucItem(None, "member", JID.parse("bob@example.org"), "Bob"),
        MucItem(None, "member", JID.parse("carol@example.org")),
    ]


def test_owner_queries() -> None:
    owner = "http://jabber.org/protocol/muc#owner"
    assert xep_0045.build_config_query().to_xml() == f'<query xmlns="{owner}"/>'
    # The instant room: an empty submit form.
    assert xep_0045.build_config_submit(None).to_xml() == (
        f'<query xmlns="{owner}"><x xmlns="jabber:x:data" type="submit"/></query>'
    )
    submitted = xep_0045.build_config_submit({"muc#roomconfig_passwordprotectedroom": True})
    form = xep_0045.parse_config(parse_xml(f'<iq xmlns="jabber:client">{submitted.to_xml()}</iq>'))
    assert form is not None and form.type == "submit"
    assert form.form_type == xep_0045.ROOMCONFIG
    assert form.values()["muc#roomconfig_passwordprotectedroom"] == ["1"]
    assert xep_0045.parse_config(parse_xml('<iq xmlns="jabber:client"/>')) is None
    destroy = xep_0045.build_destroy(JID.parse("new@conference.example.org/x"), "moved")
    assert destroy.to_xml() == (
        f'<query xmlns="{owner}"><destroy jid="new@conference.example.org">'
        "<reason>moved</reason></destroy></query>"
    )


def test_private_marker() -> None:
    assert xep_0045.build_private_marker().to_xml() == f'<x xmlns="{USER}"/>'
    assert xep_0045.has_muc_user(parse_xml(f'<message xmlns="jabber:client"><x xmlns="{USER}"/>'
                                           "</message>"))
