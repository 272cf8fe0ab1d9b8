"""XEP-0115: Entity Capabilities, and what this client tells XEP-0030 it does.

Our available presence carries `<c node ver/>`: a hash of our disco#info
identity and features. A server or contact that hasn't seen that `ver`
asks us once (disco#info to our full JID, node "NODE#VER") and caches the
answer. This is how the server's PEP service learns that we want
`urn:xmpp:bookmarks:1` notifications (the `+notify` feature, XEP-0163):
without caps there are none.

The hash is fixed (our features don't change at run time), so it is
written here rather than computed: no SHA-1 or base64 at start-up under
Brython. A test recomputes it from `IDENTITIES` and `FEATURES`; change
them together.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element

NS = ns.CAPS
# Names the software; `.invalid` (RFC 2606) because there is no project URL yet.
NODE = "https://roost.invalid"
IDENTITIES: list[tuple[str, str, str | None]] = [("client", "web", "Roost")]
# Sorted by octets, as XEP-0115 §5.1 hashes them.
FEATURES = [
    "eu.siacs.conversations.axolotl.devicelist+notify",  # XEP-0384 0.3 (legacy OMEMO)
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",  # XEP-0085
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/muc",  # XEP-0045
    "jabber:x:conference",  # XEP-0249
    "urn:xmpp:bookmarks:1+notify",  # XEP-0402 changes from our other clients
    "urn:xmpp:chat-markers:0",  # XEP-0333
    "urn:xmpp:message-correct:0",  # XEP-0308
    "urn:xmpp:message-moderate:0",  # XEP-0425 0.2
    "urn:xmpp:message-moderate:1",  # XEP-0425 0.3
    "urn:xmpp:omemo:2:devices+notify",  # XEP-0384 0.8+ (OMEMO 2)
    "urn:xmpp:ping",  # XEP-0199
    "urn:xmpp:receipts",  # XEP-0184
]
HASH = "sha-1"
VER = "d47XPN3l2FaOrmRAU38WKIk4n3M="


def verification_string(
    identities: list[tuple[str, str, str | None]], features: list[str]
) -> str:
    """XEP-0115 §5.1's input to the hash (no forms, no xml:lang)."""
    parts = [
        category + "/" + kind + "//" + (name or "") + "<"
        for category, kind, name in sorted(identities, key=lambda i: (i[0], i[1], i[2] or ""))
    ]
    parts.extend(feature + "<" for feature in sorted(features))
    return "".join(parts)


def build_caps() -> Element:
    return Element("c", NS, {"hash": HASH, "node": NODE, "ver": VER})


def is_our_node(node: str | None) -> bool:
    """True for a disco#info about us: no node, or our caps node#ver."""
    return node is None or node == NODE + "#" + VER
