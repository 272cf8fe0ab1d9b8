"""XEP-0352: Client State Indication (`urn:xmpp:csi:0`).

Top-level stream elements (nonzas, not stanzas), sent only when the server
advertised `<csi/>` in its stream features: `<inactive/>` when the page is
hidden, `<active/>` when it is shown again.
"""

from __future__ import annotations

from roost.xmpp.element import Element

NS = "urn:xmpp:csi:0"


def build_active() -> Element:
    return Element("active", NS)


def build_inactive() -> Element:
    return Element("inactive", NS)


def supports_csi(features: Element) -> bool:
    """True when the `<stream:features/>` element offers CSI."""
    return features.find("csi", NS) is not None
