"""An in-memory platform and a scripted XMPP server for ChatApp tests.

Nothing here stands in for the code under test: the app, the XmppClient, the
message store, the storage backend (`roost.platform.schema.MemoryBackend`,
the same one untrusted sessions use in the browser) and the SCRAM exchange
are the real ones. The server speaks real RFC 7395 frames and checks the
SCRAM proof with CPython's hmac (tests/xmpp/support.py).

Network, storage and PBKDF2 completions are queued as tasks and run by
`FakePlatform.run()`, as an event loop would; then `call_later` timers fire
in order of their due time, the clock moving to each (up to `RUN_HORIZON`
seconds past where `run()` started: the app's XEP-0199 ping timer, due
PING_IDLE = 60 s after the last frame, only fires through `advance()`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable

from roost.app import ChatApp
from roost.platform.schema import MemoryBackend, key_order
from roost.xmpp.element import Element
from roost.xmpp.errors import NetworkError, XmlError
from roost.xmpp.xmlparse import parse_xml

from tests.app.fake_muc import MUC_DOMAIN, FakeMuc
from tests.xmpp.support import ScramServer, b64, features, mechanisms

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
SM = "urn:xmpp:sm:3"
CSI = "urn:xmpp:csi:0"
PING = "urn:xmpp:ping"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
CARBONS = "urn:xmpp:carbons:2"
DOMAIN = "example.org"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FORWARD = "urn:xmpp:forward:0"
DATA_FORMS = "jabber:x:data"
PUBSUB = "http://jabber.org/protocol/pubsub"
# `run()` fires timers due at most this long after the clock it started at.
RUN_HORIZON = 50.0


class FakeStorage(MemoryBackend):
    """The real memory backend, its callbacks queued as platform tasks.

    `trusted` storages stand for IndexedDB: `FakePlatform` keeps one per
    account, so a second `ChatApp` on the same platform (a reload) finds what
    the first wrote. `hold()` keeps every callback back until `release()`
    (a slow disk); the data itself changes at the call, as a committed
    transaction would.
    """

    def __init__(self, platform: FakePlatform, account: str, trusted: bool) -> None:
        super().__init__(account, self._later)
        self.platform = platform
        self.trusted = trusted
        self.destroyed = False
        self.holding = False
        self.uncommitted = False
        self.held: list[Callable[[], object]] = []

    def _later(self, fn: Callable[[], object]) -> None:
        (self.held if self.holding else self.platform.tasks).append(fn)

    def hold(self, commit: bool = True) -> None:
        """Hold callbacks back; `commit=False`: writes too (they happen at
        `release()`, and a reload meanwhile loses them, as an IndexedDB
        transaction still open when the page goes)."""
        self.holding = True
        self.uncommitted = not commit

    def release(self) -> None:
        self.holding = False
        self.uncommitted = False
        held, self.held = self.held, []
        self.platform.tasks.extend(held)

    def lose_uncommitted(self) -> None:
        if self.uncommitted:
            self.held.clear()
            self.holding = self.uncommitted = False

    def write(
        self,
        puts: list[tuple[str, object, object]],
        deletes: list[tuple[str, object]],
        cb: Callable[[], None] | None = None,
    ) -> None:
        if self.uncommitted:
            self.held.append(lambda: MemoryBackend.write(self, puts, deletes, cb))
        else:
            super().write(puts, deletes, cb)

    @property
    def data(self) -> dict[str, dict[object, object]]:
        """Every store's records as stored (key → value); read-only use."""
        return self._data

    def records(self, store: str) -> list[dict[str, object]]:
        """The values of `store` in key order."""
        data = self._data[store]
        found: list[dict[str, object]] = []
        for key in sorted(data, key=key_order):
            value = data[key]
            if isinstance(value, dict):
                found.append(value)
        return found

    def messages(self, conversation: str) -> list[dict[str, object]]:
        """The stored message records (kind "message") of a conversation, in order."""
        found = [
            v
            for v in self.records("messages")
            if v.get("conversation") == conversation and v.get("kind") == "message"
        ]
        return sorted(found, key=lambda v: (float(v["stamp"]), int(v["seq"])))  # type: ignore[arg-type,call-overload]

    def seed(self, store: str, key: object, value: object) -> None:
        """Put a record now (a database left by an earlier page)."""
        self._put(store, key, value)

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        self.destroyed = True
        super().destroy(cb)


