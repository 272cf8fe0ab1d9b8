"""A small XML element model for XMPP stanzas.

Runs unchanged under CPython and Brython, so it avoids `typing`,
`dataclasses` and `xml` at run time (see docs/architecture.md). Parsing lives
elsewhere: `roost.xmpp.xmlparse` (expat, CPython only) and
`roost.platform.dom` (DOMParser, browser only) both build these objects.

XMPP needs no mixed content, so an element keeps its character data in
`text` (all text children concatenated) and its child elements in
`children`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

# Characters XML 1.0 (§2.2) can't carry at all, not even as a character
# reference: C0 controls other than tab/LF/CR, surrogates, U+FFFE, U+FFFF.
# A stanza holding one is not well-formed and the server ends the session, so
# they are replaced with U+FFFD (not dropped: deleting could join the text
# around it into something new, Unicode TR #36 §3.5).
REPLACEMENT = "\ufffd"
_ALLOWED_CONTROLS = "\t\n\r"
# \r in text and \t \n \r in attribute values would be normalised away by
# the receiving parser (XML 1.0 §2.11, §3.3.3); references keep them.
_ESCAPE_TEXT = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"))
_ESCAPE_ATTR = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("\t", "&#9;"),
    ("\n", "&#10;"),
    ("\r", "&#13;"),
)


def _forbidden(char: str) -> bool:
    code = ord(char)
    if code < 0x20:
        return char not in _ALLOWED_CONTROLS
    return 0xD800 <= code <= 0xDFFF or code == 0xFFFE or code == 0xFFFF


def clean_text(value: str) -> str:
    """`value` with every character XML 1.0 forbids replaced by U+FFFD.

    Runs for every text and attribute value under Brython, so the common case
    is one native scan: `isprintable()` is false for every C0 control and
    every lone surrogate (Brython's version doesn't flag the noncharacters
    U+FFFE/U+FFFF, hence the two extra tests). Otherwise only the *distinct*
    characters are looked at, never each character in a Python loop.
    """
    if value.isprintable() and "\ufffe" not in value and "\uffff" not in value:
        return value
    for char in set(value):
        if _forbidden(char):
            value = value.replace(char, REPLACEMENT)
    return value


def escape_text(value: str) -> str:
    """Character data for an element's content (forbidden characters replaced)."""
    value = clean_text(value)
    for raw, esc in _ESCAPE_TEXT:
        if raw in value:
            value = value.replace(raw, esc)
    return value


def escape_attr(value: str) -> str:
    """An attribute value for `name="..."` (forbidden characters replaced)."""
    value = clean_text(value)
    for raw, esc in _ESCAPE_ATTR:
        if raw in value:
            value = value.replace(raw, esc)
    return value


class Element:
    """An XML element: local `name`, namespace `ns`, `attrs`, `children`, `text`.

    `attrs` holds unprefixed attributes by name; `xml:lang` is kept under the
    key "xml:lang". Namespace declarations are not attributes: `ns` carries
    the element's namespace and serialisation emits `xmlns` where it differs
    from the parent's.
    """

    __slots__ = ("attrs", "children", "name", "ns", "text")

    def __init__(
        self,
        name: str,
        ns: str = "",
        attrs: dict[str, str] | None = None,
        text: str = "",
        children: list[Element] | None = None,
    ) -> None:
        self.name = name
        self.ns = ns
        self.attrs: dict[str, str] = dict(attrs) if attrs else {}
        self.text = text
        self.children: list[Element] = list(children) if children else []

    # -- building ---------------------------------------------------------
    def append(self, child: Element) -> Element:
        """Append `child` and return it (for chaining builders)."""
        self.children.append(child)
        return child

    def add(
        self,
        name: str,
        ns: str | None = None,
        attrs: dict[str, str] | None = None,
        text: str = "",
    ) -> Element:
        """Create a child (inheriting this element's namespace unless given) and return it."""
        return self.append(Element(name, self.ns if ns is None else ns, attrs, text))

    # -- reading ----------------------------------------------------------
    def get(self, attr: str, default: str | None = None) -> str | None:
        # `in` first: a missing key makes Brython's dict.get raise and catch a
        # KeyError inside (~8 µs), paid on every absent attribute of every stanza.
        attrs = self.attrs
        return attrs[attr] if attr in attrs else default  # noqa: SIM401 (see above)

    def find(self, name: str, ns: str | None = None) -> Element | None:
        """First child with this local name (and namespace, if given)."""
        for child in self.children:
            if child.name == name and (ns is None or child.ns == ns):
                return child
        return None

    def find_all(self, name: str, ns: str | None = None) -> list[Element]:
        return [c for c in self.children if c.name == name and (ns is None or c.ns == ns)]

    def find_text(self, name: str, ns: str | None = None) -> str | None:
        """Text of the first matching child, or None when there is no such child."""
        child = self.find(name, ns)
        return None if child is None else child.text

    def iter(self) -> Iterator[Element]:
        """This element and all descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.iter()

    # -- serialising ------------------------------------------------------
    def to_xml(self, parent_ns: str | None = None) -> str:
        """Serialise. `xmlns` is written when `ns` differs from `parent_ns`.

        With the default `parent_ns=None` the top element always declares its
        namespace, which is what RFC 7395 framing requires of every frame.
        """
        parts: list[str] = []
        self._write(parts, parent_ns)
        return "".join(parts)

    def _write(self, out: list[str], parent_ns: str | None) -> None:
        out.append("<" + self.name)
        if self.ns != parent_ns and (self.ns or parent_ns is not None):
            out.append(' xmlns="' + escape_attr(self.ns) + '"')
        for key, value in self.attrs.items():
            out.append(" " + key + '="' + escape_attr(value) + '"')
        if not self.text and not self.children:
            out.append("/>")
            return
        out.append(">")
        if self.text:
            out.append(escape_text(self.text))
        for child in self.children:
            child._write(out, self.ns)
        out.append("</" + self.name + ">")

    def __repr__(self) -> str:
        return f"<Element {{{self.ns}}}{self.name}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Element):
            return NotImplemented
        return (
            self.name == other.name
            and self.ns == other.ns
            and self.attrs == other.attrs
            and self.text == other.text
            and self.children == other.children
        )

    __hash__ = None  # type: ignore[assignment]  # mutable
