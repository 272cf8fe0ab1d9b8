"""The IndexedDB schema (v3), its migrations from v1, paging queries and the
MessageStore over real storage, in Chromium with the built bundle.

`data/storage_v1.py.txt` is `roost/platform/storage.py` as released with
schema v1 (what `chat.py` writes today); the migration test runs it in the
page (exec) to populate a v1 database exactly as that release did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.platform.conftest import PageLog, wait_result
from tests.platform.test_platform_browser import PUBLISH

Page = tuple[Any, PageLog]
V1_SOURCE = (Path(__file__).parent / "data" / "storage_v1.py.txt").read_text(encoding="utf-8")
ACCOUNT = "alice@localhost"

DESCRIBE_DB = """async (name) => {
    const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open(name);
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
    });
    const out = {version: db.version, stores: {}};
    for (const s of Array.from(db.objectStoreNames)) {
        const os = db.transaction(s).objectStore(s);
        out.stores[s] = {
            keyPath: os.keyPath,
            indexes: Object.fromEntries(Array.from(os.indexNames).map(
                i => [i, os.index(i).keyPath])),
            count: await new Promise(r => {
                const q = os.count();
                q.onsuccess = () => r(q.result);
            }),
        };
    }
    db.close();
    return out;
}"""


def _no_errors(log: PageLog) -> None:
    assert log.errors == [], log.console
    assert log.failed == [], log.failed


def test_fresh_database_has_the_v3_schema(make_page: Callable[..., str], page: Page) -> None:
    pg, log = page
    url = make_page(
        "t-schema",
        PUBLISH
        + f"""
from roost.platform.storage import open_storage
st = open_storage({ACCOUNT!r}, True)
def got(value):
    st.get("meta", "account", lambda account: publish("meta", [value, account]))
st.get("meta", "schema", got)
""",
    )
    pg.goto(url)
    assert wait_result(pg, "meta") == [3, ACCOUNT]
    described = pg.evaluate(DESCRIBE_DB, "roost-" + ACCOUNT)
    assert described["version"] == 3
    stores = described["stores"]
    assert set(stores) == {
        "roster",
        "meta",
        "messages",
        "conversations",
        "cursors",
        "outbox",
    }
    assert stores["messages"]["keyPath"] == "seq"
    assert stores["messages"]["indexes"] == {
        "conv_stamp": ["conversation", "stamp", "seq"],
        "archive_id": ["conversation", "archive_id"],
        "origin_id": ["conversation", "origin_id"],
    }
    assert stores["roster"]["keyPath"] is None
    _no_errors(log)


def test_migration_from_a_v1_database_keeps_everything(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, log = page
    bob = {
        "jid": "bob@localhost",
        "messages": [
            {"id": "m1", "sender": "bob@localhost", "body": "hi", "outgoing": False,
             "stamp": 100.0, "state": "received"},
            {"id": "m2", "sender": ACCOUNT, "body": "hello <b>", "outgoing": True,
             "stamp": 101.5, "state": "sent"},
            {"id": None, "sender": "bob@localhost", "body": "no id", "outgoing": False,
             "stamp": 102.0, "state": "received"},
        ],
    }  # fmt: skip
    carol = {
        "jid": "carol@localhost",
        "messages": [
            {"id": "c1", "sender": ACCOUNT, "body": "yo", "outgoing": True, "stamp": 50.0,
             "state": "failed"}
        ],
    }  # fmt: skip
    roster = {"jid": "bob@localhost", "name": "Bob", "subscription": "both", "ask": None,
              "groups": ["Friends"]}  # fmt: skip
    url = make_page(
        "t-migrate",
        PUBLISH
        + f"""
v1 = {{"__name__": "storage_v1"}}
exec({V1_SOURCE!r}, v1)
old = v1["open_storage"]({ACCOUNT!r}, True)
BOB = {bob!r}
CAROL = {carol!r}
ROSTER = {roster!r}
def written():
    publish("v1", old.name)
old.put("roster", "bob@localhost", ROSTER, lambda: old.put("messages", "bob@localhost", BOB,
        lambda: old.put("messages", "carol@localhost", CAROL,
        lambda: old.put("meta", "archive_cursor", "A9", written))))

def upgrade():
    from roost.platform.storage import open_storage
    from roost.app.store import MessageStore
    from roost.platform import timers
    st = open_storage({ACCOUNT!r}, True)
    out = {{}}
    def step5(conversations):
        out["conversations"] = conversations
        store = MessageStore(st, timers.call_later, timers.cancel)
        def loaded():
            store.load_conversation("bob@localhost", on_done=lambda: shown(store))
        store.load(loaded)
    def shown(store):
        out["store"] = [[m.body, m.outgoing, m.state, m.id, m.origin_id]
                        for m in store.latest("bob@localhost", 10)]
        # The live copy of a migrated message is recognised (sender + id).
        m, created = store.add("bob@localhost", "bob@localhost", "hi", 100.0, id="m1",
                               archive_id="A1")
        out["dedup"] = [created, m.archive_id, store.count("bob@localhost")]
        publish("v2", out)
    def step4(values):
        out["latest"] = values
        st.all("conversations", step5)
    def step3(cursors):
        out["cursors"] = cursors
        st.latest("bob@localhost", 2, step4)
    def step2(value):
        out["roster"] = value
        st.all("cursors", step3)
    st.get("roster", "bob@localhost", step2)
