"""Sans-I/O translation between RFC 7395 WebSocket frames and an RFC 6120 TCP stream.

No sockets, no asyncio: the WebSocket endpoint feeds text frames and TCP bytes
in and writes what comes out. Two translators, one per direction:

* `ClientFrameTranslator` — one WebSocket text frame (exactly one XML element)
  in, one event out: `ClientOpen` (carries the `<stream:stream>` header to
  write upstream), `ClientStanza` (the element, re-serialised) or `ClientClose`
  (`</stream:stream>`).
* `ServerStreamTranslator` — TCP bytes in, as they arrive (any split), events
  out: `ServerOpen` (the `<open/>` frame), `ServerElement` (one frame per
  top-level child, carrying the namespace declarations it inherits from the
  stream header) and `ServerClose` (the `<close/>` frame).

Both parse with expat in a restricted mode (RFC 6120 §11.1): no DTD, comments,
processing instructions (the XML declaration is allowed), or entity references
beyond the five predefined ones; bounded depth, attribute count and per-stanza
size. Output is always re-serialised from the parse, never sliced from the
input, so what the other side receives is well-formed by construction.

Errors
------
Every failure is a `StreamError` carrying an RFC 6120 stream error condition
(`not-well-formed`, `bad-format`, `policy-violation`, `restricted-xml`,
`host-unknown`, `invalid-namespace`, `bad-namespace-prefix`,
`unsupported-version`, `remote-connection-failed`). The endpoint answers it
with `stream_error_frame(condition)` followed by `CLOSE_FRAME`.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from dataclasses import dataclass, field
from typing import Final, Literal

FRAMING_NS: Final = "urn:ietf:params:xml:ns:xmpp-framing"
STREAMS_NS: Final = "http://etherx.jabber.org/streams"
CLIENT_NS: Final = "jabber:client"
STREAM_ERRORS_NS: Final = "urn:ietf:params:xml:ns:xmpp-streams"
SASL_NS: Final = "urn:ietf:params:xml:ns:xmpp-sasl"
TLS_NS: Final = "urn:ietf:params:xml:ns:xmpp-tls"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
# Stream compression (XEP-0138) is refused in both directions: CRIME-style
# attacks, and the proxy could not translate a compressed stream anyway.
COMPRESS_FEATURE_NS: Final = "http://jabber.org/features/compress"
COMPRESS_NS: Final = "http://jabber.org/protocol/compress"

StreamErrorCondition = Literal[
    "bad-format",
    "bad-namespace-prefix",
    "connection-timeout",
    "host-unknown",
    "internal-server-error",
    "invalid-namespace",
    "not-well-formed",
    "policy-violation",
    "remote-connection-failed",
    "restricted-xml",
    "unsupported-version",
]

CLOSE_FRAME: Final = f'<close xmlns="{FRAMING_NS}"/>'
STREAM_CLOSE: Final = b"</stream:stream>"

# Namespaces a client may not use at the top level of its stream: the proxy
# has already negotiated TLS, and compression is refused; server-to-server and
# component namespaces have no business on a client stream.
_FORBIDDEN_CLIENT_NS: Final = frozenset(
    {TLS_NS, COMPRESS_NS, "jabber:server", "jabber:component:accept", "jabber:server:dialback"}
)
_CLIENT_STANZAS: Final = frozenset({"message", "presence", "iq"})

_SEP: Final = "\x1f"  # expat namespace separator: a character XML 1.0 cannot contain


class StreamError(Exception):
    """A fatal stream-level problem, answered with an RFC 6120 stream error.

    `condition` is the defined condition element's name; `text` is an
    optional human-readable explanation that never contains stream content.
    """

    def __init__(self, condition: StreamErrorCondition, text: str = "") -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition: StreamErrorCondition = condition
        self.text = text


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource bounds applied to every element, in both directions."""

    max_stanza_size: int = 262144  # bytes; Prosody's default c2s limit
    max_depth: int = 64  # element nesting inside one stanza
    max_attributes: int = 64  # per element (namespace declarations included)


# -- element tree and serialisation ---------------------------------------


