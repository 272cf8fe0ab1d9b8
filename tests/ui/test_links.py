"""`xmpp:` links and shares (roost.ui.links), parsed in CPython."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from roost.ui.links import (
    CHAT,
    JOIN,
    LinkError,
    Share,
    XmppLink,
    link_in_hash,
    parse_link,
    share_in_query,
    unquote,
)


def test_a_plain_address_opens_the_chat() -> None:
    assert parse_link("xmpp:bob@localhost") == XmppLink(CHAT, "bob@localhost")
    # Case-insensitive scheme; the JID is normalised and made bare.
    assert parse_link("XMPP:Bob@LocalHost/phone") == XmppLink(CHAT, "bob@localhost")


def test_message_action_with_a_body_prefills_it() -> None:
    link = parse_link("xmpp:bob@localhost?message;subject=Hi;body=See%20you%20at%208%3B%20ok%3F")
    assert link == XmppLink(CHAT, "bob@localhost", body="See you at 8; ok?")
    # "+" is not a space in an xmpp: URI (RFC 5122 is not a form encoding).
    assert parse_link("xmpp:bob@localhost?message;body=1+1").body == "1+1"
    assert parse_link("xmpp:bob@localhost?message;body=caf%C3%A9").body == "café"


def test_other_chat_like_actions_open_the_chat_without_a_body() -> None:
    for query in ("?roster;name=Bob", "?subscribe", "?omemo-sid-123=abcd", "?message"):
        assert parse_link("xmpp:bob@localhost" + query) == XmppLink(CHAT, "bob@localhost")
    assert parse_link("xmpp:bob@localhost?roster;body=x").body == ""


def test_join_links() -> None:
    link = parse_link("xmpp:games@muc.localhost?join")
    assert link == XmppLink(JOIN, "games@muc.localhost")
    assert link.uri == "xmpp:games@muc.localhost?join"
    link = parse_link("xmpp:caf%C3%A9@muc.localhost?join;password=s%3Dcret")
    assert (link.jid, link.password) == ("café@muc.localhost", "s=cret")
    assert link.uri == "xmpp:café@muc.localhost?join"


def test_authority_and_fragment_are_ignored() -> None:
    assert parse_link("xmpp://alice@localhost/bob@localhost?message") == XmppLink(
        CHAT, "bob@localhost"
    )
    assert parse_link("xmpp:bob@localhost#frag") == XmppLink(CHAT, "bob@localhost")


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("xmpp:", "names no address"),
        ("xmpp:?message", "names no address"),
        ("xmpp://alice@localhost", "names no address"),
        ("xmpp:localhost", "is a server"),
        ("xmpp:@localhost", "not a valid address"),
        ("xmpp:bob@", "not a valid address"),
        ("xmpp:b o b@localhost", "not a valid address"),
        ("xmpp:bob@localhost?command;node=x", "can't do “command” links"),
        ("xmpp:bob%ZZ@localhost", "garbled"),
        ("xmpp:bob%C3@localhost", "garbled"),
        ("mailto:bob@localhost", "not an xmpp: link"),
    ],
)
def test_links_that_cannot_be_followed_say_why(uri: str, reason: str) -> None:
    with pytest.raises(LinkError, match=reason):
        parse_link(uri)


def test_hash_forms() -> None:
    assert link_in_hash("#xmpp:bob@localhost") == "xmpp:bob@localhost"
    assert link_in_hash("xmpp:bob@localhost") == "xmpp:bob@localhost"
    assert link_in_hash("") is None
    assert link_in_hash("#") is None
    assert link_in_hash("#section-2") is None
    # A protocol handler's %s: the whole URI percent-encoded, decoded once
    # here and its parts once more by parse_link.
    uri = "xmpp:bob@localhost?message;body=50%25%20off"
    hashed = link_in_hash("#" + quote(uri, safe=""))
    assert hashed == uri
    assert parse_link(hashed).body == "50% off"
    with pytest.raises(LinkError):
        link_in_hash("#xmpp%3Abob%4")


def test_unquote() -> None:
    assert unquote("a%20b") == "a b"
    assert unquote("a+b") == "a+b"
    assert unquote("a+b", plus_is_space=True) == "a b"
    assert unquote("%E2%9C%93") == "✓"


def test_share_query() -> None:
    assert share_in_query("") is None
    assert share_in_query("?foo=1") is None
    share = share_in_query(
        "?share-title=A+page&share-text=Look+at+this&share-url=https%3A%2F%2Fex.org%2Fa%3Fb%3D1"
    )
    assert share is not None
    assert (share.title, share.text, share.url) == (
        "A page", "Look at this", "https://ex.org/a?b=1"
    )
    assert share.message() == "Look at this https://ex.org/a?b=1"
    # Android often puts the link in the text already.
    assert Share("T", "Read https://ex.org", "https://ex.org").message() == "Read https://ex.org"
    assert Share("Only a title").message() == "Only a title"
    assert Share(url="https://ex.org").message() == "https://ex.org"
    # A broken escape in one field empties that field, never raises.
    broken = share_in_query("?share-text=%ZZ&share-url=https%3A%2F%2Fex.org")
    assert broken is not None and broken.message() == "https://ex.org"
    assert "Look" not in repr(share)  # shared text stays out of logs
