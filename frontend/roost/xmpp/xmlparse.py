"""Parse one XML frame into an `Element` with expat (CPython only).

Brython has no `xml` package; the browser parses with DOMParser in
`roost.platform.dom`. This module serves tests and CPython tools, and is
excluded from the browser bundle by build.py.

RFC 6120 §11.1 restricted XML: DTDs, comments, processing instructions and
entity references other than the five predefined ones are refused with
`XmlError`. Character references (`&#65;`) are allowed.
"""

from __future__ import annotations

from xml.parsers import expat

from roost.xmpp.element import Element
from roost.xmpp.errors import XmlError

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_SEP = "\x01"  # cannot occur in a namespace URI or a name


def _split(qname: str) -> tuple[str, str]:
    ns, sep, local = qname.rpartition(_SEP)
    return (ns, local) if sep else ("", qname)


class _Builder:
    __slots__ = ("root", "stack", "texts")

    def __init__(self) -> None:
        self.root: Element | None = None
        self.stack: list[Element] = []
        self.texts: list[list[str]] = []

    def start(self, qname: str, attrs: dict[str, str]) -> None:
        ns, name = _split(qname)
        element = Element(name, ns)
        for key, value in attrs.items():
            attr_ns, attr_name = _split(key)
            if not attr_ns:
                element.attrs[attr_name] = value
            elif attr_ns == _XML_NS:
                element.attrs["xml:" + attr_name] = value
            # Other namespaced attributes have no place in the Element model
            # (and no use in client stanzas), so they are dropped.
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)
        self.texts.append([])

    def end(self, qname: str) -> None:
        element = self.stack.pop()
        text = "".join(self.texts.pop())
        # XMPP has no mixed content: whitespace between child elements is
        # formatting, not data.
        if element.children and not text.strip():
            text = ""
        element.text = text

    def data(self, text: str) -> None:
        if self.texts:
            self.texts[-1].append(text)


def _refuse(what: str) -> None:
    raise XmlError(what + " is not allowed")


def parse_xml(text: str) -> Element:
    """Parse exactly one element from `text`; raise `XmlError` on anything else."""
    builder = _Builder()
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = lambda *args: _refuse("a DTD")
    parser.EntityDeclHandler = lambda *args: _refuse("an entity declaration")
    parser.CommentHandler = lambda *args: _refuse("a comment")
    parser.ProcessingInstructionHandler = lambda *args: _refuse("a processing instruction")
    parser.SkippedEntityHandler = lambda *args: _refuse("an entity reference")
    # Called for references to undeclared entities when expat doesn't error.
    parser.ExternalEntityRefHandler = lambda *args: _refuse("an external entity")  # type: ignore[assignment]
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise XmlError(f"not well-formed: {exc}") from None
    if builder.root is None:
        raise XmlError("no element")
    return builder.root
