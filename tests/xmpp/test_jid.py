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
