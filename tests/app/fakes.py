"""An in-memory platform and a scripted XMPP server for ChatApp tests.

Nothing here stands in for the code under test: the app, the XmppClient and
the SCRAM exchange are the real ones. The server speaks real RFC 7395 frames
and checks the SCRAM proof with CPython's hmac (tests/xmpp/support.py).
Network, storage and PBKDF2 completions are queued as tasks and run by
`FakePlatform.run()`, as an event loop would; `call_later` timers fire, in
order of their due time, once no task is left (without moving the clock).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from roost.xmpp.element import Element
from roost.xmpp.errors import NetworkError
from roost.xmpp.xmlparse import parse_xml

from tests.xmpp.support import ScramServer, b64, features, mechanisms

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
SM = "urn:xmpp:sm:3"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
CARBONS = "urn:xmpp:carbons:2"
DOMAIN = "example.org"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FORWARD = "urn:xmpp:forward:0"


class FakeStorage:
    """Same surface as the platform's storage; callbacks run as tasks."""

    def __init__(self, platform: FakePlatform, account: str, trusted: bool) -> None:
        self.platform = platform
        self.account = account
        self.trusted = trusted
        self.data: dict[str, dict[object, object]] = {"roster": {}, "messages": {}, "meta": {}}
        self.destroyed = False

    def _later(self, cb: Callable[..., None] | None, *args: object) -> None:
        if cb is not None:
            self.platform.tasks.append(lambda: cb(*args))

    def get(self, store: str, key: object, cb: Callable[[object], None]) -> None:
        self._later(cb, self.data[store].get(key))

    def put(
        self, store: str, key: object, value: object, cb: Callable[[], None] | None = None
    ) -> None:
        self.data[store][key] = value
        self._later(cb)

    def all(self, store: str, cb: Callable[[dict[object, object]], None]) -> None:
        self._later(cb, dict(self.data[store]))

    def delete(self, store: str, key: object, cb: Callable[[], None] | None = None) -> None:
        self.data[store].pop(key, None)
        self._later(cb)

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        for data in self.data.values():
            data.clear()
        self.destroyed = True
        self._later(cb)


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
        self.closed = False
        if server is None:  # nothing listening
            platform.tasks.append(lambda: self._finish(NetworkError(False, "refused")))
        else:
            server.attach(self)
            platform.tasks.append(on_open)

    def send(self, text: str) -> None:
        assert not self.closed, "send after close"
        self.sent.append(text)
        assert self.server is not None
        self.server.handle(parse_xml(text))

    def close(self) -> None:
        if not self.closed:
            self.platform.tasks.append(lambda: self._finish(None))
        self.closed = True

    def deliver(self, frame: str) -> None:
        """The server sends `frame` (arrives when tasks run)."""
        self.platform.tasks.append(lambda: None if self.closed else self.on_frame(frame))

    def drop(self) -> None:
        """The network dies."""
        self.closed = True
        self.platform.tasks.append(lambda: self._finish(NetworkError(True, "reset")))

    def _finish(self, error: NetworkError | None) -> None:
        self.closed = True
        self.on_close(error)


