"""Parse one RFC 7395 frame with the browser's DOMParser into an `Element`.

The DOM walk happens in JS (`RoostRender.parseXml` in render.js): it returns
nested arrays `[name, ns, [[attr, value], ...], text, [children...]]`, or null
for a parser error or forbidden XML (DTD, comment, processing instruction).
Crossing into JS once per frame is much cheaper than walking DOM nodes from
Python (DESIGN.md: Brython property access costs ~55 µs each).
"""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

from roost.xmpp.element import Element
from roost.xmpp.errors import XmlError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_render = None


def _build(node: Any) -> Element:
    # Index loops: unpacking or iterating a JS array goes through Brython's
    # iterator protocol (a StopIteration raised per array), thousands per
    # catch-up.
    el = Element(node[0], node[1])
    attrs = node[2]
    n = attrs.length
    if n:
        found = {}
        for i in range(n):
            pair = attrs[i]
            found[pair[0]] = pair[1]
        el.attrs = found
    text = node[3]
    if text:
        el.text = text
    children = node[4]
    n = children.length
    if n:
        built = []
        for i in range(n):
            built.append(_build(children[i]))
        el.children = built
    return el


def parse(text: str) -> Element:
    """The element in `text`; raises `XmlError` when it is not acceptable XML."""
    global _render
    if _render is None:
        _render = window.RoostRender
    tree = _render.parseXml(text)
    if tree is None or not tree:
        raise XmlError("not well-formed or forbidden XML")
    return _build(tree)
