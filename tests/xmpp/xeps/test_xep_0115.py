"""XEP-0115 entity capabilities: the hash we announce matches what we answer."""

from __future__ import annotations

import base64
import hashlib

from roost.xmpp.xeps import xep_0115


def test_ver_is_the_hash_of_our_identity_and_features() -> None:
    text = xep_0115.verification_string(xep_0115.IDENTITIES, xep_0115.FEATURES)
    digest = base64.b64encode(hashlib.sha1(text.encode("utf-8")).digest()).decode("ascii")
    assert digest == xep_0115.VER
    assert sorted(xep_0115.FEATURES) == xep_0115.FEATURES


def test_verification_string_matches_the_xep_example() -> None:
    # XEP-0115 §5.2, simple generation example.
    text = xep_0115.verification_string(
        [("client", "pc", "Exodus 0.9.1")],
        ["http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
         "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"],
    )
    digest = base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()
    assert digest == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_caps_element_and_nodes() -> None:
    assert xep_0115.build_caps().to_xml() == (
        f'<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="{xep_0115.NODE}" '
        f'ver="{xep_0115.VER}"/>'
    )
    assert xep_0115.is_our_node(None)
    assert xep_0115.is_our_node(xep_0115.NODE + "#" + xep_0115.VER)
    assert not xep_0115.is_our_node(xep_0115.NODE + "#old")
    assert "urn:xmpp:bookmarks:1+notify" in xep_0115.FEATURES