@dataclass(slots=True)
class XmlElement:
    """One parsed element, keeping the prefixes and declarations as written.

    `qname` is the name as written (`prefix:local` or `local`), `ns` the
    resolved namespace ("" for none); `decls` are the namespace declarations
    made on this element (prefix "" is the default namespace); `attrs` are
    (qname, value) pairs; `children` mixes elements and text.
    """

    qname: str
    ns: str
    local: str
    decls: list[tuple[str, str]] = field(default_factory=list)
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[XmlElement | str] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the unprefixed attribute `name`."""
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    def find(self, ns: str, local: str) -> XmlElement | None:
        """The first child element with this namespace and local name."""
        for child in self.children:
            if isinstance(child, XmlElement) and child.ns == ns and child.local == local:
                return child
        return None

    def elements(self) -> list[XmlElement]:
        """Child elements, without text."""
        return [c for c in self.children if isinstance(c, XmlElement)]


_TEXT_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# Literal tabs/newlines in attribute values would be normalised to spaces by
# the receiving parser; character references keep them.
_ATTR_ESCAPES: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
     "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)


def escape_text(text: str) -> str:
    """Escape character data."""
    return text.translate(_TEXT_ESCAPES)


def escape_attr(value: str) -> str:
    """Escape an attribute value for use between double quotes."""
    return value.translate(_ATTR_ESCAPES)


def _decl(prefix: str, uri: str) -> str:
    name = f"xmlns:{prefix}" if prefix else "xmlns"
    return f' {name}="{escape_attr(uri)}"'


def serialize(element: XmlElement, extra_decls: list[tuple[str, str]] | None = None) -> str:
    """Serialise `element`; `extra_decls` are added to the top element only."""
    out: list[str] = []
    _serialize_into(out, element, extra_decls or [])
    return "".join(out)


def _serialize_into(out: list[str], el: XmlElement, extra: list[tuple[str, str]]) -> None:
    out.append("<" + el.qname)
    for prefix, uri in extra:
        out.append(_decl(prefix, uri))
    for prefix, uri in el.decls:
        out.append(_decl(prefix, uri))
    for key, value in el.attrs:
        out.append(f' {key}="{escape_attr(value)}"')
    if not el.children:
        out.append("/>")
        return
    out.append(">")
    for child in el.children:
        if isinstance(child, str):
            out.append(escape_text(child))
        else:
            _serialize_into(out, child, [])
    out.append(f"</{el.qname}>")


def stream_error_frame(condition: StreamErrorCondition, text: str = "") -> str:
    """The RFC 7395 framed stream error (send `CLOSE_FRAME` after it)."""
    body = f'<{condition} xmlns="{STREAM_ERRORS_NS}"/>'
    if text:
        body += f'<text xmlns="{STREAM_ERRORS_NS}">{escape_text(text)}</text>'
    return f'<error xmlns="{STREAMS_NS}">{body}</error>'


def stream_header(
    to: str, *, lang: str | None = None, from_: str | None = None, version: str = "1.0"
) -> bytes:
    """An RFC 6120 initial stream header for a client stream."""
    attrs = f" to='{_squote(to)}'"
    if from_:
        attrs += f" from='{_squote(from_)}'"
    attrs += f" version='{_squote(version)}'"
    if lang:
        attrs += f" xml:lang='{_squote(lang)}'"
    return (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        f"xmlns:stream='{STREAMS_NS}'{attrs}>"
    ).encode()


def _squote(value: str) -> str:
    return escape_attr(value).replace("'", "&apos;")


# -- the restricted parser ------------------------------------------------


def _split(name: str) -> tuple[str, str, str]:
    """expat's 'uri SEP local [SEP prefix]' → (ns, local, qname as written)."""
    parts = name.split(_SEP)
    if len(parts) == 1:
        return "", parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1], parts[1]
    return parts[0], parts[1], f"{parts[2]}:{parts[1]}"


def _reject_restricted(what: str) -> StreamError:
    return StreamError("restricted-xml", f"{what} are not allowed in XMPP")