class FakeConnection:
    def __init__(
        self,
        platform: FakePlatform,
        server: FakeServer | None,
        on_open: Callable[[], None],
        on_frame: Callable[[str], None],
        on_close: Callable[[NetworkError | None], None],
    ) -> None:
        self.platform = platform
        self.server = server
        self.on_frame = on_frame
        self.on_close = on_close
        self.sent: list[str] = []
        # Frames written after the network died unnoticed (`stall`) or after a
        # drop the app hasn't heard of yet: they never reach the server.
        self.lost: list[str] = []
        self.closed = False
        self.closed_by_app = False
        self.stalled = False
        if server is None:  # nothing listening
            platform.tasks.append(lambda: self._finish(NetworkError(False, "refused")))
        else:
            server.attach(self)
            platform.tasks.append(on_open)

    def send(self, text: str) -> None:
        assert not self.closed_by_app, "send after close"
        if self.closed or self.stalled:
            self.lost.append(text)
            return
        self.sent.append(text)
        assert self.server is not None
        self.server.handle(parse_xml(text))

    def close(self) -> None:
        """The app closes the socket (no `<close/>` frame unless it sent one)."""
        if not self.closed:
            self.platform.tasks.append(lambda: self._finish(None))
        self.closed = True
        self.closed_by_app = True

    def deliver(self, frame: str) -> None:
        """The server sends `frame` (arrives when tasks run; never once dead)."""
        if self.stalled or self.closed:
            return
        self.platform.tasks.append(lambda: None if self.closed else self.on_frame(frame))

    def drop(self) -> None:
        """The network dies and the browser notices (close event)."""
        self.closed = True
        self.platform.tasks.append(lambda: self._finish(NetworkError(True, "reset")))

    def stall(self) -> None:
        """The network dies unnoticed: frames vanish both ways, no close event."""
        self.stalled = True

    def vanish(self) -> None:
        """The page is gone (reload): the socket closes, nobody hears of it."""
        self.closed = True
        self.closed_by_app = True

    def _finish(self, error: NetworkError | None) -> None:
        self.closed = True
        self.on_close(error)


class SmSession:
    """The server side of one XEP-0198 session (it outlives its connection)."""

    def __init__(self, sm_id: str, resumable: bool, full: str) -> None:
        self.id = sm_id
        self.resumable = resumable
        self.full = full
        self.h_in = 0  # stanzas from the client handled
        self.sent = 0  # stanzas sent to the client since <enabled/>
        self.unacked: list[tuple[int, str]] = []  # (number, frame) the client hasn't acked
        self.acked = 0  # the client's last h
        # Prosody 0.12 after a connection cut inside a stanza: resumed, but
        # its input parser is stuck in that stanza and swallows all input.
        self.deaf = False

    def ack(self, h: int) -> None:
        self.acked = h
        self.unacked = [(n, f) for n, f in self.unacked if n > h]


