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
    name, ns, attrs, text, children = node
    el = Element(name, ns)
    if attrs.length:
        el.attrs = {a[0]: a[1] for a in attrs}
    if text:
        el.text = text
    if children.length:
        el.children = [_build(c) for c in children]
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