class _RestrictedParser:
    """expat with namespace processing, refusing what RFC 6120 §11.1 forbids.

    Builds elements below `root_depth` into `XmlElement` trees and reports
    complete top-level ones through `on_element`. Depth counts from the
    document root (depth 1 is the root element itself).
    """

    def __init__(self, limits: Limits, root_depth: int) -> None:
        self.limits = limits
        self.root_depth = root_depth  # 0: every root is a stanza; 1: inside <stream>
        self.depth = 0
        self.fed = 0  # bytes fed so far
        self.stanza_start: int | None = None
        self.idle_mark = 0  # byte index of the last point between stanzas
        self.root: XmlElement | None = None
        self.ended = False  # the document element was closed
        self.completed: list[XmlElement] = []
        self.root_opened = False
        self._stack: list[XmlElement] = []
        self._pending_decls: list[tuple[str, str]] = []
        # Prefixes (including "" for default) each open element sees as
        # declared inside the current stanza; the rest come from the stream.
        self._scopes: list[frozenset[str]] = []
        self._needed: set[str] = set()
        self.needed_by: list[set[str]] = []

        p = expat.ParserCreate(namespace_separator=_SEP)
        p.namespace_prefixes = True
        p.ordered_attributes = True
        p.buffer_text = True
        # Never load external entities or DTD parameter entities.
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.StartNamespaceDeclHandler = self._ns_decl
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity_decl
        p.CommentHandler = self._comment
        p.ProcessingInstructionHandler = self._pi
        p.SkippedEntityHandler = self._skipped_entity
        p.ExternalEntityRefHandler = self._external_entity
        p.StartCdataSectionHandler = self._cdata
        self._parser = p

    # expat handlers that refuse restricted constructs
    def _doctype(self, *_: object) -> None:
        raise _reject_restricted("document type declarations")

    def _entity_decl(self, *_: object) -> None:
        raise _reject_restricted("entity declarations")

    def _comment(self, _data: str) -> None:
        raise _reject_restricted("comments")

    def _pi(self, _target: str, _data: str) -> None:
        raise _reject_restricted("processing instructions")

    def _skipped_entity(self, *_: object) -> None:
        raise _reject_restricted("entity references")

    def _external_entity(self, *_: object) -> int:
        raise _reject_restricted("external entities")

    def _cdata(self) -> None:
        # CDATA sections are legal XML but a needless second text syntax;
        # Prosody refuses them too. Treat as restricted.
        raise _reject_restricted("CDATA sections")

    def _ns_decl(self, prefix: str | None, uri: str | None) -> None:
        self._pending_decls.append((prefix or "", uri or ""))

    def _start(self, name: str, attr_list: list[str]) -> None:
        self.depth += 1
        decls, self._pending_decls = self._pending_decls, []
        n_attrs = len(attr_list) // 2 + len(decls)
        if n_attrs > self.limits.max_attributes:
            raise StreamError("policy-violation", "too many attributes")
        if self.depth - self.root_depth > self.limits.max_depth:
            raise StreamError("policy-violation", "elements nested too deeply")
        ns, local, qname = _split(name)
        attrs: list[tuple[str, str]] = []
        used: set[str] = {qname.split(":", 1)[0] if ":" in qname else ""} if ns else set()
        for i in range(0, len(attr_list), 2):
            a_ns, _a_local, a_qname = _split(attr_list[i])
            if a_ns and ":" in a_qname:
                prefix = a_qname.split(":", 1)[0]
                if prefix != "xml":
                    used.add(prefix)
            attrs.append((a_qname, attr_list[i + 1]))
        el = XmlElement(qname, ns, local, decls, attrs)
        if self.depth <= self.root_depth:
            # The stream header itself (root_depth 1) is kept, not built into.
            self.root = el
            self.root_opened = True
            self.idle_mark = self._parser.CurrentByteIndex
            return
        if self.depth == self.root_depth + 1:
            self.stanza_start = self._parser.CurrentByteIndex
            self._scopes = []
            self._needed = set()
            if self.root_depth == 0:
                self.root_opened = True
        else:
            self._stack[-1].children.append(el)
        declared = (self._scopes[-1] if self._scopes else frozenset()) | {p for p, _ in decls}
        self._scopes.append(declared)
        self._needed |= used - declared
        self._stack.append(el)

    def _end(self, _name: str) -> None:
        self.depth -= 1
        if self.depth < self.root_depth:
            self.ended = True
            return
        el = self._stack.pop()
        self._scopes.pop()
        if self.depth == self.root_depth:
            start = self.stanza_start or 0
            if self._parser.CurrentByteIndex - start > self.limits.max_stanza_size:
                raise StreamError("policy-violation", "stanza too large")
            self.stanza_start = None
            self.idle_mark = self._parser.CurrentByteIndex
            self.completed.append(el)
            self.needed_by.append(self._needed)
            if self.root_depth == 0:
                self.ended = True

    def _text(self, data: str) -> None:
        if self._stack:
            self._stack[-1].children.append(data)
            return
        if data.strip(" \t\r\n"):
            raise StreamError("bad-format", "text outside of stanzas")
        # Whitespace keepalive between stanzas: ignored, and it moves the
        # idle mark so that keepalives never add up to a "large stanza".
        self.idle_mark = self._parser.CurrentByteIndex

    def feed(self, data: bytes, final: bool = False) -> None:
        """Parse more bytes; complete top-level elements land in `completed`."""
        self.fed += len(data)
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise _expat_error(exc) from None
        # Bound what expat may buffer: an open stanza, or an unfinished tag
        # between stanzas, may not grow past the stanza limit.
        start = self.stanza_start if self.stanza_start is not None else self.idle_mark
        if self.fed - start > self.limits.max_stanza_size:
            raise StreamError("policy-violation", "stanza too large")