class FakeServer:
    """Just enough of an XMPP server: SCRAM-SHA-256, bind, roster, presence,
    messages, disco#info of the domain (`features`, carbons by default),
    carbons enable, XEP-0199 pings (answered unless `answer_pings` is False),
    XEP-0352 CSI when made with `csi=True` (`csi_states` records the nonzas).

    XEP-0198 when made with `sm=True`: `<enable resume="true"/>` gets a
    resumable session (`sm_resume=False`: not resumable); every stanza sent
    to the client is counted and kept until the client's `<a h/>`
    (`client_acks` records each h); `<r/>` is answered with the count
    handled (unless `answer_r` is False; `ack()` sends it later);
    `request_ack()` sends `<r/>`. A resumable session outlives its
    connection unless the client closed the stream; `<resume/>` is answered
    according to `resume_answer`: "auto" (resumed when the session is held,
    re-sending what the client's h doesn't cover, else `<failed/>`),
    "fail" (`<failed h/>` with what the server handled), or a stream error
    frame. `resumes` logs (answer, previd).

    XEP-0313: `archive` is the user's archive, a list of `(archive id, stamp,
    inner message xml)`, oldest first, paged with RSM after/before/max
    (`archive_max` at most per page) and filtered by the `with` field;
    an anchor id not in it is `item-not-found`; `archive=None` answers
    queries with `service-unavailable`. `archive_queries` records each query
    as (with, after, before)."""

    def __init__(
        self,
        users: dict[str, str],
        rosters: dict[str, list[str]] | None = None,
        sm: bool = False,
        features: tuple[str, ...] = (CARBONS,),
        csi: bool = False,
    ) -> None:
        self.users = users
        self.rosters = rosters or {}
        self.sm = sm
        self.sm_resume = True
        self.refuse_enable = False  # answer <enable/> with <failed/>
        self.csi = csi
        self.features = features
        self.archive: list[tuple[str, float, str]] | None = []
        self.archive_max = 100
        self.archive_queries: list[tuple[str | None, str | None, str | None]] = []
        # Called with each archive query's queryid once it is answered (the
        # answer is already on its way): a test adds what the server archives
        # right after that answer, before it handles the client's next stanza.
        self.after_archive_query: Callable[[str | None], None] | None = None
        # A slow archive: queries wait in `deferred_archive` until `answer_archive()`.
        self.defer_archive = False
        self.deferred_archive: list[tuple[str, Element]] = []
        self.carbons = False
        # Frames the server sends right after the client's initial presence.
        self.presences: list[str] = []
        self.received: list[Element] = []  # every stanza from the client
        self.connection: FakeConnection | None = None
        self.connections = 0
        self.user = ""
        self.full = ""
        # XEP-0198: the session of the current connection, and those that can be resumed.
        self.session: SmSession | None = None
        self.sessions: dict[str, SmSession] = {}
        self.answer_r = True
        # Resumed sessions turn deaf (SmSession.deaf): nothing the client
        # sends is handled any more, on this connection or a later resume.
        self.deafen_on_resume = False
        self.client_acks: list[int] = []
        self.resume_answer = "auto"
        self.resumes: list[tuple[str, str | None]] = []
        self.binds = 0
        self.csi_states: list[str] = []
        self.answer_pings = True
        self.pings = 0
        self._scram: ScramServer | None = None
        self._authed = False
        self._sm_seq = 0
        # The MUC service conference.example.org (tests/app/fake_muc.py).
        self.muc = FakeMuc(self)
        # jabber:iq:private (XEP-0049) storage, for XEP-0048 bookmarks: xml by element name.
        self.private: dict[str, str] = {}
        # PEP (XEP-0163): (owner, node) → item id → item XML; nodes published to.
        self.pep: dict[tuple[str, str], dict[str, str]] = {}
        self.pep_publishes: list[str] = []
        self.pep_silent = False  # PEP requests get no answer at all
        self.clock: Callable[[], float] = lambda: 1_700_000_000.0

    @property
    def sm_count(self) -> int | None:
        """Stanzas handled since `<enable/>` (None: no SM on this connection)."""
        return None if self.session is None else self.session.h_in

    def attach(self, connection: FakeConnection) -> None:
        """A new WebSocket: a new, unauthenticated stream."""
        self.connection = connection
        self.connections += 1
        self._authed = False
        self._scram = None
        self.session = None
        self.carbons = False

    def send(self, frame: str) -> None:
        """Send `frame` to the client; counted and kept for XEP-0198 when it is a stanza."""
        assert self.connection is not None
        session = self.session
        if session is not None and frame.startswith(("<message", "<presence", "<iq")):
            try:
                element: Element | None = parse_xml(frame)
            except XmlError:
                element = None  # a broken frame the client will refuse
            if element is not None and element.ns == "jabber:client":
                session.sent += 1
                session.unacked.append((session.sent, frame))
        self.connection.deliver(frame)

    # -- XEP-0198 -----------------------------------------------------------------
    def request_ack(self) -> None:
        """Send `<r/>`: the client answers with what it handled."""
        self.send(f'<r xmlns="{SM}"/>')

    def ack(self) -> None:
        """Send `<a h/>` with what the server handled of the client's stanzas."""
        assert self.session is not None
        self.send(f'<a xmlns="{SM}" h="{self.session.h_in}"/>')

    def unacked_frames(self) -> list[str]:
        return [] if self.session is None else [f for _n, f in self.session.unacked]

    def _sm(self, element: Element) -> None:
        name = element.name
        if name == "enable" and self.refuse_enable:
            self.send(f'<failed xmlns="{SM}"><unexpected-request xmlns="{STANZAS}"/></failed>')
        elif name == "enable":
            self._sm_seq += 1
            resumable = element.get("resume") in ("true", "1") and self.sm_resume
            session = SmSession(f"sm-{self._sm_seq}", resumable, self.full)
            if resumable:
                self.sessions[session.id] = session
                self.send(f'<enabled xmlns="{SM}" id="{session.id}" resume="true" max="300"/>')
            else:
                self.send(f'<enabled xmlns="{SM}"/>')
            self.session = session  # counting starts after <enabled/>
        elif name == "r" and self.session is not None and self.answer_r:
            self.ack()
        elif name == "a" and self.session is not None:
            h = int(element.get("h") or "0")
            self.client_acks.append(h)
            self.session.ack(h)
        elif name == "resume":
            self._resume(element)

    def _resume(self, element: Element) -> None:
        previd = element.get("previd")
        h = int(element.get("h") or "0")
        answer = self.resume_answer
        session = self.sessions.get(previd or "")
        if answer not in ("auto", "fail"):  # a stream error
            self.resumes.append(("error", previd))
            self.send(answer)
            return
        if answer == "fail" or session is None:
            self.resumes.append(("failed", previd))
            self.sessions.pop(previd or "", None)
            handled = f' h="{session.h_in}"' if session is not None else ""
            self.send(
                f'<failed xmlns="{SM}"{handled}><item-not-found xmlns="{STANZAS}"/></failed>'
            )
            return
        self.resumes.append(("resumed", previd))
        session.deaf = session.deaf or self.deafen_on_resume
        session.ack(h)
        self.session = session
        self.full = session.full
        assert self.connection is not None
        self.connection.deliver(f'<resumed xmlns="{SM}" previd="{previd}" h="{session.h_in}"/>')
        for _n, frame in session.unacked:  # each once more, keeping its number
            self.connection.deliver(frame)

    # -- the stream -----------------------------------------------------------------
    def handle(self, element: Element) -> None:
        if element.ns == FRAMING:
            if element.name == "open":
                assert element.get("to") == DOMAIN
                self.send(f'<open xmlns="{FRAMING}" from="{DOMAIN}" id="x" version="1.0"/>')
                if self._authed:
                    offered = ['<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>']
                    if self.sm:
                        offered.append(f'<sm xmlns="{SM}"/>')
                    if self.csi:
                        offered.append(f'<csi xmlns="{CSI}"/>')
                    self.send(features(*offered))
                else:
                    self.send(features(mechanisms("SCRAM-SHA-1", "SCRAM-SHA-256")))
            elif element.name == "close":
                # An orderly end: the session can't be resumed.
                if self.session is not None:
                    self.sessions.pop(self.session.id, None)
                self.send(f'<close xmlns="{FRAMING}"/>')
            return
        if element.ns == SASL:
            self._sasl(element)
            return
        if self.session is not None and self.session.deaf:
            return  # swallowed inside the cut-off stanza
        if element.ns == SM:
            self._sm(element)
            return
        if element.ns == CSI:
            self.csi_states.append(element.name)
            return
        if self.session is not None:
            self.session.h_in += 1
        self.received.append(element)
        if self.muc.handle(element):
            return
        if element.name == "iq":
            self._iq(element)
        elif element.name == "presence" and element.get("type") is None and not element.get("to"):
            for frame in self.presences:
                self.send(frame)

    def _sasl(self, element: Element) -> None:
        data = base64.b64decode(element.text) if element.text else b""
        if element.name == "auth":
            assert element.get("mechanism") == "SCRAM-SHA-256"
            self.user = data.split(b",")[2][2:].decode()
            password = self.users.get(self.user, "\x00no such user")
            self._scram = ScramServer(self.user, password)
            self.send(f'<challenge xmlns="{SASL}">{b64(self._scram.first(data))}</challenge>')
        elif element.name == "response":
            assert self._scram is not None
            try:
                final = self._scram.final(data)
            except AssertionError:
                self.send(f'<failure xmlns="{SASL}"><not-authorized/></failure>')
                return
            self._authed = True
            self.send(f'<success xmlns="{SASL}">{b64(final)}</success>')

    def _iq(self, iq: Element) -> None:
        iq_id = iq.get("id")
        bind = iq.find("bind", "urn:ietf:params:xml:ns:xmpp-bind")
        if bind is not None:
            self.binds += 1
            self.full = f"{self.user}@{DOMAIN}/{bind.find_text('resource')}"
            self.send(
                f'<iq xmlns="jabber:client" type="result" id="{iq_id}">'
                f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{self.full}</jid></bind></iq>'
            )
            return
        if iq.find("ping", PING) is not None:
            self.pings += 1
            if self.answer_pings:
                self.send(
                    f'<iq xmlns="jabber:client" type="result" id="{iq_id}" from="{DOMAIN}" '
                    f'to="{self.full}"/>'
                )
            return
        disco = iq.find("query", DISCO_INFO)
        if disco is not None and iq.get("to") == DOMAIN:
            found = "".join(f'<feature var="{var}"/>' for var in self.features)
            self.send(
                f'<iq xmlns="jabber:client" type="result" id="{iq_id}" from="{DOMAIN}" '
                f'to="{self.full}"><query xmlns="{DISCO_INFO}">{found}</query></iq>'
            )
            return
        items = iq.find("query", DISCO_ITEMS)
        if items is not None and iq.get("to") == DOMAIN:
            self.send(
                f'<iq xmlns="jabber:client" type="result" id="{iq_id}" from="{DOMAIN}" '
                f'to="{self.full}"><query xmlns="{DISCO_ITEMS}"><item jid="{MUC_DOMAIN}"/>'
                "</query></iq>"
            )
            return
        pubsub = iq.find("pubsub", PUBSUB) or iq.find("pubsub", PUBSUB + "#owner")
        if pubsub is not None:
            self._pep(iq, pubsub)
            return
        private = iq.find("query", "jabber:iq:private")
        if private is not None and private.children:
            stored = private.children[0]
            if iq.get("type") == "set":
                self.private[stored.name] = stored.to_xml("jabber:iq:private")
                self.send(
                    f'<iq xmlns="jabber:client" type="result" id="{iq_id}" to="{self.full}"/>'
                )
            else:
                inner = self.private.get(stored.name) or stored.to_xml("jabber:iq:private")
                self.send(
                    f'<iq xmlns="jabber:client" type="result" id="{iq_id}" to="{self.full}">'
                    f'<query xmlns="jabber:iq:private">{inner}</query></iq>'
                )
            return
        if iq.find("enable", CARBONS) is not None:
            self.carbons = True
            self.send(f'<iq xmlns="jabber:client" type="result" id="{iq_id}" to="{self.full}"/>')
            return
        mam = iq.find("query", MAM)
        if mam is not None:
            self._archive_query(iq_id or "", mam)
            return
        query = iq.find("query", "jabber:iq:roster")
        if query is not None and iq.get("type") == "get":
            items = "".join(self.rosters.get(self.user, []))
            self.send(
                f'<iq xmlns="jabber:client" type="result" id="{iq_id}" to="{self.full}">'
                f'<query xmlns="jabber:iq:roster">{items}</query></iq>'
            )
        elif query is not None and iq.get("type") == "set":
            item = query.children[0]
            self.send(
                f'<iq xmlns="jabber:client" type="set" id="push-{iq_id}" to="{self.full}">'
                f'<query xmlns="jabber:iq:roster">{item.to_xml("jabber:iq:roster")}</query></iq>'
            )
            self.send(f'<iq xmlns="jabber:client" type="result" id="{iq_id}"/>')
        elif query is None and iq.get("type") in ("get", "set"):
            # Anything else (PEP, vCard, …): not here, as a server without it says.
            to = iq.get("to")
            sender = f' from="{to}"' if to else ""
            self.send(
                f'<iq xmlns="jabber:client" type="error" id="{iq_id}"{sender} to="{self.full}">'
                f'<error type="cancel"><service-unavailable xmlns="{STANZAS}"/></error></iq>'
            )

    def _pep(self, iq: Element, pubsub: Element) -> None:
        """A small PEP service (XEP-0163): publish, items, owner configure.
        Nodes by (owner bare JID, node); items by id, newest last."""
        if self.pep_silent:
            return
        iq_id = iq.get("id")
        own = f"{self.user}@{DOMAIN}"
        owner = (iq.get("to") or own).partition("/")[0]
        head = f'<iq xmlns="jabber:client" id="{iq_id}" to="{self.full}"' + (
            f' from="{iq.get("to")}"' if iq.get("to") else ""
        )
        publish = pubsub.find("publish", PUBSUB)
        fetch = pubsub.find("items", PUBSUB)
        if publish is not None and iq.get("type") == "set" and owner == own:
            item = publish.find("item", PUBSUB)
            node = publish.get("node") or ""
            if item is not None:
                self.pep.setdefault((own, node), {})[item.get("id") or "current"] = (
                    item.to_xml(PUBSUB)
                )
                self.pep_publishes.append(node)
            self.send(head + ' type="result"/>')
        elif fetch is not None and iq.get("type") == "get":
            items = self.pep.get((owner, fetch.get("node") or ""))
            if items is None:
                self.send(
                    head + ' type="error"><error type="cancel">'
                    f'<item-not-found xmlns="{STANZAS}"/></error></iq>'
                )
                return
            self.send(
                head + f' type="result"><pubsub xmlns="{PUBSUB}">'
                f'<items node="{fetch.get("node")}">{"".join(items.values())}</items>'
                "</pubsub></iq>"
            )
        else:
            self.send(head + ' type="result"/>')  # owner configure and the like

    def _peer(self, inner: str) -> str:
        """The other party of an archived 1:1 message (bare JID)."""
        message = parse_xml(inner)
        own = f"{self.user}@{DOMAIN}"
        sender = (message.get("from") or "").partition("/")[0]
        to = (message.get("to") or "").partition("/")[0]
        return to if sender == own else sender

    def answer_archive(self) -> None:
        """Answer the oldest deferred archive query (`defer_archive`)."""
        iq_id, query = self.deferred_archive.pop(0)
        defer, self.defer_archive = self.defer_archive, False
        try:
            self._archive_query(iq_id, query)
        finally:
            self.defer_archive = defer

    def _archive_query(self, iq_id: str, query: Element) -> None:
        from roost.xmpp.stamps import format_datetime

        if self.defer_archive:
            self.deferred_archive.append((iq_id, query))
            return

        if self.archive is None:
            self.send(
                f'<iq xmlns="jabber:client" type="error" id="{iq_id}"><error type="cancel">'
                f'<service-unavailable xmlns="{STANZAS}"/></error></iq>'
            )
            return
        with_jid = None
        start = None
        form = query.find("x", DATA_FORMS)
        if form is not None:
            for field in form.children:
                if field.get("var") == "with":
                    with_jid = field.find_text("value", DATA_FORMS)
                if field.get("var") == "start":
                    from roost.xmpp.stamps import parse_datetime

                    start = parse_datetime(field.find_text("value", DATA_FORMS) or "")
        rsm = query.find("set", RSM)
        assert rsm is not None
        limit = min(int(rsm.find_text("max", RSM) or "100"), self.archive_max)
        after, before = rsm.find("after", RSM), rsm.find("before", RSM)
        self.archive_queries.append((
            with_jid,
            None if after is None else after.text,
            None if before is None else before.text,
        ))
        ids = [a for a, _, _ in self.archive]
        for anchor in (after, before):
            if anchor is not None and anchor.text and anchor.text not in ids:
                self.send(
                    f'<iq xmlns="jabber:client" type="error" id="{iq_id}"><error type="cancel">'
                    f'<item-not-found xmlns="{STANZAS}"/></error></iq>'
                )
                return
        items = list(self.archive)
        if after is not None and after.text:
            items = items[ids.index(after.text) + 1 :]
        elif before is not None and before.text:
            items = items[: ids.index(before.text)]
        if with_jid is not None:
            items = [item for item in items if self._peer(item[2]) == with_jid]
        if start is not None:  # XEP-0313 start: from that time on
            items = [item for item in items if item[1] >= start]
        if before is not None and not (after is not None and after.text):
            page, complete = (items[-limit:] if limit else []), len(items) <= limit
        else:
            page, complete = items[:limit], len(items) <= limit
        total = len(self.archive) if with_jid is None else len(
            [item for item in self.archive if self._peer(item[2]) == with_jid]
        )
        qid = query.get("queryid")
        for archive_id, stamp, inner in page:
            self.send(
                f'<message xmlns="jabber:client" from="{self.user}@{DOMAIN}" to="{self.full}">'
                f'<result xmlns="{MAM}" queryid="{qid}" id="{archive_id}">'
                f'<forwarded xmlns="{FORWARD}">'
                f'<delay xmlns="urn:xmpp:delay" stamp="{format_datetime(stamp)}"/>{inner}'
                "</forwarded></result></message>"
            )
        first_last = f"<first>{page[0][0]}</first><last>{page[-1][0]}</last>" if page else ""
        self.send(
            f'<iq xmlns="jabber:client" type="result" id="{iq_id}">'
            f'<fin xmlns="{MAM}" complete="{"true" if complete else "false"}">'
            f'<set xmlns="{RSM}">{first_last}<count>{total}</count></set>'
            "</fin></iq>"
        )
        if self.after_archive_query is not None:
            self.after_archive_query(qid)

    def stanzas(self, name: str) -> list[Element]:
        return [e for e in self.received if e.name == name]


