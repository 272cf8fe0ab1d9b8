"""`ClientStream`: stream negotiation over RFC 7395 (XMPP over WebSocket).

Sans-I/O: `receive(element)` takes one parsed frame and returns events;
frames to send are queued in `output`. It covers opening and closing,
stream errors, SASL (RFC 6120 §6), resource binding (§7) and the obsolete
RFC 3921 session, then reports `online`. Stanzas after that are the
`XmppClient`'s business.

States, in order: idle → opening → features → auth (→ derive → auth) →
opening → features → binding (→ session) → ready; `closing` after we sent
`<close/>`, `closed` at the end. A violation never raises out of `receive`;
it ends the stream with `Closed(error)`.
"""

from __future__ import annotations

import base64

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import AuthError, ProtocolError, StanzaError, StreamError, XmppError
from roost.xmpp.events import Closed, NeedSaltedPassword
from roost.xmpp.jid import JID
from roost.xmpp.sasl import PLAIN, SCRAM_SHA_1, SCRAM_SHA_256, Plain, Scram, scram_hash_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.xmpp.events import Record

IDLE = "idle"
OPENING = "opening"
FEATURES = "features"
AUTH = "auth"
DERIVE = "derive"
BINDING = "binding"
SESSION = "session"
READY = "ready"
CLOSING = "closing"
CLOSED = "closed"

# Strongest first. -PLUS (channel binding) variants are ignored: a browser
# can't see the TLS channel.
DEFAULT_MECHANISMS = (SCRAM_SHA_256, SCRAM_SHA_1, PLAIN)
_NONCE_BYTES = 24


def stanza_error(element: Element) -> StanzaError:
    """The `StanzaError` carried by an error stanza (RFC 6120 §8.3)."""
    err = element.find("error")
    if err is None:
        return StanzaError("undefined-condition", "cancel")
    condition = "undefined-condition"
    text = None
    for child in err.children:
        if child.ns != ns.STANZAS:
            continue
        if child.name == "text":
            text = child.text or None
        else:
            condition = child.name
    return StanzaError(condition, err.get("type") or "cancel", text)


