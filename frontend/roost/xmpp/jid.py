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
    # Most resources (nicks, device names) are short printable text: no
    # control character, and at most 4 bytes a character is under the byte
    # limit. One native scan instead of an encode and a character loop
    # (each ~10 µs under Brython, for every new occupant of a room).
    if len(resource) <= _MAX_PART_BYTES // 4 and resource.isprintable():
        return resource
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
# Its size, counted here: len() of a dict walks all its entries under Brython.
_parsed_size = 0


def _checked(local: str | None, domain: str, resource: str | None, bare: JID | None) -> JID:
    """A JID from parts that are already validated and normalised (taken
    from another JID, or just checked): skips validating them again, which
    is most of a JID's cost under Brython."""
    jid = JID.__new__(JID)
    jid.local = local
    jid.domain = domain
    jid.resource = resource
    jid._bare = bare
    text = domain if local is None else local + "@" + domain
    jid._str = text if resource is None else text + "/" + resource
    return jid


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
        # Only valid JIDs are kept: a hit needs no more checks. (`in`, not
        # `.get`: Brython's dict.get raises and catches a KeyError on a miss.)
        if text in _PARSED:
            return _PARSED[text]
        # RFC 7622 §3.1: the resourcepart starts at the first "/", the
        # localpart ends at the first "@" before it. (find and slices: unpacking
        # partition()'s tuple raises a StopIteration under Brython.)
        slash = text.find("/")
        if slash >= 0:
            resource = text[slash + 1 :]
            if not resource:
                raise JidError("empty resourcepart")
            # The bare part is shared (every occupant of a room, every device
            # of a contact): parse it once, through this memory, and check
            # only the resource.
            base = cls.parse(text[:slash])
            jid = _checked(base.local, base.domain, _check_resource(resource), base)
        else:
            at = text.find("@")
            if at == 0:
                raise JidError("empty localpart")
            jid = cls(None, text) if at < 0 else cls(text[:at], text[at + 1 :])
        # The same few addresses come in every stanza, and validating one is
        # costly under Brython (a catch-up parses thousands): keep them.
        global _parsed_size
        if _parsed_size >= _PARSED_MAX:
            _PARSED.clear()
            _parsed_size = 0
        _PARSED[text] = jid
        _parsed_size += 1
        return jid

    @property
    def bare(self) -> JID:
        """This JID without its resource."""
        if self.resource is None:
            return self
        bare = self._bare
        if bare is None:
            bare = self._bare = _checked(self.local, self.domain, None, None)
        return bare

    @property
    def is_bare(self) -> bool:
        return self.resource is None

    def with_resource(self, resource: str) -> JID:
        return _checked(self.local, self.domain, _check_resource(resource), self.bare)

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