class FakePlatform:
    """The platform surface of docs/architecture.md, in memory."""

    def __init__(self, server: FakeServer | None, config: dict[str, object] | None = None) -> None:
        self.server = server
        if server is not None:
            server.clock = lambda: self.clock
        self.config: dict[str, object] = {
            "websocket_url": "ws://localhost:5280/xmpp-websocket",
            "default_domain": DOMAIN,
        }
        self.config.update(config or {})
        self.tasks: list[Callable[[], object]] = []
        self.timers: dict[int, tuple[float, Callable[[], object]]] = {}  # handle → (due, fn)
        self._timer_seq = 0
        self.connections: list[FakeConnection] = []
        self.connected_at: list[float] = []  # the clock at each connect()
        self.databases: dict[str, FakeStorage] = {}  # trusted, survive "reloads"
        self.omemo_databases: dict[str, FakeOmemoStorage] = {}
        self.storages: list[FakeStorage] = []
        self.clock = 1_700_000_000.0
        self.stashed: dict[str, object] = {}  # the tab's sessionStorage (survives reload())
        # The remembered login of a trusted device (IndexedDB `roost-login`):
        # survives reload(); `remember_log` records each call.
        self.remembered: dict[str, object] | None = None
        self.remember_log: list[dict[str, object] | None] = []
        self.pbkdf2_calls = 0
        self._random = 0

    def run(self, timers: bool = True) -> None:
        """Run queued tasks (and those they queue) until none are left; then the
        earliest timer due within RUN_HORIZON s (the clock moves to it), and so
        on. `timers=False` leaves the timers pending."""
        horizon = self.clock + RUN_HORIZON
        for _ in range(100_000):
            if self.tasks:
                self.tasks.pop(0)()
                continue
            if timers and self.timers:
                handle = min(self.timers, key=lambda h: (self.timers[h][0], h))
                due, fn = self.timers[handle]
                if due <= horizon:
                    del self.timers[handle]
                    self.clock = max(self.clock, due)
                    fn()
                    continue
            return
        raise AssertionError("tasks never settle")

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: every timer due by then fires at its time (the
        tasks it queues run at once), then the clock stands at the end."""
        end = self.clock + seconds
        self.run(timers=False)
        while True:
            due_now = [h for h, (due, _fn) in self.timers.items() if due <= end]
            if not due_now:
                break
            handle = min(due_now, key=lambda h: (self.timers[h][0], h))
            due, fn = self.timers.pop(handle)
            self.clock = max(self.clock, due)
            fn()
            self.run(timers=False)
        self.clock = end

    def reload(self) -> None:
        """The tab is reloaded: the page's tasks, timers and sockets are gone;
        what the storage already holds stays."""
        self.tasks.clear()
        self.timers.clear()
        for conn in self.connections:
            conn.vanish()
        for storage in self.databases.values():
            storage.lose_uncommitted()

    def connect(
        self,
        url: str,
        on_open: Callable[[], None],
        on_frame: Callable[[str], None],
        on_close: Callable[[NetworkError | None], None],
    ) -> FakeConnection:
        conn = FakeConnection(self, self.server, on_open, on_frame, on_close)
        self.connections.append(conn)
        self.connected_at.append(self.clock)
        return conn

    def parse(self, text: str) -> Element:
        return parse_xml(text)

    def pbkdf2(
        self,
        hash_name: str,
        password: bytes,
        salt: bytes,
        iterations: int,
        on_done: Callable[[bytes], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self.pbkdf2_calls += 1
        result = hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)
        self.tasks.append(lambda: on_done(result))

    def random_bytes(self, n: int) -> bytes:
        self._random += 1
        return hashlib.sha256(b"%d" % self._random).digest()[:n].ljust(n, b"\x00")

    def open_storage(self, account: str, trusted: bool) -> FakeStorage:
        if trusted:
            storage = self.databases.get(account)
            if storage is None or storage.destroyed:
                storage = self.databases[account] = FakeStorage(self, account, True)
        else:
            storage = FakeStorage(self, account, False)
        self.storages.append(storage)
        return storage

    def remember_login(self, record: dict[str, object] | None) -> None:
        self.remember_log.append(None if record is None else dict(record))
        self.remembered = None if record is None else dict(record)

    def call_later(self, seconds: float, fn: Callable[[], object]) -> int:
        self._timer_seq += 1
        self.timers[self._timer_seq] = (self.clock + seconds, fn)
        return self._timer_seq

    def cancel(self, handle: object) -> None:
        self.timers.pop(handle, None)  # type: ignore[call-overload]

    def now(self) -> float:
        return self.clock

    def stash(self, key: str, value: object = None) -> None:
        if value is None:
            self.stashed.pop(key, None)
        else:
            self.stashed[key] = copy.deepcopy(value)

    def unstash(self, key: str) -> object:
        return copy.deepcopy(self.stashed.get(key))

    # -- OMEMO (app/omemo.py): real crypto (`cryptography`), memory storage --------
    def omemo_crypto(self) -> object:
        from tests.support.omemo_crypto import CPythonCrypto

        return CPythonCrypto()

    def open_omemo_storage(self, account: str) -> FakeOmemoStorage:
        storage = self.omemo_databases.get(account)
        if storage is None:
            storage = self.omemo_databases[account] = FakeOmemoStorage(self)
        return storage

    def run_async(
        self,
        coro: object,
        on_done: Callable[[object], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Run the coroutine to its end as one task: `CPythonCrypto` never waits
        on anything, so one step finishes it (no event loop: Playwright keeps
        one marked running on this thread when browser tests ran before)."""

        def task() -> None:
            try:
                coro.send(None)  # type: ignore[attr-defined]
            except StopIteration as stop:
                on_done(stop.value)
                return
            except Exception as exc:
                on_error(exc)
                return
            coro.close()  # type: ignore[attr-defined]
            on_error(RuntimeError("an OMEMO job waited on something: not in these tests"))

        self.tasks.append(task)


