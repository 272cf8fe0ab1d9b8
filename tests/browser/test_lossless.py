"""Issue 3's acceptance tests: messages are never lost or duplicated.

Real Prosody, real `roost serve`, real Chromium, slixmpp peers; the browser's
XMPP connection goes through a chaos proxy (tests/support/chaos.py) that the
tests cut at random points. Each failure says what was missing or doubled,
with ids, and how the run went (seed, drops, restarts, reloads).

The random schedule is seeded: LOSSLESS_SEED=<n> repeats a run;
LOSSLESS_DEBUG=1 makes Prosody log every stanza. A failure names the logs and
a transcript of the browser's XMPP connections (the chaos proxy's).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import roost_page as rp
from tests.support.roost_page import Row
from tests.support.threaded_peer import Seen, ThreadedPeer

ALICE = "alice@localhost"
BOB = "bob@localhost"
N = 1000  # messages each way in the chaos exchanges
# Prosody keeps a dropped session for resumption this long (XEP-0198): longer
# than any outage here (a backend restart, a reload and a login).
HIBERNATION = 60


def _seed() -> int:
    return int(os.environ.get("LOSSLESS_SEED") or random.SystemRandom().randrange(10**6))


def a_body(i: int) -> str:
    return f"a2b {i:04d}"


def b_body(i: int) -> str:
    return f"b2a {i:04d}"


class Exchange:
    """alice (the browser) and bob (slixmpp) write N messages each way in
    chunks, while `run()` breaks the browser's connection between chunks."""

    def __init__(self, srv: Any, page: Any, bob: ThreadedPeer, seed: int) -> None:
        self.srv = srv
        self.page = page
        self.bob = bob
        self.rng = random.Random(seed)
        self.seed = seed
        self.a_sent = 0  # browser messages the composer took
        self.b_sent = 0
        self.drops = 0  # effective: a live connection was cut
        self.restarts = 0
        self.reloads = 0
        self.backs: list[float] = []  # seconds from each break until the app was back
        self.started = time.monotonic()
        self.settle = 0.0  # seconds spent waiting for the last messages
        self.spent: dict[str, float] = {}  # seconds by phase, for the report

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.spent[phase] = self.spent.get(phase, 0.0) + time.monotonic() - t0

    def _pause(self, ms: float) -> None:
        with self._timed("random pauses"):
            self.page.wait_for_timeout(ms)

    # -- sending -------------------------------------------------------------
    def browser_send(self, k: int) -> None:
        texts = [a_body(i) for i in range(self.a_sent, min(N, self.a_sent + k))]
        with self._timed("composer"):
            self.a_sent += rp.send_texts(self.page, texts)

    def bob_send(self, k: int) -> None:
        end = min(N, self.b_sent + k)
        self.bob.send_batch(ALICE, [(f"bob-{self.seed}-{i:04d}", b_body(i))
                                    for i in range(self.b_sent, end)])
        self.b_sent = end

    # -- breaking --------------------------------------------------------------
    def _wait_back(self, mid_handshake: bool, record: bool = True) -> None:
        """Until the app is online again (or, mid_handshake: has a TCP
        connection through the proxy), bounded; `record`: count the wait in
        the report (the time the app took to come back after a break)."""
        t0 = time.monotonic()
        chaos = self.srv.chaos
        with self._timed("app coming back"):
            if mid_handshake:
                ok = rp.poll(lambda: chaos.connections > 0, 45, 20, self.page)
            else:
                ok = rp.wait_state(self.page, "online", 45)
        if record:
            self.backs.append(time.monotonic() - t0)
        assert ok, (f"the app did not come back within 45 s after a break "
                    f"(state {rp.app_state(self.page)!r}, proxy connections "
                    f"{chaos.connections}); {self.summary()}")

    def drop(self, mid_handshake: bool) -> None:
        """Cut the browser's XMPP connection (retried until one was live)."""
        while True:
            self._wait_back(mid_handshake, record=False)
            if self.srv.chaos.drop_all() > 0:
                self.drops += 1
                return

    def restart(self) -> None:
        """Restart `roost serve` (the WebSocket and its XMPP connection go)."""
        with self._timed("backend restarts"):
            self.srv.roost.restart()
        self.restarts += 1

    def reload(self) -> None:
        """Reload the page, log in again (trusted; the password is never
        stored) and open the chat."""
        with self._timed("reloads and logins"):
            self.page.reload()
            self.reloads += 1
            rp.login(self.page, None, ALICE, "alice", trusted=True)
            rp.wait_main(self.page, 30_000)
            rp.open_chat(self.page, "Bob")

    def run(self, events: list[str]) -> None:
        """Per event: wait until the app is back (online; sometimes only a
        TCP connection, so the break lands in the login/resumption), pause at
        random, write a chunk each way, pause at random (0-250 ms: messages
        in flight), break. A quarter of the chunks is written just after the
        break instead (the outbox path)."""
        chunk = -(-N // len(events))
        rng = self.rng
        for event in events:
            mid_handshake = event == "drop" and rng.random() < 0.15
            if event != "reload":
                self._wait_back(mid_handshake)
            self._pause(rng.uniform(0, 50 if mid_handshake else 150))
            after = rng.random() < 0.25
            if not after:
                self.browser_send(chunk)
                self.bob_send(chunk)
                self._pause(rng.uniform(0, 250))
            if event == "drop":
                self.drop(mid_handshake)
            elif event == "restart":
                self.restart()
            elif event == "reload":
                self.reload()
            if after:
                self.browser_send(chunk)
                self.bob_send(chunk)
        self.finish()

    def finish(self, timeout: float = 60) -> None:
        """Send what is left, then wait until both sides hold everything (or
        nothing more comes for 20 s)."""
        assert rp.wait_state(self.page, "online", 45), (
            f"not online at the end (state {rp.app_state(self.page)!r}); {self.summary()}")

        def all_taken() -> bool:
            self.browser_send(N)
            return self.a_sent == N

        assert rp.poll(all_taken, 30, 200, self.page), (
            f"the composer took only {self.a_sent} of {N} messages; {self.summary()}")
        self.bob_send(N)
        t0 = time.monotonic()
        deadline = t0 + timeout
        last, since = (-1, -1), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < 20:
            now = (self.browser_count(), self.bob_count())
            if now == (N, N):
                break
            if now != last:
                last, since = now, time.monotonic()
            self.page.wait_for_timeout(250)
        self.settle = time.monotonic() - t0
        self.page.wait_for_timeout(1000)  # a late second copy would show by now

    # -- reading ---------------------------------------------------------------
    def browser_rows(self) -> tuple[str, list[Row]]:
        return rp.read_conversation(self.page, BOB, ALICE)

    def browser_count(self) -> int:
        rows = self.browser_rows()[1]
        return len({r.body for r in rows if not r.outgoing and r.body.startswith("b2a ")})

    def bob_count(self) -> int:
        return len({m.body for m in self.bob.conversation(ALICE)
                    if m.sender == ALICE and m.body.startswith("a2b ")})

    def summary(self) -> str:
        backs = sorted(self.backs) or [0.0]
        spent = {k: round(v, 1) for k, v in self.spent.items()}
        return (f"seed {self.seed}, {time.monotonic() - self.started:.0f} s "
                f"(the last messages took {self.settle:.1f} s), "
                f"{self.drops} drops, {self.restarts} backend restarts, "
                f"{self.reloads} reloads, sent a→b {self.a_sent}, b→a {self.b_sent}, "
                f"back after a break in {sum(backs) / len(backs):.2f} s on average "
                f"(max {backs[-1]:.1f} s), time spent {spent}, "
                f"proxy accepted {self.srv.chaos.accepted}, {_sm_report(self.srv.chaos)}")

    def check(self) -> None:
        source, rows = self.browser_rows()
        problems = []
        note = {
            "hook": "",
            "indexeddb": " [read from the trusted device's message store in IndexedDB]",
            "dom": " [read from the DOM: the page keeps a window of rows; "
                   "the app needs window.RoostDebug.messages(bare)]",
        }[source]
        incoming = [(r.body, r.id) for r in rows if not r.outgoing]
        outgoing = [(r.body, r.id) for r in rows if r.outgoing]
        by_body = {r.body: r for r in rows}
        problems += rp.sequence_problems("browser, bob→alice" + note, incoming,
                                         [b_body(i) for i in range(N)], by_body.__getitem__)
        problems += rp.sequence_problems("browser, alice→bob" + note, outgoing,
                                         [a_body(i) for i in range(N)], by_body.__getitem__)
        at_bob = [m for m in self.bob.conversation(ALICE) if m.sender == ALICE]
        bob_by_body = {m.body: m for m in at_bob}
        problems += rp.sequence_problems("bob, alice→bob", [(m.body, m.id) for m in at_bob],
                                         [a_body(i) for i in range(N)], bob_by_body.__getitem__)
        states = dict(_count(r.state for r in rows if r.outgoing))
        raw = self.bob.duplicates(ALICE)
        info = (f"{self.summary()}; browser rows from {source}: {len(rows)}, "
                f"own message states {states}; raw copies bob's client dropped as "
                f"duplicates: {len(raw)}{_dups(raw)}")
        print(info)
        assert not problems, "\n".join([*problems, info])


def _sm_report(chaos: Any) -> str:
    """How the browser's connections went (XEP-0198): a session that was
    resumed, then cut, should be resumed again; a fresh one instead leaves it
    hibernating, collecting messages that then come only from the archive."""
    outcomes = chaos.sm_outcomes()
    counts = ", ".join(f"{k} {v}" for k, v in _count(outcomes))
    after = sum(1 for a, b in itertools.pairwise(outcomes) if a == "resumed" and b == "fresh")
    return f"sessions: {counts} (fresh right after a resumed one: {after})"


def rows_of(page: Any) -> list[Row]:
    """alice's conversation with bob on that page (see roost_page.read_conversation)."""
    return rp.read_conversation(page, BOB, ALICE)[1]


def _count(items: Any) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return sorted(out.items())


def _dups(pairs: list[tuple[Seen, Seen]]) -> str:
    if not pairs:
        return ""
    return " e.g. " + "; ".join(f"{d.body} (id {d.id}, via {d.via})" for d, _ in pairs[:5])


@contextlib.contextmanager
def evidence(srv: Any) -> Iterator[None]:
    """An AssertionError inside says where the logs and the wire transcript are."""
    try:
        yield
    except AssertionError as exc:
        exc.args = (f"{exc.args[0] if exc.args else ''}\n{srv.evidence()}", *exc.args[1:])
        raise


def _chaos_start(private: Any, new_page: Any) -> tuple[Any, Any, ThreadedPeer]:
    level = "debug" if os.environ.get("LOSSLESS_DEBUG") else "info"
    srv = private(chaos=True, smacks_hibernation_time=HIBERNATION, log_level=level)
    bob = srv.peer("bob", "pc", stream_management=True)
    page = new_page()
    rp.login(page, srv.roost.url, ALICE, "alice", trusted=True)
    rp.wait_main(page)
    rp.open_chat(page, "Bob")
    assert rp.wait_state(page, "online", 20), rp.app_state(page)
    return srv, page, bob


@pytest.mark.timeout(420)
def test_chaos_1000_each_way_100_drops(private: Any, new_page: Any) -> None:
    """1,000 messages each way while the connection is cut 100 times at random
    points (95 proxy drops, 5 backend restarts): both sides end up with exactly
    the 1,000 messages each way, in order, none twice."""
    seed = _seed()
    srv, page, bob = _chaos_start(private, new_page)
    rng = random.Random(seed + 1)
    events = ["drop"] * 95 + ["restart"] * 5
    rng.shuffle(events)
    ex = Exchange(srv, page, bob, seed)
    with evidence(srv):
        ex.run(events)
        ex.check()


@pytest.mark.timeout(300)
def test_chaos_with_5_page_reloads(private: Any, new_page: Any) -> None:
    """The same exchange with 5 page reloads (and 15 proxy drops) in between: a
    trusted device keeps its outbox and its session across a reload."""
    seed = _seed()
    srv, page, bob = _chaos_start(private, new_page)
    rng = random.Random(seed + 2)
    events = ["reload"] * 5 + ["drop"] * 15
    rng.shuffle(events)
    ex = Exchange(srv, page, bob, seed)
    with evidence(srv):
        ex.run(events)
        ex.check()


def test_offline_catch_up_300(private: Any, new_page: Any) -> None:
    """bob writes 300 messages while alice is logged out; at her next login
    (same trusted device) all 300 are there once, in order, and "Catching up…"
    was shown meanwhile."""
    srv = private()
    page = new_page()
    page.add_init_script(rp.SYNC_WATCH_JS)
    bob = srv.peer("bob", "pc")
    rp.login(page, srv.roost.url, ALICE, "alice", trusted=True)
    rp.wait_main(page)
    rp.open_chat(page, "Bob")
    # One message while logged in: the device has seen the archive up to here.
    bob.send_batch(ALICE, [("hello-0", "hello before")])
    assert rp.poll(lambda: any(r.body == "hello before"
                               for r in rows_of(page)), 20, 100, page)
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for(state="visible", timeout=rp.TIMEOUT_MS)

    wanted = [f"while away {i:03d}" for i in range(300)]
    bob.send_batch(ALICE, [(f"away-{i:03d}", b) for i, b in enumerate(wanted)])
    bob.sync()  # all 300 stored (offline + archive) before alice comes back

    t0 = time.monotonic()
    rp.login(page, srv.roost.url, ALICE, "alice", trusted=True)
    rp.wait_main(page)
    rp.open_chat(page, "Bob")

    def arrived() -> int:
        return len({r.body for r in rows_of(page) if r.body in wanted})

    rp.poll(lambda: arrived() == 300, 45, 250, page)
    page.locator("#sync-state").wait_for(state="hidden", timeout=30_000)
    page.wait_for_timeout(500)  # a late second copy would show by now
    source, rows = rp.read_conversation(page, BOB, ALICE)
    got = [(r.body, r.id) for r in rows if not r.outgoing and r.body in set(wanted)]
    problems = rp.sequence_problems(f"browser ({source}), after login", got, wanted)
    seen = page.evaluate("window.__roostSyncSeen")
    if not any("Catching up" in t for t in seen):
        problems.append(f"#sync-state never showed 'Catching up…' (saw {seen})")
    assert not problems, "\n".join(
        [*problems, f"{len(rows)} rows, {time.monotonic() - t0:.1f} s after login"])
    assert page.errors.errors == []


def test_three_devices_see_every_message_once(private: Any, new_page: Any) -> None:
    """Two browsers logged in as alice, alice's slixmpp client with carbons (like
    Conversations) and bob: every message — bob→alice, each browser→bob,
    slixmpp→bob — shows on every one of alice's devices once, in order."""
    srv = private()
    p1, p2 = new_page(), new_page()
    for p in (p1, p2):
        rp.login(p, srv.roost.url, ALICE, "alice", trusted=True)
    for p in (p1, p2):
        rp.wait_main(p)
        rp.open_chat(p, "Bob")
    phone = srv.peer("alice", "phone", carbons=True)
    bob = srv.peer("bob", "pc")
    # Carbons on in both browsers: the phone's message shows as theirs.
    phone.send_batch(BOB, [("warm-up", "warm-up")])
    for name, p in (("browser 1", p1), ("browser 2", p2)):
        def warm(p: Any = p) -> bool:
            return any(r.body == "warm-up" and r.outgoing for r in rows_of(p))

        assert rp.poll(warm, 20, 100, p), f"{name} never showed the phone's sent message: carbons?"

    rounds, k = 4, 5
    sources = ["bob", "browser1", "browser2", "phone"]
    expected = {s: [f"{s} {i:02d}" for i in range(rounds * k)] for s in sources}
    for r in range(rounds):
        part = slice(r * k, (r + 1) * k)
        bob.send_batch(ALICE, [(f"bob-{i}", b) for i, b in enumerate(expected["bob"][part],
                                                                     r * k)])
        for name, p in (("browser1", p1), ("browser2", p2)):
            taken = rp.send_texts(p, expected[name][part])
            assert taken == k, f"{name} took {taken} of {k} messages: {rp.describe(p)}"
        phone.send_batch(BOB, [(f"phone-{i}", b)
                               for i, b in enumerate(expected["phone"][part], r * k)])
    every = {b for bodies in expected.values() for b in bodies}

    def browser_view(p: Any) -> list[tuple[str, str, bool]]:
        return [(r.body, r.id, r.outgoing) for r in rows_of(p)]

    def phone_view() -> list[tuple[str, str, bool]]:
        return [(m.body, m.id, m.sender == ALICE) for m in phone.conversation(BOB)]

    views = {"browser 1": lambda: browser_view(p1), "browser 2": lambda: browser_view(p2),
             "alice's slixmpp client": phone_view}
    rp.poll(lambda: all(every <= {b for b, _, _ in v()} for v in views.values()), 30, 250, p1)
    p1.wait_for_timeout(500)
    problems = []
    for device, view in views.items():
        got = view()
        for s in sources:
            outgoing = s != "bob"
            mine = [(b, i) for b, i, out in got if b in set(expected[s])]
            wrong_side = [b for b, _, out in got if b in set(expected[s]) and out != outgoing]
            problems += rp.sequence_problems(f"{device}, {s}'s messages", mine, expected[s])
            if wrong_side:
                problems.append(f"{device}: {s}'s messages shown on the wrong side: "
                                f"{wrong_side[:5]}")
    at_bob = [(m.body, m.id) for m in bob.conversation(ALICE) if m.sender == ALICE]
    for s in sources[1:]:
        problems += rp.sequence_problems(f"bob, {s}'s messages",
                                         [x for x in at_bob if x[0] in set(expected[s])],
                                         expected[s])
    assert not problems, "\n".join(problems)
    assert p1.errors.errors == [] and p2.errors.errors == []


def test_forged_archive_result_and_roster_push_are_rejected(
    private: Any, new_page: Any
) -> None:
    """A stranger sends alice's browser a MAM <result/> (with the query id of
    her catch-up in flight, and with a made-up one) and a roster push: nothing
    of it shows."""
    srv = private(chaos=True)
    chaos = srv.chaos
    stranger = srv.peer("stranger", "x")
    page = new_page()
    # Hold alice's archive query in the proxy: her query is open while the
    # forgeries arrive, so only the sender check can refuse them.
    chaos.hold_upstream(b"queryid=")
    rp.login(page, srv.roost.url, ALICE, "alice", trusted=False)
    rp.wait_main(page)
    held = chaos.wait_held(20).decode("utf-8", "replace")
    qid = re.search(r"queryid=['\"]([^'\"]+)", held)
    assert qid is not None, held
    bound = re.findall(r"<jid>([^<]+)</jid>", chaos.recorded("down").decode("utf-8", "replace"))
    assert bound and bound[-1].startswith(ALICE + "/"), bound
    full = bound[-1]

    def result(queryid: str, n: int) -> str:
        return (
            f'<message xmlns="jabber:client" to="{full}" id="forged-{n}">'
            f'<result xmlns="urn:xmpp:mam:2" queryid="{queryid}" id="forged-archive-{n}">'
            '<forwarded xmlns="urn:xmpp:forward:0">'
            '<delay xmlns="urn:xmpp:delay" stamp="2024-01-01T00:00:00Z"/>'
            f'<message xmlns="jabber:client" from="{BOB}/pc" to="{ALICE}" type="chat" '
            f'id="forged-inner-{n}"><body>FORGED ARCHIVE {n}</body></message>'
            "</forwarded></result></message>"
        )

    stranger.send_raw(result(qid.group(1), 1))
    stranger.send_raw(result("made-up-query", 2))
    stranger.send_raw(
        f'<iq xmlns="jabber:client" type="set" id="forged-push" to="{full}">'
        '<query xmlns="jabber:iq:roster"><item jid="mallory@localhost" '
        'name="FORGED ROSTER" subscription="both"/></query></iq>'
    )
    stranger.sync()
    signs = (b"FORGED ARCHIVE 1", b"FORGED ARCHIVE 2", b"forged-push")
    assert rp.poll(lambda: all(s in chaos.recorded("down") for s in signs), 10, 50), (
        "the forgeries never reached alice's connection: nothing was tested")
    # Let the catch-up go on (live messages wait for it, up to HOLD_MAX), then
    # an ordinary message on the same route: once it shows, the forgeries
    # were handled.
    chaos.release()
    stranger.send_batch(ALICE, [("after-1", "after the forgeries")])
    contacts = page.get_by_role("list", name="Contacts")
    assert rp.poll(lambda: "after the forgeries" in contacts.inner_text(), 20, 100, page), (
        "the stranger's ordinary message never showed")
    chaos.release()
    page.locator("#sync-state").wait_for(state="hidden", timeout=20_000)
    page.wait_for_timeout(300)
    text = page.locator("body").inner_text()
    assert "FORGED" not in text and "mallory" not in text, text
    rp.open_chat(page, "Bob")
    source, rows = rp.read_conversation(page, BOB, ALICE)
    assert [r for r in rows if "FORGED" in r.body] == [], source
    assert page.errors.errors == []


def test_outbox_while_browser_offline(private: Any, new_page: Any) -> None:
    """context.set_offline(True), 5 messages, set_offline(False): each reaches
    bob exactly once, in order."""
    srv = private()
    bob = srv.peer("bob", "pc", accept_delayed=True)
    page = new_page()
    rp.login(page, srv.roost.url, ALICE, "alice", trusted=True)
    rp.wait_main(page)
    rp.open_chat(page, "Bob")
    assert rp.wait_state(page, "online", 20)
    wanted = [f"written offline {i}" for i in range(5)]
    page.context.set_offline(True)
    box = page.get_by_role("textbox", name="Message")
    for text in wanted:
        box.fill(text)
        box.press("Enter")
    state_offline = rp.app_state(page)
    # The browser's offline event made the app drop the (still open) loopback
    # socket: the messages went into the outbox, not onto a dead connection.
    assert state_offline == "reconnecting", state_offline
    queued = [r.state for r in rows_of(page) if r.body in wanted]
    assert queued == ["queued"] * 5, queued
    page.wait_for_timeout(300)
    page.context.set_offline(False)

    def got() -> list[Seen]:
        return [m for m in bob.raw(ALICE) if m.body in wanted]

    bob.wait_until(lambda: len(got()) >= 5, 45)
    page.wait_for_timeout(1500)  # a second copy would come by now
    raw = got()
    rows = [r for r in rows_of(page) if r.body in wanted]
    problems = rp.sequence_problems("bob (every copy)", [(m.body, m.id) for m in raw], wanted)
    assert not problems, "\n".join([
        *problems,
        f"app state while offline: {state_offline!r}, now {rp.app_state(page)!r}; "
        f"alice's rows: {rows}",
    ])
