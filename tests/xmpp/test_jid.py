from __future__ import annotations

import pytest
from roost.xmpp.errors import JidError
from roost.xmpp.jid import JID


@pytest.mark.parametrize(
    ("text", "local", "domain", "resource"),
    [
        ("alice@example.org", "alice", "example.org", None),
        ("Alice@Example.ORG/Phone", "alice", "example.org", "Phone"),
        ("example.org", None, "example.org", None),
        ("example.org/res", None, "example.org", "res"),
        ("alice@example.org./r", "alice", "example.org", "r"),  # trailing dot stripped
        ("alice@example.org/a/b@c", "alice", "example.org", "a/b@c"),  # first "/" splits
        ("alice@example.org/with space", "alice", "example.org", "with space"),
        ("alice@192.168.0.1", "alice", "192.168.0.1", None),
        ("alice@[::1]", "alice", "[::1]", None),
        ("alice@[2001:DB8::1]/r", "alice", "[2001:db8::1]", "r"),
        ("alice@[::ffff:10.0.0.1]", "alice", "[::ffff:10.0.0.1]", None),
        ("jürgen@bücher.example", "jürgen", "bücher.example", None),
        ("a" * 1023 + "@example.org", "a" * 1023, "example.org", None),
        ("x@" + "a" * 63 + ".org", "x", "a" * 63 + ".org", None),
    ],
)
def test_valid(text: str, local: str | None, domain: str, resource: str | None) -> None:
    jid = JID.parse(text)
    assert (jid.local, jid.domain, jid.resource) == (local, domain, resource)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@example.org",
        "alice@",
        "alice@example.org/",
        "al ice@example.org",
        "al\tice@example.org",
        'al"ice@example.org',
        "al&ice@example.org",
        "al'ice@example.org",
        "al:ice@example.org",
        "al<ice@example.org",
        "al>ice@example.org",
        "a@b@example.org",
        "alice@exa mple.org",
        "alice@example..org",
        "alice@.example.org",
        "alice@-example.org",
        "alice@example_org",
        "alice@" + "a" * 64 + ".org",
        "a" * 1024 + "@example.org",
        "alice@example.org/" + "r" * 1024,
        "alice@example.org/bad\x00resource",
        "alice@[not:v6]",
        "alice@[1:2]",
        "alice@<script>",
        "é" * 512 + "@example.org",  # 1024 bytes of UTF-8
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(JidError):
        JID.parse(text)


def test_bare_equality_hash_and_str() -> None:
    full = JID.parse("Alice@Example.org/Laptop")
    assert str(full) == "alice@example.org/Laptop"
    assert full.bare == JID.parse("alice@example.org")
    assert full.bare.is_bare and not full.is_bare
    assert str(full.bare) == "alice@example.org"
    assert full != full.bare
    assert JID.parse("ALICE@example.org") == JID.parse("alice@EXAMPLE.org")
    assert len({JID.parse("a@b.c"), JID.parse("A@B.C"), JID.parse("a@b.c/r")}) == 2
    bare = full.bare
    assert bare.bare is bare
    assert full.bare.with_resource("x") == JID.parse("alice@example.org/x")
    # Resources are case-sensitive.
    assert JID.parse("a@b.c/R") != JID.parse("a@b.c/r")
    assert repr(full) == "JID('alice@example.org/Laptop')"


def test_user_message() -> None:
    with pytest.raises(JidError) as info:
        JID.parse("not an address")
    assert info.value.user_message == (
        "That address doesn't look right. It should look like name@example.org."
    )


def test_normalised() -> None:
    from roost.xmpp.jid import JID, normalised

    assert normalised("Alice@Example.ORG/Phone") == "alice@example.org/Phone"
    assert normalised(JID.parse("bob@example.org")) == "bob@example.org"
    assert normalised(None) is None
    assert normalised("not a jid@") is None
    assert normalised("a@b/") is None


def test_full_jids_share_their_parsed_bare_part() -> None:
    # A room's 500 occupants are room/nick: the room part is validated once.
    room = JID.parse("big@conference.example.org")
    occupants = [JID.parse(f"big@conference.example.org/nick{i}") for i in range(3)]
    assert all(o.bare is room for o in occupants)
    assert JID.parse("Big@Conference.Example.org/nick0") == occupants[0]
    assert [o.resource for o in occupants] == ["nick0", "nick1", "nick2"]
    assert occupants[0] == JID("big", "conference.example.org", "nick0")
    # Still validated: a bad bare part or a bad resource, cached bare or not.
    for text in ("b ad@conference.example.org/nick", "big@conference.example.org/bad\x01",
                 "big@conference.example.org/c1\x85", "big@conference.example.org/del\x7f",
                 "big@conference.example.org/" + "r" * 1024,
                 "big@conference.example.org/" + "é" * 512):
        with pytest.raises(JidError):
            JID.parse(text)
    with pytest.raises(JidError):
        room.with_resource("")
    with pytest.raises(JidError):
        room.with_resource("a\x00b")
    # Long or not printable, yet allowed: the full check still runs.
    for resource in ("r" * 1023, "é" * 511, "zw\u200dj", "nb\xa0sp"):
        assert JID.parse("big@conference.example.org/" + resource).resource == resource
    built = JID("bob", "Example.org", "r")
    assert built.bare == JID.parse("bob@example.org") and built.bare.resource is None
    assert str(built.with_resource("s")) == "bob@example.org/s"


def test_the_parse_memory_stays_bounded() -> None:
    from roost.xmpp import jid as jid_module

    for i in range(jid_module._PARSED_MAX + 10):
        JID.parse(f"room@muc.example.org/n{i}")
    assert len(jid_module._PARSED) <= jid_module._PARSED_MAX
    assert jid_module._parsed_size == len(jid_module._PARSED)
    assert JID.parse("room@muc.example.org/n3").resource == "n3"