def _expat_error(exc: expat.ExpatError) -> StreamError:
    codes = expat.errors.codes
    if exc.code in (
        codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY],
        codes[expat.errors.XML_ERROR_RECURSIVE_ENTITY_REF],
        codes[expat.errors.XML_ERROR_EXTERNAL_ENTITY_HANDLING],
        codes[expat.errors.XML_ERROR_ENTITY_DECLARED_IN_PE],
    ):
        return StreamError("restricted-xml", "entity references are not allowed in XMPP")
    if exc.code == codes[expat.errors.XML_ERROR_UNBOUND_PREFIX]:
        return StreamError("bad-namespace-prefix", "undeclared namespace prefix")
    return StreamError("not-well-formed", "the XML is not well-formed")


# -- client → server ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientOpen:
    """The client opened (or restarted) the stream; write `header` upstream."""

    to: str | None
    lang: str | None
    from_: str | None
    header: bytes


@dataclass(frozen=True, slots=True)
class ClientStanza:
    """A top-level element to write upstream as `data`."""

    element: XmlElement
    data: bytes


@dataclass(frozen=True, slots=True)
class ClientClose:
    """The client closed the stream; write `data` (`</stream:stream>`) upstream."""

    data: bytes


ClientEvent = ClientOpen | ClientStanza | ClientClose
_ClientState = Literal["initial", "open", "closed"]


class ClientFrameTranslator:
    """RFC 7395 frames from the browser → bytes for the RFC 6120 TCP stream.

    States: initial → open (after `<open/>`; another `<open/>` restarts) →
    closed (after `<close/>`). Each call takes one complete text frame.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.state: _ClientState = "initial"

    def receive(self, frame: str | bytes) -> ClientEvent:
        """Translate one WebSocket text frame; raise `StreamError` if it is bad."""
        data = frame.encode() if isinstance(frame, str) else frame
        if len(data) > self.limits.max_stanza_size:
            raise StreamError("policy-violation", "stanza too large")
        if self.state == "closed":
            raise StreamError("bad-format", "data after the stream was closed")
        parser = _RestrictedParser(self.limits, root_depth=0)
        parser.feed(data, final=True)
        if len(parser.completed) != 1:
            raise StreamError("not-well-formed", "a frame must hold exactly one element")
        el = parser.completed[0]
        if el.ns == FRAMING_NS:
            return self._framing(el)
        if self.state != "open":
            raise StreamError("bad-format", "stanza before the stream was opened")
        if not el.ns:
            raise StreamError("invalid-namespace", "top-level elements must declare xmlns")
        if el.ns in _FORBIDDEN_CLIENT_NS:
            raise StreamError("policy-violation", f"namespace {el.ns} is not allowed here")
        if el.ns == CLIENT_NS and el.local not in _CLIENT_STANZAS:
            raise StreamError("bad-format", f"<{el.local}/> is not a stanza")
        if el.ns == STREAMS_NS and el.local != "error":
            raise StreamError("bad-format", "only stream errors may use the streams namespace")
        return ClientStanza(el, serialize(el).encode())

    def _framing(self, el: XmlElement) -> ClientEvent:
        if el.local == "open":
            if el.elements():
                raise StreamError("bad-format", "<open/> must be empty")
            version = el.get("version")
            if version is not None and not version.startswith("1."):
                raise StreamError("unsupported-version", "only XMPP 1.0 is supported")
            to = el.get("to")
            lang = _xml_lang(el)
            from_ = el.get("from")
            self.state = "open"
            return ClientOpen(to, lang, from_, stream_header(to or "", lang=lang, from_=from_))
        if el.local == "close":
            if self.state != "open":
                raise StreamError("bad-format", "<close/> before <open/>")
            self.state = "closed"
            return ClientClose(STREAM_CLOSE)
        raise StreamError("bad-format", f"unknown framing element <{el.local}/>")


def _xml_lang(el: XmlElement) -> str | None:
    for key, value in el.attrs:
        if key == "xml:lang":
            return value
    return None


# -- server → client ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerOpen:
    """The server sent its stream header; `frame` is the RFC 7395 `<open/>`."""

    from_: str | None
    id: str | None
    version: str | None
    lang: str | None
    frame: str


@dataclass(frozen=True, slots=True)
class ServerElement:
    """One top-level child of the server's stream; `frame` stands alone."""

    element: XmlElement
    frame: str