class ClientStream:
    """Negotiates one XMPP stream for `jid` (see the module docstring)."""

    __slots__ = (
        "_bind_id",
        "_mechanism",
        "_password",
        "_session_id",
        "authenticated",
        "jid",
        "mechanisms",
        "output",
        "random_bytes",
        "secure",
        "state",
    )

    def __init__(
        self,
        jid: JID,
        password: str,
        secure: bool,
        random_bytes: Callable[[int], bytes],
        mechanisms: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        self.jid = jid
        self._password = password
        self.secure = secure
        self.random_bytes = random_bytes
        self.mechanisms = tuple(mechanisms) if mechanisms else DEFAULT_MECHANISMS
        self.state = IDLE
        self.authenticated = False
        self.output: list[Element] = []
        self._mechanism: Scram | Plain | None = None
        self._bind_id = ""
        self._session_id = ""

    # -- helpers ------------------------------------------------------------
    def new_id(self) -> str:
        """A fresh unguessable id for an IQ or a message."""
        return self.random_bytes(8).hex()

    def send(self, element: Element) -> None:
        self.output.append(element)

    def _open(self) -> None:
        self.state = OPENING
        self.send(Element("open", ns.FRAMING, {"to": self.jid.domain, "version": "1.0"}))

    def fail(self, error: XmppError) -> list[Record]:
        """End the stream because of `error`: send `<close/>`, report `Closed(error)`."""
        if self.state == CLOSED:
            return []
        self.state = CLOSED
        self._forget_secrets()
        self.send(Element("close", ns.FRAMING))
        return [Closed(error)]

    def _forget_secrets(self) -> None:
        self._password = ""
        self._mechanism = None

    # -- driving ------------------------------------------------------------
    def start(self) -> None:
        """Queue the opening `<open/>`."""
        if self.state != IDLE:
            raise RuntimeError(f"Expected state 'idle', got {self.state!r}")
        self._open()

    def close(self) -> None:
        """Queue `<close/>`; `Closed(None)` follows when the server answers."""
        if self.state in (IDLE, CLOSING, CLOSED):
            if self.state == IDLE:
                self.state = CLOSED
            return
        self.state = CLOSING
        self._forget_secrets()
        self.send(Element("close", ns.FRAMING))

    def receive(self, element: Element) -> list[Record]:
        """Handle one frame of stream negotiation or stream control."""
        if self.state == CLOSED:
            return []
        if element.ns == ns.FRAMING and element.name == "close":
            return self._on_close()
        if element.ns == ns.STREAMS and element.name == "error":
            return self._on_stream_error(element)
        if element.ns == ns.FRAMING and element.name == "open":
            if self.state != OPENING:
                return self.fail(ProtocolError("unexpected <open/> in state " + self.state))
            self.state = FEATURES
            return []
        try:
            return self._negotiate(element)
        except XmppError as exc:
            return self.fail(exc)

    def provide_salted_password(self, salted: bytes) -> list[Record]:
        """The PBKDF2 result asked for by `NeedSaltedPassword`."""
        if self.state != DERIVE or not isinstance(self._mechanism, Scram):
            return []  # late answer after a close: nothing to do
        try:
            final = self._mechanism.finish(salted)
        except XmppError as exc:
            return self.fail(exc)
        self.state = AUTH
        self.send(_sasl("response", final))
        return []

    def _on_close(self) -> list[Record]:
        if self.state != CLOSING:
            # RFC 7395 §3.6: answer the server's <close/> with ours.
            self.send(Element("close", ns.FRAMING))
        self.state = CLOSED
        self._forget_secrets()
        return [Closed(None)]

    def _on_stream_error(self, element: Element) -> list[Record]:
        condition = "undefined-condition"
        text = None
        for child in element.children:
            if child.ns != ns.STREAM_ERRORS:
                continue
            if child.name == "text":
                text = child.text or None
            else:
                condition = child.name
        return self.fail(StreamError(condition, text))

    # -- negotiation ----------------------------------------------------------
    def _negotiate(self, element: Element) -> list[Record]:
        state = self.state
        if state == FEATURES:
            if element.ns != ns.STREAMS or element.name != "features":
                raise ProtocolError("expected <features/>, got " + element.name)
            return self._on_features(element)
        if state in (AUTH, DERIVE) and element.ns == ns.SASL:
            return self._on_sasl(element)
        if state in (BINDING, SESSION) and element.ns == ns.CLIENT and element.name == "iq":
            return self._on_negotiation_iq(element)
        if state in (READY, CLOSING):
            return []  # nonzas the core doesn't know (yet); stanzas go to the client
        raise ProtocolError(f"unexpected <{element.name}/> in state {state}")

    def _on_features(self, features: Element) -> list[Record]:
        if not self.authenticated:
            return self._start_auth(features)
        if features.find("bind", ns.BIND) is None:
            raise ProtocolError("server offers no resource binding")
        session = features.find("session", ns.SESSION)
        # RFC 3921 session: only when advertised and not marked optional
        # (RFC 6121 dropped it; modern servers advertise <optional/>).
        optional = session is None or session.find("optional") is not None
        self._session_id = "" if optional else "pending"
        self._bind_id = self.new_id()
        iq = Element("iq", ns.CLIENT, {"type": "set", "id": self._bind_id})
        bind = iq.add("bind", ns.BIND)
        resource = self.jid.resource or "roost-" + self.random_bytes(4).hex()
        bind.add("resource", text=resource)
        self.state = BINDING
        self.send(iq)
        return []

    def _start_auth(self, features: Element) -> list[Record]:
        mechanisms = features.find("mechanisms", ns.SASL)
        offered = set() if mechanisms is None else {m.text for m in mechanisms.children}
        chosen = None
        for name in self.mechanisms:
            # PLAIN sends the password itself: never without TLS.
            if name in offered and (name != PLAIN or self.secure):
                chosen = name
                break
        if chosen is None:
            raise AuthError("no-usable-mechanism", "offered: " + ", ".join(sorted(offered)))
        username = self.jid.local or ""
        if chosen == PLAIN:
            self._mechanism = Plain(username, self._password)
        else:
            nonce = base64.b64encode(self.random_bytes(_NONCE_BYTES)).decode("ascii")
            self._mechanism = Scram(scram_hash_name(chosen), username, self._password, nonce)
        self.state = AUTH
        self.send(_sasl("auth", self._mechanism.initial(), {"mechanism": chosen}))
        return []

    def _on_sasl(self, element: Element) -> list[Record]:
        mechanism = self._mechanism
        if element.name == "failure":
            condition = "not-authorized"
            text = None
            for child in element.children:
                if child.name == "text":
                    text = child.text or None
                else:
                    condition = child.name
            return self.fail(AuthError(condition, text))
        if self.state == DERIVE:
            raise ProtocolError(f"SASL <{element.name}/> while deriving the key")
        data = _b64(element.text)
        if element.name == "challenge":
            if not isinstance(mechanism, Scram):
                raise ProtocolError("unexpected SASL challenge")
            if not mechanism.challenged:
                derive = mechanism.challenge(data)
                self.state = DERIVE
                return [NeedSaltedPassword(derive.hash_name, derive.salt, derive.iterations)]
            # Some servers send server-final as a challenge, then an empty success.
            mechanism.verify(data)
            self.send(Element("response", ns.SASL))
            return []
        if element.name == "success":
            if isinstance(mechanism, Scram):
                if data:
                    mechanism.verify(data)
                elif not mechanism.verified:
                    raise AuthError("server-signature", "success without server signature")
            self.authenticated = True
            self._forget_secrets()
            self._open()  # RFC 6120 §6.4.6: a new stream after SASL success
            return []
        raise ProtocolError(f"unexpected SASL <{element.name}/>")

    def _on_negotiation_iq(self, iq: Element) -> list[Record]:
        iq_id = iq.get("id")
        iq_type = iq.get("type")
        expected = self._bind_id if self.state == BINDING else self._session_id
        if iq_id != expected or iq_type not in ("result", "error"):
            return []  # nothing else should arrive before binding; ignore it
        if iq_type == "error":
            return self.fail(stanza_error(iq))
        if self.state == BINDING:
            text = iq.find("bind", ns.BIND)
            jid_text = None if text is None else text.find_text("jid", ns.BIND)
            if not jid_text:
                raise ProtocolError("bind result without a JID")
            bound = JID.parse(jid_text)  # a JidError is fatal too
            if bound.resource is None:
                raise ProtocolError("bound JID has no resource")
            self.jid = bound
            if self._session_id:
                self._session_id = self.new_id()
                session = Element("iq", ns.CLIENT, {"type": "set", "id": self._session_id})
                session.add("session", ns.SESSION)
                self.state = SESSION
                self.send(session)
                return []
        self.state = READY
        return []


def _sasl(name: str, data: bytes, attrs: dict[str, str] | None = None) -> Element:
    # RFC 6120 §6.4.2: an empty initial response is sent as "=".
    text = base64.b64encode(data).decode("ascii") if data else ("=" if name == "auth" else "")
    return Element(name, ns.SASL, attrs, text)


def _b64(text: str) -> bytes:
    text = text.strip()
    if not text or text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ProtocolError("SASL data is not base64") from None