class FakeOmemoStorage:
    """`OmemoStorage` in memory; survives a `reload()` (it stands for IndexedDB).
    Private keys stay `cryptography` objects (IndexedDB keeps CryptoKeys alike)."""

    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform
        self.records: dict[str, object] = {}
        self.writes = 0

    def load(
        self, cb: Callable[[dict[str, object]], None], on_error: Callable[[str], None]
    ) -> None:
        snapshot = dict(self.records)
        self.platform.tasks.append(lambda: cb(snapshot))

    def write(
        self,
        puts: dict[str, object],
        deletes: list[str],
        cb: Callable[[bool], None] | None = None,
    ) -> None:
        self.writes += 1
        self.records.update(puts)
        for key in deletes:
            self.records.pop(key, None)
        if cb is not None:
            self.platform.tasks.append(lambda: cb(True))

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        self.records.clear()
        if cb is not None:
            self.platform.tasks.append(cb)


# -- helpers shared by the ChatApp tests ------------------------------------------

ROSTER = {
    "alice": [
        '<item jid="bob@example.org" name="Bob" subscription="both"/>',
        '<item jid="carol@example.org" subscription="to"/>',
    ]
}
USERS = {"alice": "s3cret", "bob": "b0b"}
BOB = "bob@example.org"
CAROL = "carol@example.org"
ALICE = "alice@example.org"