@dataclass(frozen=True, slots=True)
class ServerClose:
    """The server closed its stream; `frame` is the RFC 7395 `<close/>`."""

    frame: str = CLOSE_FRAME


ServerEvent = ServerOpen | ServerElement | ServerClose
_ServerState = Literal["header", "open", "closed"]


class ServerStreamTranslator:
    """Bytes of the server's RFC 6120 stream → RFC 7395 frames.

    Feed bytes in any split. `restart()` starts a new document (after the
    proxy writes a new stream header for a stream restart). States: header
    (waiting for `<stream:stream>`) → open → closed.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        strip_features: frozenset[str] = frozenset({TLS_NS, COMPRESS_FEATURE_NS}),
    ) -> None:
        self.limits = limits or Limits()
        # Stream features the browser must not see: the proxy owns TLS and
        # refuses compression (both would break frame translation).
        self.strip_features = strip_features
        self.state: _ServerState = "header"
        self._stream_decls: dict[str, str] = {}
        self._parser = _RestrictedParser(self.limits, root_depth=1)

    def restart(self) -> None:
        """Expect a fresh stream header (a new document) from the server."""
        self.state = "header"
        self._stream_decls = {}
        self._parser = _RestrictedParser(self.limits, root_depth=1)

    def feed(self, data: bytes) -> list[ServerEvent]:
        """Parse more bytes from the server; return the frames they complete."""
        if self.state == "closed":
            if data.strip(b" \t\r\n"):
                raise StreamError("not-well-formed", "data after the stream was closed")
            return []
        p = self._parser
        events: list[ServerEvent] = []
        # Events are collected after each feed; a feed that errors part-way
        # raises and the stream is over anyway.
        p.feed(data)
        if self.state == "header" and p.root_opened and p.root is not None:
            events.append(self._open(p.root))
        for el, needed in zip(p.completed, p.needed_by, strict=True):
            events.append(self._element(el, needed))
        p.completed.clear()
        p.needed_by.clear()
        if p.ended:
            self.state = "closed"
            events.append(ServerClose())
        return events

    def _open(self, root: XmlElement) -> ServerOpen:
        if root.ns != STREAMS_NS or root.local != "stream":
            raise StreamError("invalid-namespace", "the server did not open an XMPP stream")
        self._stream_decls = dict(root.decls)
        if self._stream_decls.get("") != CLIENT_NS:
            raise StreamError("invalid-namespace", "the server stream is not jabber:client")
        self.state = "open"
        from_, id_, version = root.get("from"), root.get("id"), root.get("version")
        lang = _xml_lang(root)
        attrs = f'<open xmlns="{FRAMING_NS}"'
        for name, value in (("from", from_), ("id", id_), ("version", version),
                            ("xml:lang", lang)):
            if value is not None:
                attrs += f' {name}="{escape_attr(value)}"'
        return ServerOpen(from_, id_, version, lang, attrs + "/>")

    def _element(self, el: XmlElement, needed: set[str]) -> ServerElement:
        if el.ns == STREAMS_NS and el.local == "features":
            el.children = [
                c for c in el.children
                if not (isinstance(c, XmlElement) and c.ns in self.strip_features)
            ]
        # The frame must stand alone: declare what it inherited from the
        # stream header. Prefixes the header did not declare cannot occur
        # (expat would have refused an unbound prefix).
        extra = [(prefix, self._stream_decls[prefix])
                 for prefix in sorted(needed) if prefix in self._stream_decls]
        return ServerElement(el, serialize(el, extra))