window.roostUpgrade = upgrade
""",
    )
    pg.goto(url)
    assert wait_result(pg, "v1") == "roost-" + ACCOUNT
    before = pg.evaluate(DESCRIBE_DB, "roost-" + ACCOUNT)
    assert before["version"] == 1
    assert set(before["stores"]) == {"roster", "messages", "meta"}
    pg.evaluate("() => window.roostUpgrade()")
    got = wait_result(pg, "v2")
    assert got["roster"] == roster
    # The archive id the first release kept in meta is the account's cursor.
    assert got["cursors"] == {"": {"archive_id": "A9", "stamp": 0.0}}
    assert [(r["body"], r["conversation"], r["stamp"]) for r in got["latest"]] == [
        ("hello <b>", "bob@localhost", 101.5),
        ("no id", "bob@localhost", 102.0),
    ]
    summary = {"unread": 0, "complete": False}
    assert got["conversations"] == {
        "bob@localhost": {"jid": "bob@localhost", "stamp": 102.0, "preview": "no id", **summary},
        "carol@localhost": {"jid": "carol@localhost", "stamp": 50.0, "preview": "yo", **summary},
    }
    assert got["store"] == [
        ["hi", False, "received", "m1", None],
        ["hello <b>", True, "sent", "m2", "m2"],
        ["no id", False, "received", None, None],
    ]
    assert got["dedup"] == [False, "A1", 3]
    after = pg.evaluate(DESCRIBE_DB, "roost-" + ACCOUNT)
    assert after["version"] == 3
    # v2's conversion was replaced by v3's (not added to), and the blobs are gone.
    assert after["stores"]["messages"]["count"] == 4
    assert "legacy_messages" not in after["stores"]
    _no_errors(log)


PAGING_SCRIPT = """
from roost.platform.storage import open_storage
from roost.platform import timers
from roost.app.store import MessageStore
st = open_storage("alice@localhost", TRUSTED)
store = MessageStore(st, timers.call_later, timers.cancel)
out = {}
def keys(values):
    return [[v["stamp"], v["seq"]] for v in values]
def start():
    # 300 messages for bob (stamps in pairs: ties broken by seq), 20 for carol.
    for i in range(300):
        store.add("bob@localhost", "bob@localhost", "m" + str(i), float(i // 2), id="b" + str(i))
    for i in range(20):
        store.add("carol@localhost", "carol@localhost", "c" + str(i), float(i), id="c" + str(i))
    store.flush()
    if TRUSTED:
        st.latest("bob@localhost", 25, got_latest)
    else:
        publish("paging", {"memory": [m.body for m in store.latest("bob@localhost", 3)]})
def got_latest(values):
    out["latest"] = keys(values)
    st.before("bob@localhost", (values[0]["stamp"], values[0]["seq"]), 25, got_before)
def got_before(values):
    out["before"] = keys(values)
    st.before("bob@localhost", (0.5, 0), 0, got_first)
def got_first(values):
    out["first"] = keys(values)
    st.query("messages", "archive_id", None, None, got_none)
def got_none(values):
    out["archive_indexed"] = len(values)
    again = MessageStore(st, timers.call_later, timers.cancel)
    def loaded():
        again.load_conversation("bob@localhost", on_done=lambda: reloaded(again))
    again.load(loaded)
def reloaded(again):
    out["reloaded"] = [again.count("bob@localhost"), again.count("carol@localhost")]
    out["bodies"] = [m.body for m in again.latest("bob@localhost", 3)]
    publish("paging", out)
# The store's own speed in Brython: 10,000 inserts (archive pages, newest page
# first) and a full scroll-back, in memory.
t0 = timers.now()
bench = MessageStore(st, timers.call_later, timers.cancel, persist=False)
for p in range(99, -1, -1):
    for i in range(p * 100, p * 100 + 100):
        bench.add("x@localhost", "x@localhost", "b", float(i), archive_id="A" + str(i))
t1 = timers.now()
n = 0
chunk = bench.latest("x@localhost", 50)
while chunk:
    n += len(chunk)
    chunk = bench.before("x@localhost", chunk[0].key, 50)
publish("bench", {"insert": t1 - t0, "page_all": timers.now() - t1, "n": n})
store.load(start)
"""


def test_paging_queries_and_the_store_over_indexeddb(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, log = page
    pg.goto(make_page("t-paging", PUBLISH + PAGING_SCRIPT.replace("TRUSTED", "True")))
    got = wait_result(pg, "paging", timeout=60_000)
    bob = [[float(i // 2), i + 1] for i in range(300)]  # seqs 1..300 in insertion order
    assert got["latest"] == bob[-25:]
    assert got["before"] == bob[-50:-25]
    assert got["first"] == bob[:2]  # stamp 0.0, both seqs
    assert got["archive_indexed"] == 0  # records without an archive id aren't in the index
    assert got["reloaded"] == [300, 0]  # carol's conversation isn't loaded: not read
    assert got["bodies"] == ["m297", "m298", "m299"]
    bench = wait_result(pg, "bench")
    assert bench["n"] == 10_000
    print(f"Brython: 10,000 inserts {bench['insert']:.2f} s, scroll-back {bench['page_all']:.3f} s")
    assert bench["insert"] < 20 and bench["page_all"] < 5
    _no_errors(log)


def test_untrusted_store_leaves_nothing_in_indexeddb(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, log = page
    pg.goto(make_page("t-paging-mem", PUBLISH + PAGING_SCRIPT.replace("TRUSTED", "False")))
    assert wait_result(pg, "paging", timeout=60_000) == {"memory": ["m297", "m298", "m299"]}
    pg.wait_for_timeout(600)  # past STORE_DELAY: any batched write would have happened
    names = pg.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert [n for n in names if n != "brython-cache"] == []
    _no_errors(log)
