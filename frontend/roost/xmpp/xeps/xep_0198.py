"""XEP-0198 Stream Management, sans-I/O: acks and stream resumption.

`StreamManagement` holds the state of one SM session: the inbound count
`h_in` (what we tell the server we handled), the outbound count and the
queue of serialised stanzas the server has not acknowledged yet. It builds
and parses the nonzas; `ClientStream` decides when to send them.

Counting (XEP-0198 §4): our outbound count starts at zero when we send
`<enable/>`; the inbound count when `<enabled/>` arrives. Both wrap at 2^32.

Inbound acks wait for the app when `ack_after_confirm` is true: every
stanza is recorded in order, those whose events need storing (an event
class with `needs_confirm = True`, e.g. `ChatReceived`) wait for
`confirm(n)`, and `h_in` only covers the stanzas before the oldest one still
waiting. Stanzas the server has not seen acknowledged are re-sent by it on
resumption, so a message that was never stored is delivered again instead
of being lost. With `ack_after_confirm` false (the default) a stanza counts
as handled as soon as `receive()` has processed it.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import ProtocolError

NS = "urn:xmpp:sm:3"
MODULUS = 1 << 32
# More unacknowledged stanzas than this and the server is not acking at all:
# the session is considered broken (and the state too big to keep).
MAX_UNACKED = 5000
# Ask for an ack after this many outbound stanzas.
ACK_EVERY = 5
_STANZAS = ("message", "presence", "iq")
# Bits of an inbound ledger entry.
_COUNTED = 1  # SM was enabled when it arrived: it is part of h_in
_WAITING = 2  # its events need the app's confirmation


def is_stanza(element: Element) -> bool:
    """True for the elements XEP-0198 counts (message, presence, iq)."""
    return element.ns == ns.CLIENT and element.name in _STANZAS


# -- builders -------------------------------------------------------------------


def enable_element(resume: bool = True, max_seconds: int | None = None) -> Element:
    """`<enable resume="true" max=.../>`."""
    element = Element("enable", NS)
    if resume:
        element.attrs["resume"] = "true"
    if max_seconds is not None:
        element.attrs["max"] = str(max_seconds)
    return element


def request_element() -> Element:
    """`<r/>`: ask the server how many of our stanzas it handled."""
    return Element("r", NS)


def answer_element(h: int) -> Element:
    """`<a h=.../>`: how many of the server's stanzas we handled."""
    return Element("a", NS, {"h": str(h % MODULUS)})


def resume_element(previd: str, h: int) -> Element:
    """`<resume previd=... h=.../>`."""
    return Element("resume", NS, {"previd": previd, "h": str(h % MODULUS)})


def count_too_high_error(h: int, sent: int) -> Element:
    """The stream error XEP-0198 §4 asks for when an `h` exceeds what was sent."""
    error = Element("error", ns.STREAMS)
    error.add("undefined-condition", ns.STREAM_ERRORS)
    error.add("handled-count-too-high", NS, {"h": str(h), "send-count": str(sent)})
    error.add(
        "text",
        ns.STREAM_ERRORS,
        text=f"You acknowledged {h} stanzas, but I only sent you {sent} so far.",
    )
    return error


# -- parsers ----------------------------------------------------------------------


def _is_number(text: str) -> bool:
    # ASCII digits only (str.isdigit accepts other scripts' digits), ≤ 10 of them.
    return 0 < len(text) <= 10 and not text.strip("0123456789")


def parse_h(element: Element, required: bool = True) -> int | None:
    """The `h` attribute (0 ≤ h < 2^32); raises `ProtocolError` when it is bad."""
    text = element.get("h")
    if text is None:
        if required:
            raise ProtocolError(f"<{element.name}/> without 'h'")
        return None
    if not _is_number(text) or int(text) >= MODULUS:
        raise ProtocolError(f"<{element.name}/> with a bad 'h': {text[:20]!r}")
    return int(text)