class Recorder:
    """Subscribes to every app event and keeps them in order."""

    NAMES = (
        "state",
        "roster",
        "contact",
        "messages",
        "message",
        "request",
        "notice",
        "loaded",
        "history",
        "gap",
        "sync",
        "typing",
        "rooms",
        "room",
        "directory",
        "invites",
        "room_settings",
        "room_create",
        "room_members",
        "room_invite_sent",
    )

    def __init__(self, app: ChatApp) -> None:
        self.events: list[tuple[object, ...]] = []
        for name in self.NAMES:
            app.on(name, lambda *args, name=name: self.events.append((name, *args)))

    def named(self, name: str) -> list[tuple[object, ...]]:
        return [e[1:] for e in self.events if e[0] == name]

    def states(self) -> list[tuple[object, ...]]:
        return self.named("state")


def setup(
    sm: bool = False, csi: bool = False, **config: object
) -> tuple[FakeServer, FakePlatform, ChatApp, Recorder]:
    server = FakeServer(dict(USERS), ROSTER, sm=sm, csi=csi)
    platform = FakePlatform(server, config)
    app = ChatApp(platform)
    return server, platform, app, Recorder(app)


def logged_in(
    trusted: bool = False, sm: bool = False, csi: bool = False
) -> tuple[FakeServer, FakePlatform, ChatApp, Recorder]:
    server, platform, app, rec = setup(sm=sm, csi=csi)
    app.login("alice", "s3cret", trusted)
    platform.run()
    assert app.state == "online", rec.events
    return server, platform, app, rec


def bodies(app: ChatApp, bare: str) -> list[str]:
    return [m.body for m in app.messages(bare)]


def is_ping_timer(fn: Callable[[], object]) -> bool:
    """The app's XEP-0199 liveness timer (always armed while online)."""
    return getattr(fn, "__name__", "") == "_check_alive"


def other_timers(platform: FakePlatform) -> list[float]:
    """Delays of the pending timers, but the liveness one."""
    return sorted(
        due - platform.clock for due, fn in platform.timers.values() if not is_ping_timer(fn)
    )


def fire_next_timer(platform: FakePlatform) -> float:
    """Move the clock to the earliest timer, run it and what it queues; its delay."""
    handle = min(platform.timers, key=lambda h: (platform.timers[h][0], h))
    due, fn = platform.timers.pop(handle)
    delay = due - platform.clock
    platform.clock = max(platform.clock, due)
    fn()
    platform.run(timers=False)
    return delay
