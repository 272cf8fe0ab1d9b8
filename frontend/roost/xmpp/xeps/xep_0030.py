"""XEP-0030: Service Discovery (disco#info, disco#items), with XEP-0128
extended info (data forms inside disco#info: a room's description, its
occupant count).

What an entity says about itself is only as good as that entity: a room's
features are believed for that room, never for anyone else.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import JidError
from roost.xmpp.events import Record
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0004

INFO = ns.DISCO_INFO
ITEMS = ns.DISCO_ITEMS


class DiscoInfo(Record):
    """A disco#info answer: `identities` as (category, type, name) triples,
    `features` (vars, in document order), `forms` (XEP-0128 extended info)."""

    __slots__ = ("features", "forms", "identities", "node")

    def __init__(
        self,
        identities: list[tuple[str, str, str | None]],
        features: list[str],
        forms: list[xep_0004.DataForm] | None = None,
        node: str | None = None,
    ) -> None:
        self.identities = identities
        self.features = features
        self.forms: list[xep_0004.DataForm] = list(forms) if forms else []
        self.node = node

    def form_values(self) -> dict[str, list[str]]:
        """var → values over every extended form (FORM_TYPE included; the
        first form that has a var wins)."""
        merged: dict[str, list[str]] = {}
        for form in self.forms:
            for var, values in form.values().items():
                merged.setdefault(var, values)
        return merged


def build_info_query(node: str | None = None) -> Element:
    query = Element("query", INFO)
    if node:
        query.attrs["node"] = node
    return query


def build_items_query(node: str | None = None) -> Element:
    query = Element("query", ITEMS)
    if node:
        query.attrs["node"] = node
    return query


def build_info_result(
    identities: list[tuple[str, str, str | None]],
    features: list[str],
    node: str | None = None,
) -> Element:
    """The `<query/>` of our own disco#info answer."""
    query = build_info_query(node)
    for category, kind, name in identities:
        identity = query.add("identity", attrs={"category": category, "type": kind})
        if name:
            identity.attrs["name"] = name
    for var in features:
        query.add("feature", attrs={"var": var})
    return query


def parse_info(query: Element) -> DiscoInfo:
    """A `DiscoInfo` from a disco#info `<query/>` (malformed entries are skipped)."""
    identities: list[tuple[str, str, str | None]] = []
    features: list[str] = []
    for child in query.children:
        if child.ns != INFO:
            continue
        if child.name == "identity":
            category, kind = child.get("category"), child.get("type")
            if category and kind:
                identities.append((category, kind, child.get("name") or None))
        elif child.name == "feature":
            var = child.get("var")
            if var and var not in features:
                features.append(var)
    forms = [xep_0004.parse_form(x) for x in query.find_all("x", xep_0004.NS)]
    return DiscoInfo(identities, features, forms, query.get("node") or None)


def parse_items(query: Element) -> list[tuple[JID, str | None, str | None]]:
    """(jid, name, node) of every disco#items `<item/>` with a valid JID."""
    items: list[tuple[JID, str | None, str | None]] = []
    for item in query.find_all("item", ITEMS):
        text = item.get("jid")
        if not text:
            continue
        try:
            jid = JID.parse(text)
        except JidError:
            continue
        items.append((jid, item.get("name") or None, item.get("node") or None))
    return items