def parse_enabled(element: Element) -> tuple[str | None, bool, int | None, str | None]:
    """`<enabled/>` → (id, resumable, max seconds, location)."""
    resume = element.get("resume") in ("true", "1")
    sm_id = element.get("id") or None
    max_text = element.get("max") or ""
    max_seconds = int(max_text) if _is_number(max_text) else None
    return sm_id, resume and sm_id is not None, max_seconds, element.get("location") or None


def parse_failed(element: Element) -> tuple[str, int | None]:
    """`<failed/>` → (stanza error condition, h or None). A bad `h` is ignored."""
    condition = "undefined-condition"
    for child in element.children:
        if child.ns == ns.STANZAS and child.name != "text":
            condition = child.name
            break
    try:
        h = parse_h(element, required=False)
    except ProtocolError:
        h = None
    return condition, h


class CountTooHigh(ProtocolError):
    """The server acknowledged more stanzas than we sent (or went backwards)."""

    def __init__(self, h: int, sent: int) -> None:
        super().__init__(f"server acknowledged {h} stanzas, but only {sent} were sent")
        self.h = h
        self.sent = sent


class StreamManagement:
    """Counters and the unacknowledged queue of one SM session (module docstring)."""

    __slots__ = (
        "_head",
        "_ledger",
        "_scan",
        "_since_request",
        "_waiting",
        "ack_after_confirm",
        "ack_every",
        "active",
        "enabled",
        "h_in",
        "id",
        "location",
        "max",
        "max_unacked",
        "out",
        "owed",
        "resumable",
        "unacked",
    )

    def __init__(
        self,
        ack_after_confirm: bool = False,
        ack_every: int = ACK_EVERY,
        max_unacked: int = MAX_UNACKED,
    ) -> None:
        self.ack_after_confirm = ack_after_confirm
        self.ack_every = ack_every
        self.max_unacked = max_unacked
        # Inbound entries after h_in, oldest first (confirm mode only):
        # _COUNTED/_WAITING bits. The live ones start at `_head` (the list is
        # cut now and then, not per entry: a burst of hundreds stays linear);
        # none in [_head, _scan) is waiting (confirmations come in order).
        self._ledger: list[int] = []
        self._head = 0
        self._scan = 0
        self._waiting = 0
        self.reset()

    def reset(self) -> None:
        """Forget the SM session (enable failed, or resumption failed)."""
        self.active = False  # <enable/> sent: outbound stanzas are counted
        self.enabled = False  # <enabled/> received: inbound counted, r/a allowed
        self.id: str | None = None
        self.resumable = False
        self.max: int | None = None
        self.location: str | None = None
        self.h_in = 0
        self.out = 0  # stanzas sent since <enable/>, mod 2^32
        # (serialised stanza, message id or "") for the last len(unacked) sent
        self.unacked: list[tuple[str, str]] = []
        self.owed = False  # an <r/> was answered with stanzas still unconfirmed
        self._since_request = 0
        # Waiting entries stay: the app still confirms them, in order.
        self._ledger = [e & _WAITING for e in self._ledger[self._head:] if e & _WAITING]
        self._head = self._scan = 0
        self._waiting = len(self._ledger)

    # -- outbound -----------------------------------------------------------------
    @property
    def acked(self) -> int:
        """How many of our stanzas the server has acknowledged, mod 2^32."""
        return (self.out - len(self.unacked)) % MODULUS

    def sent(self, xml: str, msg_id: str) -> bool:
        """Record an outbound stanza; True when an `<r/>` is due.

        Raises `OverflowError` when the queue is full (the session is broken).
        """
        if len(self.unacked) >= self.max_unacked:
            raise OverflowError(f"{len(self.unacked)} stanzas not acknowledged")
        self.unacked.append((xml, msg_id))
        self.out = (self.out + 1) % MODULUS
        self._since_request += 1
        return self.enabled and self._since_request >= self.ack_every

    def requested(self) -> None:
        """An `<r/>` was just sent."""
        self._since_request = 0

    def acknowledge(self, h: int) -> list[str]:
        """Drop what `h` acknowledges; return those stanzas' message ids.

        Raises `CountTooHigh` when `h` is more than we sent (or less than an
        earlier `h`: modulo 2^32 that looks like more).
        """
        newly = (h - self.acked) % MODULUS
        if newly > len(self.unacked):
            raise CountTooHigh(h, self.out)
        done = self.unacked[:newly]
        del self.unacked[:newly]
        return [msg_id for _, msg_id in done if msg_id]

    def unacked_ids(self) -> list[str]:
        """Message ids still waiting for the server's ack, oldest first."""
        return [msg_id for _, msg_id in self.unacked if msg_id]

    # -- inbound ----------------------------------------------------------------
    def received(self, waiting: bool) -> None:
        """One inbound stanza was processed; `waiting`: its events need confirming."""
        counted = _COUNTED if self.enabled else 0
        if not self.ack_after_confirm or (not waiting and self._head == len(self._ledger)):
            self.h_in = (self.h_in + counted) % MODULUS
            return
        if waiting:
            self._ledger.append(counted | _WAITING)
            self._waiting += 1
        else:
            self._ledger.append(counted)

    @property
    def waiting(self) -> int:
        """Stanzas received whose events the app has not confirmed yet."""
        return self._waiting

    def confirm(self, n: int = 1) -> bool:
        """The app stored the `n` oldest waiting stanzas; True when an `<a/>` is owed now."""
        if n < 0 or n > self._waiting:
            raise ValueError(f"confirming {n} stanzas, {self._waiting} waiting")
        ledger = self._ledger
        i = max(self._scan, self._head)
        self._waiting -= n
        while n > 0:
            entry = ledger[i]
            if entry & _WAITING:
                ledger[i] = entry & _COUNTED
                n -= 1
            i += 1
        self._scan = i
        head, end, counted = self._head, len(ledger), 0
        while head < end and not ledger[head] & _WAITING:
            counted += ledger[head] & _COUNTED
            head += 1
        if head == end:
            ledger.clear()
            self._head = self._scan = 0
        elif head > 256:
            del ledger[:head]
            self._head, self._scan = 0, max(0, self._scan - head)
        else:
            self._head = head
        if not counted:
            return False
        self.h_in = (self.h_in + counted) % MODULUS
        if self.owed and self.enabled:
            self.owed = self._head < len(ledger)
            return True
        return False

    def answer(self) -> Element:
        """The `<a/>` answering a server `<r/>`."""
        self.owed = self._head < len(self._ledger)
        return answer_element(self.h_in)

    # -- persistence --------------------------------------------------------------
    def to_state(self) -> dict[str, object]:
        """JSON-able resumption data (see `XmppClient.resume_state`)."""
        return {
            "id": self.id,
            "h_in": self.h_in,
            "out": self.out,
            "unacked": [[entry[0], entry[1]] for entry in self.unacked],
            "max": self.max,
            "location": self.location,
        }

    def load_state(self, state: dict[str, object]) -> None:
        """Take over a session saved by `to_state`; raises ValueError when malformed."""
        try:
            sm_id = state["id"]
            h_in = state["h_in"]
            out = state["out"]
            unacked = state["unacked"]
            max_seconds = state.get("max")
            location = state.get("location")
            if not isinstance(sm_id, str) or not sm_id:
                raise ValueError("no SM id")
            if not isinstance(h_in, int) or not isinstance(out, int):
                raise ValueError("counters must be integers")
            if not isinstance(unacked, list):
                raise ValueError("unacked must be a list")
            entries = [(str(xml), str(msg_id or "")) for xml, msg_id in unacked]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad resume state: {exc}") from None
        self.reset()
        self.id = sm_id
        self.resumable = True
        self.h_in = h_in % MODULUS
        self.out = out % MODULUS
        self.unacked = entries[-self.max_unacked :] if entries else []
        self.max = max_seconds if isinstance(max_seconds, int) else None
        self.location = location if isinstance(location, str) else None