class FakeServer:
    """Just enough of an XMPP server: SCRAM-SHA-256, bind, roster, presence, messages,
    disco#info of the domain (with carbons), carbons enable, XEP-0198 acks
    when made with `sm=True` (`<r/>` is answered with the count of stanzas
    received since `<enable/>`), and a XEP-0313 archive of the user: `archive`
    is a list of `(archive id, stamp, inner message xml)`, oldest first,
    paged with RSM after/before/max (`archive_max` at most per page);
    `archive=None` answers queries with `service-unavailable`."""

    def __init__(
        self,
        users: dict[str, str],
        rosters: dict[str, list[str]] | None = None,
        sm: bool = False,
        features: tuple[str, ...] = (CARBONS,),
    ) -> None:
        self.users = users
        self.rosters = rosters or {}
        self.sm = sm
        self.features = features
        self.archive: list[tuple[str, float, str]] | None = []
        self.archive_max = 100
        self.sm_count: int | None = None  # stanzas handled since <enable/>
        self.carbons = False
        # Frames the server sends right after the client's initial presence.
        self.presences: list[str] = []
        self.received: list[Element] = []  # every stanza from the client
        self.connection: FakeConnection | None = None
        self.connections = 0
        self.user = ""
        self.full = ""
        self._scram: ScramServer | None = None
        self._authed = False

    def attach(self, connection: FakeConnection) -> None:
        """A new WebSocket: a new, unauthenticated stream."""
        self.connection = connection
        self.connections += 1
        self._authed = False
        self._scram = None
        self.sm_count = None
        self.carbons = False

    def send(self, frame: str) -> None:
        assert self.connection is not None
        self.connection.deliver(frame)

    def handle(self, element: Element) -> None:
        if element.ns == FRAMING:
            if element.name == "open":
                assert element.get("to") == DOMAIN
                self.send(f'<open xmlns="{FRAMING}" from="{DOMAIN}" id="x" version="1.0"/>')
                if self._authed:
                    offered = ['<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>']
                    if self.sm:
                        offered.append(f'<sm xmlns="{SM}"/>')
                    self.send(features(*offered))
                else:
                    self.send(features(mechanisms("SCRAM-SHA-1", "SCRAM-SHA-256")))
            elif element.name == "close":
                self.send(f'<close xmlns="{FRAMING}"/>')
            return
        if element.ns == SASL:
            self._sasl(element)
            return
        if element.ns == SM:
            if element.name == "enable":
                self.sm_count = 0
                self.send(f'<enabled xmlns="{SM}"/>')
            elif element.name == "r" and self.sm_count is not None:
                self.send(f'<a xmlns="{SM}" h="{self.sm_count}"/>')
            return
        if self.sm_count is not None:
            self.sm_count += 1
        self.received.append(element)
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
            self.full = f"{self.user}@{DOMAIN}/{bind.find_text('resource')}"
            self.send(
                f'<iq xmlns="jabber:client" type="result" id="{iq_id}">'
                f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{self.full}</jid></bind></iq>'
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

    def _archive_query(self, iq_id: str, query: Element) -> None:
        from roost.xmpp.stamps import format_datetime

        if self.archive is None:
            self.send(
                f'<iq xmlns="jabber:client" type="error" id="{iq_id}"><error type="cancel">'
                '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
            )
            return
        rsm = query.find("set", RSM)
        assert rsm is not None
        limit = min(int(rsm.find_text("max", RSM) or "100"), self.archive_max)
        after, before = rsm.find("after", RSM), rsm.find("before", RSM)
        ids = [a for a, _, _ in self.archive]
        items = self.archive
        for anchor in (after, before):
            if anchor is not None and anchor.text and anchor.text not in ids:
                self.send(
                    f'<iq xmlns="jabber:client" type="error" id="{iq_id}"><error type="cancel">'
                    '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
                )
                return
        if after is not None and after.text:
            items = items[ids.index(after.text) + 1 :]
            page, complete = items[:limit], len(items) <= limit
        elif before is not None:
            if before.text:
                items = items[: ids.index(before.text)]
            page, complete = items[-limit:] if limit else [], len(items) <= limit
        else:
            page, complete = items[:limit], len(items) <= limit
        qid = query.get("queryid")
        for archive_id, stamp, inner in page:
            self.send(
                f'<message xmlns="jabber:client" from="{self.user}@{DOMAIN}" to="{self.full}">'
                f'<result xmlns="{MAM}" queryid="{qid}" id="{archive_id}">'
                f'<forwarded xmlns="{FORWARD}">'
                f'<delay xmlns="urn:xmpp:delay" stamp="{format_datetime(stamp)}"/>{inner}'
                "</forwarded></result></message>"
            )
        first_last = (
            f"<first>{page[0][0]}</first><last>{page[-1][0]}</last>" if page else ""
        )
        self.send(
            f'<iq xmlns="jabber:client" type="result" id="{iq_id}">'
            f'<fin xmlns="{MAM}" complete="{"true" if complete else "false"}">'
            f'<set xmlns="{RSM}">{first_last}<count>{len(self.archive)}</count></set>'
            "</fin></iq>"
        )

    def stanzas(self, name: str) -> list[Element]:
        return [e for e in self.received if e.name == name]


class FakePlatform:
    """The platform surface of docs/architecture.md, in memory."""

    def __init__(self, server: FakeServer | None, config: dict[str, object] | None = None) -> None:
        self.server = server
        self.config: dict[str, object] = {
            "websocket_url": "ws://localhost:5280/xmpp-websocket",
            "default_domain": DOMAIN,
        }
        self.config.update(config or {})
        self.tasks: list[Callable[[], object]] = []
        self.timers: dict[int, tuple[float, Callable[[], object]]] = {}  # handle → (due, fn)
        self._timer_seq = 0
        self.connections: list[FakeConnection] = []
        self.databases: dict[str, FakeStorage] = {}  # trusted, survive "reloads"
        self.storages: list[FakeStorage] = []
        self.clock = 1_700_000_000.0
        self.pbkdf2_calls = 0
        self._random = 0

    def run(self, timers: bool = True) -> None:
        """Run queued tasks (and those they queue) until none are left; then the
        earliest timer, and so on. `timers=False` leaves the timers pending."""
        for _ in range(10_000):
            if self.tasks:
                self.tasks.pop(0)()
            elif timers and self.timers:
                handle = min(self.timers, key=lambda h: (self.timers[h][0], h))
                self.timers.pop(handle)[1]()
            else:
                return
        raise AssertionError("tasks never settle")

    def connect(
        self,
        url: str,
        on_open: Callable[[], None],
        on_frame: Callable[[str], None],
        on_close: Callable[[NetworkError | None], None],
    ) -> FakeConnection:
        conn = FakeConnection(self, self.server, on_open, on_frame, on_close)
        self.connections.append(conn)
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
            storage = self.databases.setdefault(account, FakeStorage(self, account, True))
            storage.destroyed = False
        else:
            storage = FakeStorage(self, account, False)
        self.storages.append(storage)
        return storage

    def call_later(self, seconds: float, fn: Callable[[], object]) -> int:
        self._timer_seq += 1
        self.timers[self._timer_seq] = (self.clock + seconds, fn)
        return self._timer_seq

    def cancel(self, handle: object) -> None:
        self.timers.pop(handle, None)  # type: ignore[call-overload]

    def now(self) -> float:
        return self.clock
