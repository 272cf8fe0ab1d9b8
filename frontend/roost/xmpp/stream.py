"""`ClientStream`: stream negotiation over RFC 7395 (XMPP over WebSocket).

Sans-I/O: `receive(element)` takes one parsed frame and returns events;
frames to send are queued in `output`. It covers opening and closing,
stream errors, SASL (RFC 6120 §6), resource binding (§7) and the obsolete
RFC 3921 session, then reports `online`. Stanzas after that are the
`XmppClient`'s business; XEP-0198 stream management (enable, `<r/>`/`<a/>`,
resumption instead of binding) is the stream's, with its counters and queue
in `xeps.xep_0198.StreamManagement`.

States, in order: idle → opening → features → auth (→ derive → auth) →
opening → features → binding (→ session) → ready, or, with saved resumption
state, features → resuming → ready (→ binding … when resumption fails); `closing` after we sent
`<close/>`, `closed` at the end. A violation never raises out of `receive`;
it ends the stream with `Closed(error)`.
"""

from __future__ import annotations

import base64

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import AuthError, ProtocolError, StanzaError, StreamError, XmppError
from roost.xmpp.events import (
    Acked,
    Closed,
    NeedSaltedPassword,
    Resumed,
    ResumeFailed,
    SmEnabled,
    SmFailed,
)
from roost.xmpp.jid import JID
from roost.xmpp.sasl import PLAIN, SCRAM_SHA_1, SCRAM_SHA_256, Plain, Scram, scram_hash_name
from roost.xmpp.xeps import xep_0198  # not lazy: every current server offers it
from roost.xmpp.xeps.xep_0198 import (
    ACK_EVERY,
    CountTooHigh,
    StreamManagement,
    answer_element,
    count_too_high_error,
    enable_element,
    is_stanza,
    parse_enabled,
    parse_failed,
    parse_h,
    request_element,
    resume_element,
)

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
RESUMING = "resuming"
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
        "_resume_jid",
        "_session_id",
        "_sm_offered",
        "acks_received",
        "authenticated",
        "csi_supported",
        "deferred",
        "jid",
        "mechanisms",
        "output",
        "random_bytes",
        "secure",
        "sm",
        "sm_resume",
        "state",
    )

    def __init__(
        self,
        jid: JID,
        password: str,
        secure: bool,
        random_bytes: Callable[[int], bytes],
        mechanisms: tuple[str, ...] | list[str] | None = None,
        *,
        resume: dict[str, object] | None = None,
        ack_after_confirm: bool = False,
        ack_every: int = ACK_EVERY,
        sm_resume: bool = True,
    ) -> None:
        self.jid = jid
        self.sm_resume = sm_resume
        self._password = password
        self.secure = secure
        self.random_bytes = random_bytes
        self.mechanisms = tuple(mechanisms) if mechanisms else DEFAULT_MECHANISMS
        self.state = IDLE
        self.authenticated = False
        # XEP-0352: the server listed <csi/> in the features after SASL.
        self.csi_supported = False
        # Elements, or already serialised stanzas (counted or re-sent by SM).
        self.output: list[Element | str] = []
        # Events that arose outside `receive` (a broken SM session while
        # sending); `XmppClient.receive` reports them first.
        self.deferred: list[Record] = []
        self._mechanism: Scram | Plain | None = None
        self._bind_id = ""
        self._session_id = ""
        self._sm_offered = False
        self.sm = StreamManagement(ack_after_confirm, ack_every)
        # `<a/>` answers seen on this stream: proof that the server reads it
        # (a resumed session is only trusted once one came, see the app).
        self.acks_received = 0
        # The bound full JID of the session to resume (None: bind a new one).
        self._resume_jid: JID | None = None
        if resume is not None:
            self.sm.load_state(resume)
            try:
                saved = JID.parse(str(resume.get("jid")))
            except XmppError:
                raise ValueError("bad resume state: jid") from None
            if saved.resource is None or saved.bare != jid.bare:
                raise ValueError("resume state is for another account or has no resource")
            self._resume_jid = saved

    # -- helpers ------------------------------------------------------------
    def new_id(self) -> str:
        """A fresh unguessable id for an IQ or a message."""
        return self.random_bytes(8).hex()

    def send(self, element: Element) -> None:
        """Queue `element`; once SM is on, a stanza is also kept until acknowledged."""
        sm = self.sm
        if not sm.active or not is_stanza(element):
            self.output.append(element)
            return
        xml = element.to_xml()
        try:
            due = sm.sent(xml, element.get("id") or "" if element.name == "message" else "")
        except OverflowError as exc:
            # The server acknowledges nothing: this session can't be trusted.
            self.deferred.extend(self.fail(ProtocolError("stream management: " + str(exc))))
            return
        self.output.append(xml)
        if due:
            self._request_ack()

    def _request_ack(self) -> None:
        self.output.append(request_element())
        self.sm.requested()

    def request_ack(self) -> bool:
        """Queue `<r/>` when SM is on and stanzas await an ack; True if queued."""
        if self.state != READY or not self.sm.enabled or not self.sm.unacked:
            return False
        self._request_ack()
        return True

    def confirm_handled(self, n: int = 1) -> None:
        """The app stored the events of the `n` oldest stanzas waiting for it."""
        if self.sm.confirm(n) and self.state == READY:
            self.output.append(answer_element(self.sm.h_in))

    def resume_state(self) -> dict[str, object] | None:
        """What a new stream needs to resume this SM session, or None."""
        sm = self.sm
        if not sm.resumable or not sm.id or self.state in (CLOSING, CLOSED):
            return None
        state = sm.to_state()
        state["jid"] = str(self._resume_jid or self.jid)
        return state

    def _open(self) -> None:
        self.state = OPENING
        self.send(Element("open", ns.FRAMING, {"to": self.jid.domain, "version": "1.0"}))

    def fail(self, error: XmppError, stream_error: Element | None = None) -> list[Record]:
        """End the stream because of `error`: send `<close/>` (after
        `stream_error`, if given), report `Closed(error)`."""
        if self.state == CLOSED:
            return []
        self.state = CLOSED
        self._forget_secrets()
        if stream_error is not None:
            self.output.append(stream_error)
        self.output.append(Element("close", ns.FRAMING))
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
        if element.ns == xep_0198.NS:
            if state == READY:
                return self._on_sm(element)
            if state == RESUMING:
                return self._on_resume_answer(element)
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
        self._sm_offered = features.find("sm", xep_0198.NS) is not None
        self.csi_supported = features.find("csi", ns.CSI) is not None
        if self._resume_jid is not None:
            if not self._sm_offered:
                return self._resume_failed("feature-not-implemented", None)
            self.state = RESUMING
            self.send(resume_element(self.sm.id or "", self.sm.h_in))
            return []
        self._bind()
        return []

    def _bind(self) -> None:
        self._bind_id = self.new_id()
        iq = Element("iq", ns.CLIENT, {"type": "set", "id": self._bind_id})
        bind = iq.add("bind", ns.BIND)
        resource = self.jid.resource or "roost-" + self.random_bytes(4).hex()
        bind.add("resource", text=resource)
        self.state = BINDING
        self.send(iq)

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
        if self._sm_offered:
            # XEP-0198 §3: after binding. Our count starts now, theirs at <enabled/>.
            self.sm.active = True
            self.send(enable_element(resume=self.sm_resume))
        return []

    # -- XEP-0198 ---------------------------------------------------------------
    def _on_sm(self, element: Element) -> list[Record]:
        sm = self.sm
        name = element.name
        if name == "r":
            if sm.enabled:
                self.send(sm.answer())
            return []
        if name == "a":
            if not sm.enabled:
                return []
            self.acks_received += 1
            h = parse_h(element)
            try:
                ids = sm.acknowledge(h or 0)
            except CountTooHigh as exc:
                return self.fail(exc, count_too_high_error(exc.h, exc.sent))
            return [Acked(ids)] if ids else []
        if name == "enabled":
            if not sm.active or sm.enabled:
                raise ProtocolError("unexpected <enabled/>")
            sm_id, resumable, max_seconds, location = parse_enabled(element)
            sm.enabled = True
            sm.id = sm_id
            sm.resumable = resumable
            sm.max = max_seconds
            sm.location = location
            if sm.unacked_ids():
                # Messages sent between <enable/> and <enabled/> (an outbox
                # flushed at Online): ask now, <r/> wasn't allowed before.
                self._request_ack()
            return [SmEnabled(sm_id, resumable, max_seconds, location)]
        if name == "failed" and sm.active and not sm.enabled:
            condition, _ = parse_failed(element)
            sm.reset()
            return [SmFailed(condition)]
        return []  # nothing else is meant for a client

    def _on_resume_answer(self, element: Element) -> list[Record]:
        sm = self.sm
        if element.name == "failed":
            condition, h = parse_failed(element)
            return self._resume_failed(condition, h)
        if element.name != "resumed":
            raise ProtocolError(f"expected <resumed/> or <failed/>, got <{element.name}/>")
        if element.get("previd") != sm.id:
            raise ProtocolError("the server resumed another session")
        h = parse_h(element) or 0
        try:
            ids = sm.acknowledge(h)
        except CountTooHigh:
            # The saved state is older than what the server saw: it was
            # written just before a reload, and more went out after. The
            # server has everything we know of; its count is the one to go on
            # from (the app re-sends what its outbox still holds, under the
            # same ids, so a copy is recognised). Failing instead would leave
            # the old session hibernating, to deliver its queue later.
            ids = sm.unacked_ids()
            sm.unacked = []
            sm.out = h % xep_0198.MODULUS
        self.jid = self._resume_jid or self.jid
        self._resume_jid = None
        sm.active = sm.enabled = True
        self.state = READY
        # Each unacknowledged stanza once, as it was; they keep their numbers.
        for xml, _ in sm.unacked:
            self.output.append(xml)
        # Always ask: the answer proves the server reads this stream. Prosody
        # 0.12 can resume a session whose input parser is stuck inside a
        # stanza cut off with the old connection; it then ignores everything
        # we send, and only a missing <a/> shows it.
        self._request_ack()
        events: list[Record] = [Resumed(self.jid)]
        if ids:
            events.append(Acked(ids))
        return events

    def _resume_failed(self, condition: str, h: int | None) -> list[Record]:
        sm = self.sm
        events: list[Record] = []
        if h is not None:
            try:
                acked = sm.acknowledge(h)
            except CountTooHigh:
                acked = []  # nothing to trust: report everything as unacknowledged
            if acked:
                events.append(Acked(acked))
        events.append(ResumeFailed(sm.unacked_ids(), condition))
        sm.reset()
        self._resume_jid = None
        self._bind()
        return events


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
