"""MessageStore (roost.app.store) over the real memory backend (roost.platform.schema).

The backend's callbacks and the store's batched writes run from a small
event loop (`Loop.run()`), as they would in the browser.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from roost.app.store import (
    FAILED,
    GLOBAL,
    QUEUED,
    READ,
    RECEIVED,
    SENT,
    SERVER,
    Gap,
    MessageStore,
    StoredMessage,
)
from roost.platform.schema import MemoryBackend, conversation_summaries, v1_records

ME = "me@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"


class Loop:
    def __init__(self) -> None:
        self.tasks: list[Callable[[], object]] = []
        self.timers: list[list[Callable[[], object]]] = []

    def soon(self, fn: Callable[[], object]) -> None:
        self.tasks.append(fn)

    def call_later(self, seconds: float, fn: Callable[[], object]) -> object:
        handle = [fn]
        self.timers.append(handle)
        return handle

    def cancel(self, handle: object) -> None:
        if handle in self.timers:
            self.timers.remove(handle)  # type: ignore[arg-type]

    def run(self) -> None:
        while self.tasks or self.timers:
            while self.tasks:
                self.tasks.pop(0)()
            if self.timers:
                self.timers.pop(0)[0]()


class Backend(MemoryBackend):
    """The memory backend, counting `write` transactions."""

    __slots__ = ("writes",)

    def __init__(self, loop: Loop) -> None:
        super().__init__(ME, loop.soon)
        self.writes = 0

    def write(self, puts, deletes, cb=None):  # type: ignore[no-untyped-def]
        self.writes += 1
        super().write(puts, deletes, cb)


@pytest.fixture
def loop() -> Loop:
    return Loop()


@pytest.fixture
def backend(loop: Loop) -> Backend:
    return Backend(loop)


def new_store(loop: Loop, backend: Backend, persist: bool = True) -> MessageStore:
    store = MessageStore(backend, loop.call_later, loop.cancel, persist=persist)
    store.load()
    loop.run()
    assert store.ready
    return store


def bodies(entries: list[object]) -> list[str]:
    return [e.body if isinstance(e, StoredMessage) else "<gap>" for e in entries]


def read_all(loop: Loop, backend: Backend, store: str = "messages") -> list[dict[str, object]]:
    out: list[list[object]] = []
    backend.query(store, None, None, None, out.append)
    loop.run()
    return out[0]  # type: ignore[return-value]


# -- dedup (XEP-0359) ---------------------------------------------------------------


def test_same_archive_id_is_one_message(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    first, created = store.add(BOB, BOB, "hi", 10.0, archive_id="A1")
    again, created2 = store.add(BOB, BOB, "hi", 10.0, archive_id="A1", id="x")
    assert created and not created2 and again is first
    assert first.id == "x"  # enriched
    assert store.count(BOB) == 1


def test_origin_id_matches_only_the_same_sender(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    live, _ = store.add(BOB, BOB, "hi", 10.0, id="s1", origin_id="o1")
    # The archive copy: another stanza id, same origin-id -> enriched, not doubled.
    copy, created = store.add(BOB, BOB, "hi", 10.5, id="s9", origin_id="o1", archive_id="A7")
    assert copy is live and not created
    assert live.archive_id == "A7"
    # Another sender's origin-id never matches ours.
    other, created = store.add(BOB, ME, "hi", 11.0, origin_id="o1", outgoing=True)
    assert created and other is not live
    assert store.count(BOB) == 2


def test_sender_and_message_id_match_last(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    live, _ = store.add(BOB, BOB, "hey", 10.0, id="m1")
    copy, created = store.add(BOB, BOB, "hey", 10.0, id="m1", archive_id="A1")
    assert copy is live and not created and live.archive_id == "A1"
    # Now known by its archive id too.
    assert store.add(BOB, BOB, "hey", 10.0, archive_id="A1")[0] is live
    # The same id from someone else (a groupchat nick, a carbon of ours) is another message.
    assert store.add(BOB, CAROL, "hey", 10.0, id="m1")[1]
    assert store.count(BOB) == 2


def test_different_archive_ids_are_different_messages_even_with_a_reused_id(
    loop: Loop, backend: Backend
) -> None:
    store = new_store(loop, backend)
    a, _ = store.add(BOB, BOB, "one", 10.0, id="1", archive_id="A1")
    b, created = store.add(BOB, BOB, "two", 20.0, id="1", archive_id="A2")
    assert created and a is not b
    assert bodies(store.latest(BOB, 10)) == ["one", "two"]


def test_later_copy_moves_state_forward_never_back(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    m, _ = store.add(BOB, ME, "x", 1.0, id="o", origin_id="o", outgoing=True, state=SENT)
    store.set_state(m, READ)
    store.add(BOB, ME, "x", 1.0, origin_id="o", archive_id="A", outgoing=True, state=SERVER)
    assert m.state == READ and m.archive_id == "A"


def test_correction_changes_the_target_and_is_deduplicated(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    original, _ = store.add(BOB, BOB, "helo", 1.0, id="m1")
    target, created = store.add(BOB, BOB, "hello", 2.0, id="m2", replaces="m1")
    assert created and target is original
    assert original.body == "hello" and original.edited == "m2"
    # The archive copy of the correction: no new entry, same target.
    again, created = store.add(BOB, BOB, "hello", 2.0, id="m2", archive_id="A2", replaces="m1")
    assert again is original and not created
    # Someone else can't correct Bob's message.
    store.add(BOB, CAROL, "pwned", 3.0, id="m3", replaces="m1")
    assert original.body == "hello"
    assert bodies(store.latest(BOB, 10)) == ["hello"]
    # A correction that arrives before its target is applied when the target comes.
    store.add(BOB, BOB, "fixed", 5.0, id="c2", replaces="m9")
    late, _ = store.add(BOB, BOB, "fxed", 4.0, id="m9")
    assert late.body == "fixed" and late.edited == "c2"


# -- order, archive pages, gaps ------------------------------------------------------------


def test_archive_pages_out_of_order_keep_stamp_order(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    store.add(BOB, BOB, "live 1", 100.0, id="l1")
    store.add(BOB, BOB, "live 2", 101.0, id="l2")
    newer_page = [(f"A{i}", float(i)) for i in range(50, 60)]
    older_page = [(f"A{i}", float(i)) for i in range(40, 50)]
    for page in (newer_page, older_page):
        for archive_id, stamp in page:
            store.add(BOB, BOB, archive_id, stamp, archive_id=archive_id)
    # The live messages came through the archive too: no duplicates.
    store.add(BOB, BOB, "live 1", 100.0, id="l1", archive_id="A100")
    got = store.latest(BOB, 100)
    assert bodies(got) == [f"A{i}" for i in range(40, 60)] + ["live 1", "live 2"]
    assert [e.key for e in got] == sorted(e.key for e in got)


def test_equal_stamps_keep_arrival_order(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    for i in range(5):
        store.add(BOB, BOB, str(i), 7.0, id=str(i))
    assert bodies(store.latest(BOB, 5)) == ["0", "1", "2", "3", "4"]


def test_gap_insert_narrow_and_fill(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    store.add(BOB, BOB, "old", 10.0, archive_id="A10")
    store.add(BOB, BOB, "new", 90.0, archive_id="A90")
    gap = store.add_gap(BOB, 10.0, "A10", "A90")
    assert isinstance(gap, Gap)
    assert bodies(store.latest(BOB, 10)) == ["old", "<gap>", "new"]
    assert store.gaps(BOB) == [gap]
    # A page from the gap arrives; the server has more: the gap moves up.
    store.add(BOB, BOB, "mid 1", 20.0, archive_id="A20")
    store.add(BOB, BOB, "mid 2", 30.0, archive_id="A30")
    store.fill_gap(gap, after_id="A30", stamp=30.0)
    assert bodies(store.latest(BOB, 10)) == ["old", "mid 1", "mid 2", "<gap>", "new"]
    loop.run()
    assert next(r for r in read_all(loop, backend) if r["kind"] == "gap")["after_id"] == "A30"
    # The rest arrives: the gap goes, in memory and in storage.
    store.add(BOB, BOB, "mid 3", 40.0, archive_id="A40")
    store.fill_gap(gap)
    assert bodies(store.latest(BOB, 10)) == ["old", "mid 1", "mid 2", "mid 3", "new"]
    assert store.gaps(BOB) == []
    loop.run()
    assert [r for r in read_all(loop, backend) if r["kind"] == "gap"] == []


# -- paging ------------------------------------------------------------------------------


def test_paging_ten_thousand_messages_is_fast_and_exact(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend, persist=False)
    n = 10_000
    order = list(range(n))
    # Half in order (live), half as archive pages of 100 arriving newest first.
    live = order[n // 2 :]
    pages = [order[i : i + 100] for i in range(0, n // 2, 100)][::-1]
    start = time.perf_counter()
    for i in live:
        store.add(BOB, BOB, f"m{i}", float(i), id=f"id{i}")
    for page in pages:
        for i in page:
            store.add(BOB, BOB, f"m{i}", float(i), archive_id=f"A{i}")
    inserted = time.perf_counter() - start
    # Scroll all the way back, 50 at a time.
    start = time.perf_counter()
    seen: list[str] = []
    chunk = store.latest(BOB, 50)
    while chunk:
        seen[:0] = bodies(chunk)
        chunk = store.before(BOB, chunk[0].key, 50)
    paged = time.perf_counter() - start
    assert seen == [f"m{i}" for i in order]
    assert store.count(BOB) == n
    mid = store.latest(BOB, n)[5000]
    assert bodies(store.after(BOB, mid.key, 2)) == ["m5001", "m5002"]
    assert bodies(store.before(BOB, mid.key, 2)) == ["m4998", "m4999"]
    # Brython is 20-30 times slower: these budgets keep it under a few seconds there.
    assert inserted < 0.5, inserted
    assert paged < 0.1, paged
    # A page is a slice: cheap whatever the size.
    start = time.perf_counter()
    for _ in range(1000):
        store.latest(BOB, 50)
    assert time.perf_counter() - start < 0.05


# -- cursors -----------------------------------------------------------------------------


def test_cursors_move_forward_and_persist(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    assert store.cursor() is None
    store.set_cursor(GLOBAL, "A5", 50.0)
    store.set_cursor(GLOBAL, "A3", 30.0)  # an older page: the cursor stays
    store.set_cursor("room@muc.example.org", "R1", 5.0)
    cursor = store.cursor()
    assert cursor is not None and (cursor.archive_id, cursor.stamp) == ("A5", 50.0)
    loop.run()
    again = new_store(loop, backend)
    cursor = again.cursor(GLOBAL)
    room = again.cursor("room@muc.example.org")
    assert cursor is not None and cursor.archive_id == "A5"
    assert room is not None and room.archive_id == "R1"


# -- outbox ------------------------------------------------------------------------------


def test_outbox_keeps_order_survives_a_reload_and_empties_on_ack(
    loop: Loop, backend: Backend
) -> None:
    store = new_store(loop, backend)
    a = store.queue(BOB, ME, "first", 1.0, "q1")
    store.queue(CAROL, ME, "second", 2.0, "q2")
    store.queue(BOB, ME, "third", 3.0, "q3")
    assert a.state == QUEUED and a.origin_id == "q1"
    assert [m.id for m in store.outbox()] == ["q1", "q2", "q3"]
    store.mark_sent("q1")
    loop.run()
    # A reload (same device): the outbox comes back in order, with its states.
    again = new_store(loop, backend)
    assert [(m.id, m.state) for m in again.outbox()] == [
        ("q1", SENT),
        ("q2", QUEUED),
        ("q3", QUEUED),
    ]
    assert bodies(again.latest(BOB, 10)) == ["first", "third"]
    # Only an ack (XEP-0198) removes them.
    done = again.acked(["q1", "q3", "unknown"])
    assert [m.id for m in done] == ["q1", "q3"] and {m.state for m in done} == {SERVER}
    assert [m.id for m in again.outbox()] == ["q2"]
    # The archive copy of a queued message also tells us the server has it.
    again.add(CAROL, ME, "second", 2.0, origin_id="q2", archive_id="A1", state=SERVER)
    assert again.outbox() == []
    loop.run()
    assert read_all(loop, backend, "outbox") == []
    third = new_store(loop, backend)
    assert third.outbox() == []
    # The messages themselves stay, once, in their conversations.
    third.load_conversation(BOB)
    third.load_conversation(CAROL)
    loop.run()
    assert [(m.body, m.state) for m in third.latest(BOB, 10)] == [
        ("first", SERVER),
        ("third", SERVER),
    ]
    assert [m.archive_id for m in third.latest(CAROL, 10)] == ["A1"]


def test_failed_message_leaves_the_outbox(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    store.queue(BOB, ME, "x", 1.0, "q1")
    m = store.fail("q1")
    assert m is not None and m.state == FAILED and store.outbox() == []


# -- persistence -------------------------------------------------------------------------


def test_writes_are_batched_and_conversations_reload_without_duplicates(
    loop: Loop, backend: Backend
) -> None:
    store = new_store(loop, backend)
    for i in range(200):
        store.add(BOB, BOB, f"m{i}", float(i), id=f"id{i}")
    store.add_gap(BOB, 0.5, "A0", "A1")
    loop.run()
    assert backend.writes == 1  # one transaction for the whole burst
    assert len(read_all(loop, backend)) == 201
    summaries: list[dict[object, object]] = []
    backend.all("conversations", summaries.append)
    loop.run()
    assert summaries[0] == {
        BOB: {"jid": BOB, "stamp": 199.0, "unread": 0, "complete": False, "preview": "m199"}
    }

    again = new_store(loop, backend)
    assert again.conversations() == [BOB]
    # A live copy of a stored message arrives before the conversation is read.
    early, _ = again.add(BOB, BOB, "m199", 199.0, id="id199", archive_id="A199")
    pages: list[int] = []
    again.load_conversation(BOB, on_page=lambda: pages.append(again.count(BOB)))
    loop.run()
    assert pages == [50]  # the newest page first (the early copy merged into it)
    assert again.is_loaded(BOB)
    got = again.latest(BOB, 1000)
    assert bodies(got) == ["m0", "<gap>"] + [f"m{i}" for i in range(1, 200)]
    assert got[-1] is early and early.archive_id == "A199"
    loop.run()
    # The doubled record is gone from storage too.
    assert len(read_all(loop, backend)) == 201
    assert len({r["seq"] for r in read_all(loop, backend)}) == 201


def test_messages_before_load_never_overwrite_stored_ones(loop: Loop, backend: Backend) -> None:
    store = new_store(loop, backend)
    for i in range(3):
        store.add(BOB, BOB, f"old{i}", float(i), id=f"o{i}")
    loop.run()
    again = MessageStore(backend, loop.call_later, loop.cancel, persist=True)
    again.add(BOB, BOB, "early", 10.0, id="e")  # before load() has read the highest seq
    again.queue(CAROL, ME, "queued early", 11.0, "q")
    again.load()
    loop.run()
    assert len(read_all(loop, backend)) == 5
    again.load_conversation(BOB)
    loop.run()
    assert bodies(again.latest(BOB, 10)) == ["old0", "old1", "old2", "early"]
    assert [r["id"] for r in read_all(loop, backend, "outbox")] == ["q"]


def test_a_message_queued_again_after_a_reload_keeps_its_place(
    loop: Loop, backend: Backend
) -> None:
    """Equal stamps are ordered by seq. A message the tab queues again after
    a reload (its stash was older than storage) is one message with the
    stored one, at the stored place: not behind what was written after it."""
    store = new_store(loop, backend)
    for i in range(3):
        store.queue(BOB, ME, f"m{i}", 5.0, f"q{i}")
    store.acked(["q0", "q1", "q2"])
    loop.run()
    again = MessageStore(backend, loop.call_later, loop.cancel, persist=True)
    again.queue(BOB, ME, "m1", 5.0, "q1")  # the stale stash, before the load
    again.load()
    loop.run()
    again.load_conversation(BOB)
    loop.run()
    assert bodies(again.latest(BOB, 10)) == ["m0", "m1", "m2"]
    # One record each in storage; the stored one took the live one's state.
    rows = read_all(loop, backend)
    assert sorted(r["body"] for r in rows) == ["m0", "m1", "m2"]  # type: ignore[type-var]
    assert len({r["seq"] for r in rows}) == 3
    third = new_store(loop, backend)
    third.load_conversation(BOB)
    loop.run()
    assert bodies(third.latest(BOB, 10)) == ["m0", "m1", "m2"]


def test_stashed_and_stored_outbox_copies_are_one_in_stored_order(
    loop: Loop, backend: Backend
) -> None:
    store = new_store(loop, backend)
    for i in range(3):
        store.queue(BOB, ME, f"m{i}", 5.0, f"q{i}")
    loop.run()
    again = MessageStore(backend, loop.call_later, loop.cancel, persist=True)
    again.queue(BOB, ME, "m2", 5.0, "q2")  # the stash, before the load
    again.queue(BOB, ME, "m3", 5.0, "q3")  # only in the stash
    again.load()
    loop.run()
    assert [m.id for m in again.outbox()] == ["q0", "q1", "q2", "q3"]
    assert bodies(again.latest(BOB, 10)) == ["m0", "m1", "m2", "m3"]
    assert [r["id"] for r in read_all(loop, backend, "outbox")] == ["q0", "q1", "q2", "q3"]
    assert len(read_all(loop, backend)) == 4


def test_history_paged_back_goes_before_equal_stamps_and_survives_a_reload(
    loop: Loop, backend: Backend
) -> None:
    store = new_store(loop, backend)
    for i in range(3, 6):
        store.add(BOB, BOB, f"m{i}", 7.0, id=f"id{i}", archive_id=f"A{i}")
    for i in (2, 1, 0):  # an older page, newest first
        store.add(BOB, BOB, f"m{i}", 7.0, id=f"id{i}", archive_id=f"A{i}", older=True)
    assert bodies(store.latest(BOB, 10)) == [f"m{i}" for i in range(6)]
    loop.run()
    again = new_store(loop, backend)
    again.load_conversation(BOB)
    loop.run()
    assert bodies(again.latest(BOB, 10)) == [f"m{i}" for i in range(6)]
    again.add(BOB, BOB, "older still", 7.0, id="x", archive_id="X", older=True)
    assert bodies(again.latest(BOB, 10))[0] == "older still"
    again.add(BOB, BOB, "newest", 7.0, id="y", archive_id="Y")
    assert bodies(again.latest(BOB, 10))[-1] == "newest"


def test_untrusted_store_writes_nothing(loop: Loop, backend: Backend) -> None:
    store = MessageStore(backend, loop.call_later, loop.cancel)  # backend.trusted is False
    assert not store.persist
    store.load()
    store.add(BOB, BOB, "x", 1.0, id="1")
    store.queue(BOB, ME, "y", 2.0, "q")
    store.set_cursor(GLOBAL, "A", 1.0)
    store.flush()
    loop.run()
    assert backend.writes == 0 and loop.timers == []
    assert read_all(loop, backend) == []
    assert bodies(store.latest(BOB, 5)) == ["x", "y"]


# -- schema helpers (the v1 -> v2 conversion, the memory backend's paging) ------------------


def test_v1_conversation_blobs_become_records_in_order() -> None:
    blobs = [
        {
            "jid": BOB,
            "messages": [
                {
                    "id": "a",
                    "sender": BOB,
                    "body": "hi",
                    "outgoing": False,
                    "stamp": 5,
                    "state": "received",
                },
                {
                    "id": "b",
                    "sender": ME,
                    "body": "yo",
                    "outgoing": True,
                    "stamp": 6.5,
                    "state": "sent",
                },
                {"id": None, "sender": BOB, "body": "", "outgoing": False, "stamp": None},
                "junk",
            ],
        },
        {"jid": 3, "messages": []},
        None,
    ]
    records = v1_records(blobs, 1)
    assert [(r["seq"], r["body"], r["stamp"]) for r in records] == [
        (1, "hi", 5.0),
        (2, "yo", 6.5),
        (3, "", 0.0),
    ]
    assert records[1]["origin_id"] == "b" and records[0]["origin_id"] is None
    assert records[2]["state"] == RECEIVED
    assert conversation_summaries(records) == {
        BOB: {"jid": BOB, "stamp": 6.5, "unread": 0, "complete": False, "preview": "yo"}
    }


def test_memory_backend_pages_by_conversation_and_stamp(loop: Loop, backend: Backend) -> None:
    puts: list[tuple[str, object, object]] = []
    for conv in (BOB, CAROL):
        for i in range(10):
            record = {"seq": len(puts) + 1, "conversation": conv, "stamp": float(10 - i % 3)}
            puts.append(("messages", None, record))
    backend.write(puts, [])
    got: list[list[object]] = []
    backend.latest(BOB, 4, got.append)
    loop.run()
    keys = [(r["stamp"], r["seq"]) for r in got[0]]  # type: ignore[index]
    bob = sorted((r["stamp"], r["seq"]) for _s, _k, r in puts if r["conversation"] == BOB)  # type: ignore[index]
    assert keys == bob[-4:]
    backend.before(BOB, keys[0], 3, got.append)
    backend.before(BOB, keys[0], 0, got.append)
    loop.run()
    assert [(r["stamp"], r["seq"]) for r in got[1]] == bob[-7:-4]  # type: ignore[index]
    assert [(r["stamp"], r["seq"]) for r in got[2]] == bob[:-4]  # type: ignore[index]
