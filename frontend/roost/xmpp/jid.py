"""JIDs (RFC 7622): parsing, validation and the normalised form.

Known gap: RFC 7622 prepares the localpart with the PRECIS UsernameCaseMapped
profile and the domainpart with IDNA2008, both of which need Unicode
normalisation (NFC) and property tables. Those are too heavy for Brython, so
the localpart and domainpart are only lower-cased with `str.lower()` and
checked for the characters RFC 7622 forbids. ASCII addresses (nearly all in
practice) come out exactly as a full implementation would; for non-ASCII ones
the server stays the authority on equivalence.
"""

from __future__ import annotations

from roost.xmpp.errors import JidError

_MAX_PART_BYTES = 1023
# RFC 7622 §3.3.1: these are forbidden in a localpart.
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")
_HEX = frozenset("0123456789abcdefABCDEF")


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def _is_control_or_space(ch: str) -> bool:
    code = ord(ch)
    return code < 0x21 or 0x7F <= code <= 0x9F or ch.isspace()


def _check_local(local: str) -> str:
    if not local:
        raise JidError("empty localpart")
    if _utf8_len(local) > _MAX_PART_BYTES:
        raise JidError("localpart longer than 1023 bytes")
    for ch in local:
        if ch in _LOCAL_FORBIDDEN or _is_control_or_space(ch):
            raise JidError(f"forbidden character {ch!r} in localpart")
    return local.lower()


def _is_ipv6_literal(domain: str) -> bool:
    # "[v6]" with hex groups; an embedded IPv4 tail ("::ffff:1.2.3.4") is allowed.
    inner = domain[1:-1]
    if not inner or inner.count("::") > 1:
        return False
    groups = inner.split(":")
    if len(groups) < 3 or len(groups) > 8:
        return False
    if "." in groups[-1]:
        if not _is_ipv4(groups[-1]):
            return False
        groups = groups[:-1]
    return all(len(g) <= 4 and all(c in _HEX for c in g) for g in groups)


def _is_ipv4(domain: str) -> bool:
    parts = domain.split(".")
    return len(parts) == 4 and all(p.isdigit() and p.isascii() and int(p) <= 255 for p in parts)


def _check_domain(domain: str) -> str:
    # RFC 7622 §3.2: a single trailing dot is stripped before anything else.
    if domain.endswith("."):
        domain = domain[:-1]
    if not domain:
        raise JidError("empty domainpart")
    if _utf8_len(domain) > _MAX_PART_BYTES:
        raise JidError("domainpart longer than 1023 bytes")
    if domain.startswith("[") and domain.endswith("]"):
        if not _is_ipv6_literal(domain):
            raise JidError("invalid IPv6 literal")
        return domain.lower()
    domain = domain.lower()
    for label in domain.split("."):
        if not label:
            raise JidError("empty label in domainpart")
        if _utf8_len(label) > 63:
            raise JidError("domain label longer than 63 bytes")
        if label.startswith("-") or label.endswith("-"):
            raise JidError("domain label starts or ends with a hyphen")
        for ch in label:
            # Letters, digits and hyphen in ASCII (LDH); non-ASCII letters are
            # let through as IDN U-labels. An IPv4 literal is all digits and dots.
            if ch.isascii():
                if not (ch.isalnum() or ch == "-"):
                    raise JidError(f"forbidden character {ch!r} in domainpart")
            elif not ch.isalnum():
                raise JidError(f"forbidden character {ch!r} in domainpart")
    return domain


def _check_resource(resource: str) -> str:
    if not resource:
        raise JidError("empty resourcepart")
    if _utf8_len(resource) > _MAX_PART_BYTES:
        raise JidError("resourcepart longer than 1023 bytes")
    for ch in resource:
        # OpaqueString allows spaces but no control characters.
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            raise JidError("control character in resourcepart")
    return resource


# JID.parse's memory: text → JID (JIDs are immutable, so they can be shared).
_PARSED: dict[str, JID] = {}
_PARSED_MAX = 4096


class JID:
    """A validated, normalised JID; equal JIDs hash equally.

    Treat it as immutable (it is used as a dict key); enforcing that with
    `__setattr__` would cost every construction under Brython.

    Build one with `JID.parse("local@domain/resource")`; the constructor
    validates its parts too, so every JID object is valid.
    """

    __slots__ = ("_bare", "_str", "domain", "local", "resource")

    def __init__(self, local: str | None, domain: str, resource: str | None = None) -> None:
        self._bare: JID | None = None
        self.local = None if local is None else _check_local(local)
        self.domain = _check_domain(domain)
        self.resource = None if resource is None else _check_resource(resource)
        text = self.domain
        if self.local is not None:
            text = self.local + "@" + text
        if self.resource is not None:
            text = text + "/" + self.resource
        self._str = text

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse and validate `text`; raise `JidError` when it isn't a JID."""
        if not isinstance(text, str):
            raise JidError("a JID must be a string")
        # Only valid JIDs are kept: a hit needs no more checks.
        cached = _PARSED.get(text)
        if cached is not None:
            return cached
        # RFC 7622 §3.1: the resourcepart starts at the first "/", the
        # localpart ends at the first "@" before it.
        head, slash, resource = text.partition("/")
        if slash and not resource:
            raise JidError("empty resourcepart")
        local, at, domain = head.partition("@")
        if not at:
            local, domain = "", head
        elif not local:
            raise JidError("empty localpart")
        jid = cls(local or None, domain, resource if slash else None)
        # The same few addresses come in every stanza, and validating one is
        # costly under Brython (a catch-up parses thousands): keep them.
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = jid
        return jid

    @property
    def bare(self) -> JID:
        """This JID without its resource."""
        if self.resource is None:
            return self
        bare = self._bare
        if bare is None:
            bare = self._bare = JID(self.local, self.domain)
        return bare

    @property
    def is_bare(self) -> bool:
        return self.resource is None

    def with_resource(self, resource: str) -> JID:
        return JID(self.local, self.domain, resource)

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"JID({self._str!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JID):
            return NotImplemented
        return self._str == other._str

    def __hash__(self) -> int:
        return hash(self._str)


def normalised(value: JID | str | None) -> str | None:
    """The normalised text of `value` (a JID or a string), or None when it is
    None or not a valid JID. For comparing addresses read from stanzas
    ("Alice@Example.org" is "alice@example.org") without raising."""
    if value is None or isinstance(value, JID):
        return None if value is None else str(value)
    try:
        return str(JID.parse(value))
    except JidError:
        return None
