"""History benchmark: open a 2,000-message chat (cold / warm), 500-message burst, catch-up.

    .venv/bin/python bench/bench_history.py [--runs N] [--out bench/results/history.json]
                                            [--dist DIR] [--cpu-profile DIR]

Starts its own Prosody (temp dir). Each run has its own account `benchN` whose
server archive (XEP-0313, Prosody's file store) is written before Prosody
starts: 2,000 messages with "Bob Archive" (a third of them sent by benchN),
then 250 newer ones from 5 other contacts, so the login catch-up (the newest
200) never holds Bob's chat. Builds `dist/` once (or uses `--dist`), runs
`roost serve`, drives Debian's Chromium with Playwright; fresh persistent
profiles each run:

1. a new untrusted device logs in (the catch-up takes the newest 200) and
   opens Bob's chat: its newest message comes from the server archive
   (**cold open**);
2. a new trusted device opens Bob's chat (recorded apart), then scrolls up
   to the oldest of the 2,000 (39 more archive pages) until IndexedDB holds
   them all;
3. reload, log in, open Bob's chat: the newest comes from IndexedDB (**warm
   open**);
4. with the chat open, Bob (a slixmpp peer) sends 500 messages (**burst**);
5. log out; 20 peers send 100 messages each while benchN is away; reload,
   log in: the **catch-up** (the device has a cursor) until the sync status is
   hidden and all 20 unread counts read 100, with the page's long tasks.

Timings are taken inside the page (performance.now(), a MutationObserver, a
PerformanceObserver for `longtask` and `long-animation-frame`; WebSocket sends
and archive answers are timestamped by a wrapper installed before the app
loads). Prints one JSON object on stdout (and writes it to --out). A benchmark,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.devserver.prosody import Contact, ProsodyServer, _lua_str, _store_name  # noqa: E402
from bench.common import chromium_version, emit  # noqa: E402
from tests.browser.conftest import RoostServer  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.threaded_peer import ThreadedPeer  # noqa: E402

DOMAIN = "localhost"
BOB = "bob"
BOB_NAME = "Bob Archive"
N_HISTORY = 2000  # Bob's chat, in the server archive
N_OTHERS = 5
N_NEWER = 250  # from the others, newer than all of Bob's: the login catch-up takes 200
ARCHIVE_HISTORY = 200  # the app's catch-up on a device without a cursor (app/chat.py)
N_BURST = 500
N_CATCHUP_PEERS = 20
N_CATCHUP_EACH = 100

TARGETS_MS = {"open_cold": 600.0, "open_warm": 150.0, "burst": 1000.0, "catchup": 5000.0,
              "catchup_longest_task": 100.0}
REFERENCE_MS = {"open_cold": 1500.0, "burst": 17500.0}

LOAD_TIMEOUT_MS = 30_000
LOGIN_TIMEOUT_MS = 60_000
OPEN_TIMEOUT_MS = 30_000
TRUSTED_OPEN_TIMEOUT_MS = 5_000
SCROLLBACK_TIMEOUT_MS = 180_000
BURST_TIMEOUT_MS = 120_000
CATCHUP_TIMEOUT_MS = 120_000
LONG_TASK_MS = 100.0
FOREIGN_CPU_S = 2.0  # other processes' CPU during a run above this: "runs_with_company"

# Installed in every page before any of its scripts (context.add_init_script).
INSTRUMENT = r"""
(() => {
  if (window.__hb) { return; }
  const b = window.__hb = {
    clicks: [],            // [t, what]: "login" or the contact's JID
    newest: null,          // {text, found, paint}: that text in the last row, on screen
    burst: null,           // {prefix, first}
    sync: null,            // {shown, shownAt, hiddenAt, lastText}
    unread: null,          // {want: {jid: n}, at}
    longtasks: [],         // [startTime, duration]
    loaf: [],              // long animation frames over 100 ms, with their longest scripts
    mamOut: [],            // [t, with or ""]: archive queries sent
    presenceOut: [],       // [t]: initial (available, untargeted) presence sent
    finIn: [],             // [t]: archive answers (<fin/>) received
    framesIn: 0,
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) { b.longtasks.push([e.startTime, e.duration]); }
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { b.longtasks = null; }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.duration <= 100) { continue; }
        const scripts = Array.from(e.scripts || []).sort((x, y) => y.duration - x.duration)
          .slice(0, 3).map((s) => ({
            duration: Math.round(s.duration), invoker: s.invoker, type: s.invokerType,
            fn: s.sourceFunctionName, url: (s.sourceURL || "").split("/").pop(),
            pos: s.sourceCharPosition, forcedLayout: Math.round(s.forcedStyleAndLayoutDuration),
          }));
        b.loaf.push({ start: e.startTime, duration: e.duration,
                      blocking: e.blockingDuration, scripts });
      }
    }).observe({ type: "long-animation-frame", buffered: true });
  } catch (e) { b.loaf = null; }

  // XMPP over WebSocket: when archive queries leave and their answers end.
  const Orig = window.WebSocket;
  class BenchSocket extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        b.framesIn++;
        const d = ev.data;
        if (typeof d === "string" && d.indexOf("urn:xmpp:mam:2") >= 0 &&
            d.indexOf("<fin") >= 0) {
          b.finIn.push(performance.now());
        }
      });
    }
    send(data) {
      if (typeof data === "string" && data.indexOf("urn:xmpp:mam:2") >= 0 &&
          data.indexOf("<query") >= 0) {
        const m = /<field var=["']with["'][^>]*>\s*<value>([^<]*)</.exec(data);
        b.mamOut.push([performance.now(), m ? m[1] : ""]);
      } else if (typeof data === "string" && /^<presence(?![^>]*\b(?:type|to)=)/.test(data)) {
        b.presenceOut.push(performance.now());
      }
      return super.send(data);
    }
  }
  window.WebSocket = BenchSocket;

  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (!t || !t.closest) { return; }
    if (t.closest("#login-submit")) { b.clicks.push([performance.now(), "login"]); return; }
    const contact = t.closest("#contacts button[data-jid]");
    if (contact) { b.clicks.push([performance.now(), contact.dataset.jid]); }
  }, true);

  function lastRowVisible(text) {
    const log = document.getElementById("messages");
    if (!log) { return false; }
    const rows = log.getElementsByClassName("msg");
    const last = rows[rows.length - 1];
    if (!last) { return false; }
    const body = last.querySelector(".body");
    if (!body || body.textContent !== text) { return false; }
    const box = log.getBoundingClientRect();
    const r = last.getBoundingClientRect();
    return box.height > 0 && r.bottom > box.top && r.top < box.bottom;
  }
  function checkNewest() {
    const w = b.newest;
    if (w === null || w.found !== null) { return; }
    if (lastRowVisible(w.text)) {
      w.found = performance.now();
      requestAnimationFrame(() => { w.paint = performance.now(); });
    }
  }
  function checkBurst(records) {
    const w = b.burst;
    if (w === null || w.first !== null) { return; }
    for (const r of records) {
      const t = r.target;
      if (!t || t.id !== "messages") { continue; }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) { continue; }
        const body = n.querySelector(".body");
        if (body && body.textContent.startsWith(w.prefix)) {
          w.first = performance.now();
          return;
        }
      }
    }
  }
  function checkSync(records) {
    const w = b.sync;
    if (w === null || w.hiddenAt !== null) { return; }
    const el = document.getElementById("sync-state");
    if (!el) { return; }
    for (const r of records) {
      // The hidden attribute was absent (shown) just before this change.
      if (r.target === el && r.attributeName === "hidden" && r.oldValue === null) {
        if (!w.shown) { w.shown = true; w.shownAt = performance.now(); }
      }
    }
    if (!el.hidden) {
      if (!w.shown) { w.shown = true; w.shownAt = performance.now(); }
      w.lastText = el.textContent;
    } else if (w.shown) {
      w.hiddenAt = performance.now();
    }
  }
  function badges() {
    const out = {};
    for (const jid of Object.keys(b.unread.want)) {
      const badge = document.querySelector(`#contacts li[data-jid="${jid}"] .badge`);
      out[jid] = badge ? Number(badge.textContent) : 0;
    }
    return out;
  }
  b.badges = badges;
  function checkUnread() {
    const w = b.unread;
    if (w === null || w.at !== null) { return; }
    for (const jid of Object.keys(w.want)) {
      const badge = document.querySelector(`#contacts li[data-jid="${jid}"] .badge`);
      if (!badge || Number(badge.textContent) !== w.want[jid]) { return; }
    }
    w.at = performance.now();
  }
  new MutationObserver((records) => {
    checkNewest();
    checkBurst(records);
    checkSync(records);
    checkUnread();
  }).observe(document, { childList: true, subtree: true, characterData: true,
                         attributes: true, attributeOldValue: true,
                         attributeFilter: ["hidden"] });

  b.watchNewest = (text) => { b.newest = { text, found: null, paint: null }; checkNewest(); };
  b.lastRowVisible = lastRowVisible;
})();
"""

# Scroll the open chat up until its first row is `oldest` (the list asks for
# older pages as the reader nears the top). Returns the time taken, or null.
SCROLL_BACK = r"""async ([oldest, timeoutMs]) => {
  const log = document.getElementById("messages");
  const t0 = performance.now();
  const frame = () => new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
  while (performance.now() - t0 < timeoutMs) {
    const first = log.querySelector(".msg .body");
    if (first && first.textContent === oldest) { return performance.now() - t0; }
    log.scrollTop = 0;
    await frame();
  }
  return null;
}"""

# How many message records of conversation `conv` the account's IndexedDB holds.
IDB_COUNT = r"""async ([account, conv]) => {
  const name = "roost-" + account;
  const names = (await indexedDB.databases()).map((d) => d.name);
  if (!names.includes(name)) { return -1; }
  const db = await new Promise((ok, fail) => {
    const req = indexedDB.open(name);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
  try {
    if (!db.objectStoreNames.contains("messages")) { return -2; }
    const index = db.transaction("messages").objectStore("messages").index("conv_stamp");
    return await new Promise((ok, fail) => {
      const req = index.count(IDBKeyRange.bound([conv], [conv, []]));
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
    });
  } finally {
    db.close();
  }
}"""


def account(i: int) -> str:
    return f"bench{i}"


def catchup_peer(k: int) -> str:
    return f"c{k:02d}"


def other(k: int) -> str:
    return f"o{k}"


FILLER = ("the quick brown fox jumps over the lazy dog while the archive keeps "
          "every word we said about the weather, the trains and the next release ")


def history_body(i: int) -> str:
    """Bob's chat, message i (0 = oldest): unique, 20 to 180 characters."""
    n = 12 + (i * 37) % 160
    return f"h{i:04d} {FILLER[:n]}".rstrip()


def newest_history_text() -> str:
    return history_body(N_HISTORY - 1)


def oldest_history_text() -> str:
    return history_body(0)


# -- the server archive, written as Prosody's internal (file) store ---------------------
def archive_item(key: str, when: float, sender: str, to: str, with_: str, msg_id: str,
                 body: str) -> str:
    """One entry of `data/<host>/archive/<user>.list` as mod_storage_internal
    writes it (util/datamanager list_append of a preserialized stanza)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    return (
        "item({\n"
        f'\t{{ {_lua_str(body)}; ["name"] = "body"; ["attr"] = {{}}; }};\n'
        '\t["name"] = "message";\n'
        f'\t["key"] = {_lua_str(key)};\n'
        f'\t["with"] = {_lua_str(with_)};\n'
        f'\t["when"] = {int(when)};\n'
        '\t["attr"] = {\n'
        '\t\t["type"] = "chat";\n'
        f'\t\t["to"] = {_lua_str(to)};\n'
        f'\t\t["id"] = {_lua_str(msg_id)};\n'
        f'\t\t["from"] = {_lua_str(sender)};\n'
        f'\t\t["stamp"] = {_lua_str(stamp)};\n'
        "\t};\n"
        "});\n"
    )


def account_archive(user: str, now: float) -> str:
    """Bob's 2,000 (every third one sent by `user`), then 250 newer from the others."""
    own = f"{user}@{DOMAIN}"
    bob = f"{BOB}@{DOMAIN}"
    base = now - 2 * 86400.0
    parts = []
    for i in range(N_HISTORY):
        when = base + i * 60.0
        key = f"{user}-h{i:05d}"
        if i % 3 == 2:
            parts.append(archive_item(key, when, f"{own}/web", bob, bob, f"{user}-o{i}",
                                      history_body(i)))
        else:
            parts.append(archive_item(key, when, f"{bob}/phone", own, bob, f"{user}-i{i}",
                                      history_body(i)))
    base2 = base + N_HISTORY * 60.0
    for j in range(N_NEWER):
        peer = f"{other(j % N_OTHERS)}@{DOMAIN}"
        parts.append(archive_item(f"{user}-n{j:05d}", base2 + j * 30.0, f"{peer}/phone", own,
                                  peer, f"{user}-n{j}", f"n{j:04d} newer news from {peer}"))
    return "".join(parts)


class HistoryProsody(ProsodyServer):
    """ProsodyServer that also writes each account's MAM archive before it starts."""

    def __init__(self, root: Path, archives: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.archives = dict(archives)
        self.seed_ms = 0.0  # making the archives' text and writing them

    def seed(self) -> None:
        t0 = time.perf_counter()
        super().seed()
        folder = self.data_path / _store_name(self.domain) / "archive"
        folder.mkdir(parents=True, exist_ok=True)
        for user, text in self.archives.items():
            (folder / f"{_store_name(user)}.list").write_text(text)
        self.seed_ms += (time.perf_counter() - t0) * 1000.0

    def cpu_ms(self) -> float | None:
        """Prosody's CPU time so far (user + system, from /proc), in ms."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")

    def stored(self, store: str, user: str) -> int:
        """Items in one of a user's list stores (e.g. "offline", "archive")."""
        path = self.data_path / _store_name(self.domain) / store / f"{_store_name(user)}.list"
        try:
            text = path.read_text()
        except OSError:
            return 0
        return text.count("\nitem({") + text.startswith("item({")


def make_prosody(root: Path, accounts: list[str]) -> HistoryProsody:
    peers = [BOB, *(other(k) for k in range(N_OTHERS)),
             *(catchup_peer(k) for k in range(N_CATCHUP_PEERS))]
    users = {**{a: a for a in accounts}, **{p: p for p in peers}}
    contacts = [Contact(f"{BOB}@{DOMAIN}", BOB_NAME, "both", ["Bench"])]
    contacts += [Contact(f"{other(k)}@{DOMAIN}", f"Other {k}", "both", ["Bench"])
                 for k in range(N_OTHERS)]
    contacts += [Contact(f"{catchup_peer(k)}@{DOMAIN}", f"Catch Up {k:02d}", "both", ["Bench"])
                 for k in range(N_CATCHUP_PEERS)]
    rosters: dict[str, list[Contact]] = {a: contacts for a in accounts}
    rosters[BOB] = [Contact(f"{a}@{DOMAIN}", a, "both") for a in accounts]
    t0 = time.perf_counter()
    now = time.time()
    archives = {a: account_archive(a, now) for a in accounts}
    generated_ms = (time.perf_counter() - t0) * 1000.0
    server = HistoryProsody(root / "prosody", archives, domain=DOMAIN, users=users,
                            rosters=rosters, log_level="warn")
    server.seed_ms = generated_ms
    server.start()
    return server


def build_dist(out: Path) -> Path:
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    return out


def summary(values: Iterable[float | None]) -> dict[str, Any]:
    vals = list(values)
    got = [v for v in vals if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "values": vals}
    return {"median": round(statistics.median(got), 1), "min": round(min(got), 1),
            "max": round(max(got), 1),
            "values": [None if v is None else round(v, 1) for v in vals]}


def long_tasks(tasks: list[list[float]] | None, t0: float, t1: float) -> dict[str, Any]:
    """Long tasks that started in [t0, t1] (page clock)."""
    if tasks is None:
        return {"longest_ms": None, "over_100ms": None, "count": None, "total_ms": None}
    inside = [d for s, d in tasks if t0 <= s <= t1]
    return {"longest_ms": round(max(inside), 1) if inside else 0.0,
            "over_100ms": sum(1 for d in inside if d > LONG_TASK_MS),
            "count": len(inside), "total_ms": round(sum(inside), 1)}


def _by_invoker(frames: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Long animation frames grouped by their longest script's invoker."""
    out: dict[str, dict[str, float]] = {}
    for f in frames:
        scripts = f.get("scripts") or [{}]
        key = str(scripts[0].get("invoker") or "(no script)")
        g = out.setdefault(key, {"frames": 0, "total_ms": 0.0, "longest_ms": 0.0})
        g["frames"] += 1
        g["total_ms"] = round(g["total_ms"] + f["duration"], 1)
        g["longest_ms"] = max(g["longest_ms"], round(f["duration"], 1))
    return out


_PY_FN = re.compile(r"^(.*?)(\d{5,})$")


def _py_name(fn: str) -> str | None:
    """A Brython-compiled Python function ("parse602445" → "parse#602445"), else None."""
    m = _PY_FN.match(fn)
    if m is None or fn.startswith(("$B", "_b_")):
        return None
    return f"{m.group(1)}#{m.group(2)}"


def cpu_summary(profile: dict[str, Any], top: int = 20) -> dict[str, Any]:
    """A CDP Profiler profile in short: self time per JS function, inclusive
    time per Python function (Brython names them `name` + a number), and the
    Python functions whose code raised (Brython's $B.RAISE, e.g. StopIteration
    ending a loop), largest first."""
    nodes = {n["id"]: n for n in profile.get("nodes", [])}
    parent = {c: n["id"] for n in profile.get("nodes", []) for c in n.get("children", [])}
    self_us: dict[int, float] = {}
    for node_id, delta in zip(profile.get("samples", []), profile.get("timeDeltas", []),
                              strict=False):
        self_us[node_id] = self_us.get(node_id, 0.0) + float(delta)
    by_fn: dict[str, float] = {}
    py_incl: dict[str, float] = {}
    raised: dict[str, float] = {}
    for node_id, us in self_us.items():
        frame = nodes[node_id]["callFrame"]
        name = frame.get("functionName") or "(anonymous)"
        url = str(frame.get("url", "")).rsplit("/", 1)[-1]
        key = f"{name} {url}:{int(frame.get('lineNumber', -1)) + 1}" if url else name
        by_fn[key] = by_fn.get(key, 0.0) + us
        chain: list[str] = []
        in_raise = False
        cur: int | None = node_id
        while cur is not None and cur in nodes:
            fn = nodes[cur]["callFrame"].get("functionName") or ""
            in_raise = in_raise or fn == "$B.RAISE"
            py = _py_name(fn)
            if py is not None and py not in chain:
                chain.append(py)
            cur = parent.get(cur)
        for py in chain:
            py_incl[py] = py_incl.get(py, 0.0) + us
        if in_raise and chain:
            raised[chain[0]] = raised.get(chain[0], 0.0) + us
    total = sum(self_us.values()) or 1.0

    def rows(d: dict[str, float]) -> list[list[Any]]:
        return [[k, round(us / 1000.0, 1), round(us / total, 3)]
                for k, us in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"total_ms": round(total / 1000.0, 1), "columns": ["function", "ms", "share"],
            "self": rows(by_fn), "python_inclusive": rows(py_incl),
            "raise_in": rows(raised)}


class ForeignCpu:
    """CPU time used by processes that are not this script's own (not its
    descendants: Chromium, Prosody, roost serve), sampled from /proc every
    `interval` s: on a shared machine, tells which figures ran with company."""

    def __init__(self, interval: float = 1.0) -> None:
        self.own = os.getpid()
        self.tick = float(os.sysconf("SC_CLK_TCK"))
        self.interval = interval
        self.samples: list[tuple[float, dict[int, float]]] = []
        self.names: dict[int, str] = {}
        # Once seen as ours, always ours: a closed browser's processes are
        # re-parented to init for a moment before they exit.
        self.ours: set[int] = {self.own}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _read(self) -> dict[int, float]:
        procs: dict[int, tuple[int, float]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    head, _, tail = f.read().rpartition(")")
            except OSError:
                continue
            fields = tail.split()
            pid = int(entry.name)
            procs[pid] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick)
            if pid not in self.names:
                self.names[pid] = head.partition("(")[2]
        mine: dict[int, bool] = dict.fromkeys(self.ours, True)

        def is_mine(pid: int) -> bool:
            seen = []
            while pid not in mine:
                seen.append(pid)
                parent = procs[pid][0] if pid in procs else 0
                if parent <= 1:
                    mine.update((p, False) for p in seen)
                    return False
                pid = parent
            result = mine[pid]
            mine.update((p, result) for p in seen)
            return result

        foreign = {pid: cpu for pid, (_ppid, cpu) in procs.items() if not is_mine(pid)}
        self.ours.update(pid for pid, ours in mine.items() if ours)
        return foreign

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._read()))
            self._stop.wait(self.interval)

    def start(self) -> ForeignCpu:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def used(self, t0: float, t1: float) -> dict[int, float] | None:
        """Foreign CPU seconds per process between two time.monotonic() stamps."""
        before = [s for t, s in self.samples if t <= t0]
        inside = [s for t, s in self.samples if t0 < t <= t1 + self.interval]
        if not inside:
            return None
        base = before[-1] if before else {}
        last: dict[int, float] = {}
        for snap in inside:
            last.update(snap)
        return {pid: cpu - base.get(pid, 0.0) for pid, cpu in last.items()
                if cpu > base.get(pid, 0.0)}

    def between(self, t0: float, t1: float) -> float | None:
        used = self.used(t0, t1)
        return None if used is None else round(sum(used.values()), 2)

    def top(self, t0: float, t1: float, n: int = 3) -> list[list[Any]]:
        """The foreign processes that used the most CPU: [[pid, name, s]]."""
        used = self.used(t0, t1) or {}
        return [[pid, self.names.get(pid, "?"), round(cpu, 2)]
                for pid, cpu in sorted(used.items(), key=lambda kv: -kv[1])[:n]]


class Bench:
    def __init__(self, pw: Any, url: str, prosody: HistoryProsody, bob: ThreadedPeer,
                 catchup: list[ThreadedPeer], tmp: Path, cpu_profile: Path | None,
                 foreign: ForeignCpu | None = None) -> None:
        self.foreign = foreign
        self.pw = pw
        self.url = url
        self.prosody = prosody
        self.bob = bob
        self.catchup_peers = catchup
        self.tmp = tmp
        self.cpu_profile = cpu_profile
        self.errors: list[str] = []
        self.cdp: Any = None

    # -- helpers -----------------------------------------------------------------
    def context(self, name: str) -> Any:
        profile = self.tmp / f"profile-{name}"
        shutil.rmtree(profile, ignore_errors=True)
        ctx = self.pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        ctx.add_init_script(INSTRUMENT)
        return ctx

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}"[:500])

    def page(self, ctx: Any) -> Any:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"[:500]))
        page.on("console", self._console)
        return page

    def load(self, page: Any) -> None:
        page.goto(self.url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function(
            "() => performance.getEntriesByName('roost-python-ready').length > 0",
            timeout=LOAD_TIMEOUT_MS, polling=50)

    def login(self, page: Any, user: str, trusted: bool = True) -> float:
        """Log in; the click's time in the page clock."""
        page.get_by_label("Address").fill(user)
        page.get_by_label("Password").fill(user)
        page.get_by_label("This is a trusted device").set_checked(trusted)
        n = page.evaluate("() => window.__hb.clicks.length")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_function(f"() => window.__hb.clicks.length > {n}", timeout=LOAD_TIMEOUT_MS,
                               polling=20)
        t: float = page.evaluate("() => window.__hb.clicks[window.__hb.clicks.length - 1][0]")
        return t

    def wait_settled(self, page: Any, contact_jid: str) -> None:
        """The contact is listed and no catch-up is shown for 0.5 s."""
        page.locator(f'#contacts li[data-jid="{contact_jid}"]').wait_for(
            timeout=LOGIN_TIMEOUT_MS)
        deadline = time.monotonic() + LOGIN_TIMEOUT_MS / 1000.0
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            hidden = page.evaluate(
                "() => { const s = document.getElementById('sync-state');"
                " return !s || s.hidden; }")
            now = time.monotonic()
            if hidden:
                quiet_since = quiet_since or now
                if now - quiet_since >= 0.5:
                    return
            else:
                quiet_since = None
            time.sleep(0.05)
        raise TimeoutError("the login catch-up did not finish")

    def open_chat(self, page: Any, jid: str, newest: str,
                  timeout_ms: int = OPEN_TIMEOUT_MS) -> dict[str, Any]:
        """Click the contact; time until `newest` is the last row, on screen."""
        page.evaluate("(t) => window.__hb.watchNewest(t)", newest)
        n = page.evaluate("() => window.__hb.clicks.length")
        fins = page.evaluate("() => window.__hb.finIn.length")
        page.locator(f'#contacts li[data-jid="{jid}"] button').click(timeout=OPEN_TIMEOUT_MS)
        out: dict[str, Any] = {"open": None, "open_paint": None}
        try:
            page.wait_for_function("() => window.__hb.newest.paint !== null",
                                   timeout=timeout_ms, polling=20)
        except Exception:
            out["open_failed"] = page.evaluate(
                "() => { const r = document.querySelectorAll('#messages .msg .body');"
                " return {rows: r.length, last: r.length ? r[r.length-1].textContent : null,"
                " mam: window.__hb.mamOut.length}; }")
            out["open_failed"]["waited_ms"] = timeout_ms
            return out
        r = page.evaluate(
            "([n, f]) => { const b = window.__hb; return {click: b.clicks[n][0],"
            " found: b.newest.found, paint: b.newest.paint, mam: b.mamOut.slice(),"
            " fins: b.finIn.slice(f), tasks: b.longtasks,"
            " rows: document.querySelectorAll('#messages .msg').length}; }", [n, fins])
        click, found = r["click"], r["found"]
        queries = [q for q in r["mam"] if click <= q[0] <= found]
        out.update(
            open=found - click, open_paint=r["paint"] - click, rows_drawn=r["rows"],
            archive_queries=len(queries),
            archive_queries_with_contact=sum(1 for q in queries if q[1] == jid),
            click_to_query_sent=(queries[0][0] - click) if queries else None,
            query_to_answer=(min((f for f in r["fins"] if f >= queries[0][0]), default=found)
                             - queries[0][0]) if queries else None,
            long_tasks=long_tasks(r["tasks"], click, r["paint"]),
        )
        return out

    def profile_start(self, ctx: Any, page: Any) -> None:
        if self.cpu_profile is None:
            return
        self.cdp = ctx.new_cdp_session(page)
        self.cdp.send("Profiler.enable")
        self.cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        self.cdp.send("Profiler.start")

    def profile_stop(self, name: str) -> dict[str, Any] | None:
        if self.cdp is None or self.cpu_profile is None:
            return None
        profile = self.cdp.send("Profiler.stop")["profile"]
        self.cdp.detach()
        self.cdp = None
        self.cpu_profile.mkdir(parents=True, exist_ok=True)
        (self.cpu_profile / f"{name}.cpuprofile").write_text(json.dumps(profile))
        return cpu_summary(profile)

    # -- the steps ---------------------------------------------------------------
    def fresh_login(self, page: Any, user: str, trusted: bool) -> dict[str, Any]:
        """Load, log in; back once the login catch-up is over."""
        self.load(page)
        page.evaluate("() => { window.__hb.sync = {shown: false, shownAt: null,"
                      " hiddenAt: null, lastText: null}; }")
        click = self.login(page, user, trusted)
        self.wait_settled(page, f"{BOB}@{DOMAIN}")
        s = page.evaluate("() => window.__hb.sync")
        return {"catchup": (s["hiddenAt"] - click) if s["hiddenAt"] else None,
                "catchup_text": s["lastText"]}

    def logout(self, page: Any) -> None:
        page.get_by_role("button", name="Log out").click(timeout=LOAD_TIMEOUT_MS)
        page.locator("#login-screen").wait_for(state="visible", timeout=LOAD_TIMEOUT_MS)

    def run(self, i: int, profiled: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"account": account(i)}
        profiles: dict[str, Any] = {}
        t_run = time.monotonic()
        try:
            self._steps(i, out, profiles, profiled)
        finally:
            t_end = time.monotonic()
            out["foreign_cpu_s"] = self._foreign(t_run, t_end)
            if self.foreign is not None:
                out["foreign_top"] = self.foreign.top(t_run, t_end)
        if profiled:
            out["cpu_profile_top"] = profiles
        return out

    def _foreign(self, t0: float, t1: float) -> float | None:
        return None if self.foreign is None else self.foreign.between(t0, t1)

    def _steps(self, i: int, out: dict[str, Any], profiles: dict[str, Any],
               profiled: bool) -> None:
        user = account(i)
        own = f"{user}@{DOMAIN}"
        bob = f"{BOB}@{DOMAIN}"

        # 1. A new device, not trusted (memory only): the newest-200 catch-up,
        #    then Bob's chat from the server archive.
        ctx = self.context(f"{user}-untrusted")
        try:
            page = self.page(ctx)
            first = self.fresh_login(page, user, trusted=False)
            out["first_login_catchup"] = first["catchup"]
            out["first_login_catchup_text"] = first["catchup_text"]
            out["bob_preview_before_open"] = page.evaluate(
                f"() => {{ const p = document.querySelector("
                f"'#contacts li[data-jid=\"{bob}\"] .contact-preview');"
                " return p ? p.textContent : ''; }")
            time.sleep(0.5)
            if profiled:
                self.profile_start(ctx, page)
            out["cold"] = self.open_chat(page, bob, newest_history_text())
            if profiled:
                profiles["open_cold"] = self.profile_stop(f"{user}-open-cold")
            self.logout(page)
        finally:
            ctx.close()

        ctx = self.context(f"{user}-trusted")
        try:
            page = self.page(ctx)

            # 2. A new trusted device: Bob's chat (first open, from the archive),
            #    then scroll back through all 2,000 (archive pages) until stored.
            self.fresh_login(page, user, trusted=True)
            time.sleep(0.5)
            out["cold_trusted"] = self.open_chat(page, bob, newest_history_text(),
                                                 timeout_ms=TRUSTED_OPEN_TIMEOUT_MS)
            if out["cold_trusted"]["open"] is None:
                # Open another chat and Bob's again (the stored read is over now).
                page.locator(f'#contacts li[data-jid="{other(0)}@{DOMAIN}"] button').click()
                time.sleep(0.3)
                out["cold_trusted_reopen"] = self.open_chat(page, bob, newest_history_text())
            t0 = time.monotonic()
            took = page.evaluate(SCROLL_BACK, [oldest_history_text(), SCROLLBACK_TIMEOUT_MS])
            out["scrollback"] = took
            out["scrollback_rows_drawn"] = page.evaluate(
                "() => document.querySelectorAll('#messages .msg').length")
            stored = -1
            while time.monotonic() - t0 < SCROLLBACK_TIMEOUT_MS / 1000.0:
                stored = page.evaluate(IDB_COUNT, [own, bob])
                if stored >= N_HISTORY or took is None:
                    break
                time.sleep(0.25)
            out["stored_after_scrollback"] = stored
            out["scrollback_to_stored_s"] = time.monotonic() - t0

            # 3. Reload, log in, open Bob's chat from IndexedDB.
            out["relogin_catchup"] = self.fresh_login(page, user, trusted=True)["catchup"]
            time.sleep(0.5)
            out["warm"] = self.open_chat(page, bob, newest_history_text())

            # 4. The burst, chat open.
            time.sleep(0.5)
            out["burst"] = self.burst(page, ctx, i, profiles if profiled else None)

            # 5. Log out; 20 peers write 100 each; come back: the catch-up.
            self.logout(page)
            time.sleep(0.5)  # let the session leave Prosody (messages go offline/archive)
            out["catchup_seed"] = self.seed_catchup(own)
            out["catchup_offline_stored"] = self.prosody.stored("offline", user)
            self.load(page)
            t0 = time.monotonic()
            out["catchup"] = self.catchup(ctx, page, user, profiles if profiled else None)
            out["catchup_foreign_cpu_s"] = self._foreign(t0, time.monotonic())
        finally:
            ctx.close()

    def burst(self, page: Any, ctx: Any, i: int,
              profiles: dict[str, Any] | None) -> dict[str, Any]:
        prefix = f"burst{i}-"
        bodies = [f"{prefix}{k:03d} hello from the burst" for k in range(N_BURST)]
        page.evaluate("([p, last]) => { const b = window.__hb; b.burst = {prefix: p,"
                      " first: null}; b.watchNewest(last); }", [prefix, bodies[-1]])
        if profiles is not None:
            self.profile_start(ctx, page)
        self.bob.send_many(f"{account(i)}@{DOMAIN}", bodies)
        out: dict[str, Any] = {"burst": None, "burst_paint": None}
        try:
            page.wait_for_function("() => window.__hb.newest.paint !== null",
                                   timeout=BURST_TIMEOUT_MS, polling=100)
        except Exception:
            out["burst_failed"] = page.evaluate(
                "() => { const r = document.querySelectorAll('#messages .msg .body');"
                " return {rows: r.length, last: r.length ? r[r.length-1].textContent : null}; }")
            return out
        finally:
            if profiles is not None:
                profiles["burst"] = self.profile_stop(f"{account(i)}-burst")
        r = page.evaluate("() => { const b = window.__hb; return {first: b.burst.first,"
                          " last: b.newest.found, paint: b.newest.paint, tasks: b.longtasks,"
                          " rows: document.querySelectorAll('#messages .msg').length}; }")
        out.update(burst=r["last"] - r["first"], burst_paint=r["paint"] - r["first"],
                   rows_drawn=r["rows"], long_tasks=long_tasks(r["tasks"], r["first"], r["paint"]))
        return out

    def seed_catchup(self, to: str) -> dict[str, Any]:
        """Each catch-up peer sends 100 (in parallel); back once the server has them all."""
        t0 = time.perf_counter()
        for k, peer in enumerate(self.catchup_peers):
            peer.send_many(to, [f"m{k:02d}-{j:03d} while you were away, from {peer.bare}"
                                for j in range(N_CATCHUP_EACH)])
        for peer in self.catchup_peers:
            peer.sync(timeout=60)
        return {"ms": (time.perf_counter() - t0) * 1000.0,
                "messages": N_CATCHUP_PEERS * N_CATCHUP_EACH}

    def catchup(self, ctx: Any, page: Any, user: str,
                profiles: dict[str, Any] | None) -> dict[str, Any]:
        want = {f"{catchup_peer(k)}@{DOMAIN}": N_CATCHUP_EACH for k in range(N_CATCHUP_PEERS)}
        page.evaluate("(want) => { const b = window.__hb; b.sync = {shown: false,"
                      " shownAt: null, hiddenAt: null, lastText: null};"
                      " b.unread = {want, at: null}; }", want)
        if profiles is not None:
            self.profile_start(ctx, page)
        cpu0 = self.prosody.cpu_ms()
        click = self.login(page, user)
        out: dict[str, Any] = {"catchup": None}
        try:
            page.wait_for_function(
                "() => { const b = window.__hb; return b.sync.hiddenAt !== null"
                " && b.unread.at !== null; }", timeout=CATCHUP_TIMEOUT_MS, polling=100)
        except Exception:
            r = page.evaluate("() => { const b = window.__hb; return {sync: b.sync,"
                              " badges: b.badges(), framesIn: b.framesIn}; }")
            out["catchup_failed"] = {
                "sync_shown": r["sync"]["shown"], "sync_hidden": r["sync"]["hiddenAt"],
                "sync_text": r["sync"]["lastText"], "frames_in": r["framesIn"],
                "badges": sorted(set(r["badges"].values())),
                "badges_wrong": {k: v for k, v in r["badges"].items() if v != N_CATCHUP_EACH},
            }
            if profiles is not None:
                profiles["catchup"] = self.profile_stop(f"{user}-catchup")
            return out
        cpu1 = self.prosody.cpu_ms()
        if profiles is not None:
            profiles["catchup"] = self.profile_stop(f"{user}-catchup")
        time.sleep(2.0)  # long tasks right after (stored pages, writes)
        r = page.evaluate("() => { const b = window.__hb; return {sync: b.sync,"
                          " unread: b.unread.at, tasks: b.longtasks, loaf: b.loaf,"
                          " mam: b.mamOut, fins: b.finIn, framesIn: b.framesIn,"
                          " presence: b.presenceOut, now: performance.now()}; }")
        done = max(r["sync"]["hiddenAt"], r["unread"])
        queries = [q for q in r["mam"] if q[0] >= click]
        loaf = r["loaf"] or []
        # The catch-up's queries go one after another: each one's answer is
        # the first <fin/> after it; the time to the next query is the client's.
        fins = sorted(f for f in r["fins"] if f >= click)
        server, client = [], []
        for k, q in enumerate(queries):
            fin = next((f for f in fins if f >= q[0]), None)
            if fin is None:
                break
            server.append(fin - q[0])
            if k + 1 < len(queries):
                client.append(queries[k + 1][0] - fin)
        out.update(
            query_round_trip_ms=summary(server), between_queries_ms=summary(client),
            catchup=done - click,
            sync_hidden=r["sync"]["hiddenAt"] - click,
            unread_right=r["unread"] - click,
            sync_last_text=r["sync"]["lastText"],
            archive_queries=len(queries),
            first_query_sent=(queries[0][0] - click) if queries else None,
            initial_presence_sent=next((t - click for t in r["presence"] if t >= click), None),
            prosody_cpu_ms=None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
            last_answer=(max(r["fins"]) - click) if r["fins"] else None,
            frames_in=r["framesIn"],
            long_tasks=long_tasks(r["tasks"], click, done),
            long_tasks_after=long_tasks(r["tasks"], done, r["now"]),
            long_frames_by_invoker=_by_invoker(f for f in loaf if click <= f["start"] <= done),
            longest_frames=sorted((f for f in loaf if click <= f["start"] <= done),
                                  key=lambda f: -f["duration"])[:5],
        )
        return out


FIGURES: dict[str, tuple[tuple[str, ...], str]] = {
    # name: (path in a run, doc)
    "open_cold_ms": (("cold", "open"),
                     "click on Bob → his newest message is the last row, on screen "
                     "(new device: from the server archive)"),
    "open_cold_paint_ms": (("cold", "open_paint"), "same, to the next animation frame"),
    "open_cold_query_to_answer_ms": (("cold", "query_to_answer"),
                                     "archive query sent → its <fin/> received (server side)"),
    "open_cold_trusted_ms": (("cold_trusted", "open"),
                             "same on a new trusted device (stored read first, then archive)"),
    "open_cold_trusted_reopen_ms": (("cold_trusted_reopen", "open"),
                                    "when that never showed: another chat, then Bob again"),
    "open_warm_ms": (("warm", "open"),
                     "click on Bob → newest on screen (trusted device, from IndexedDB)"),
    "open_warm_paint_ms": (("warm", "open_paint"), "same, to the next animation frame"),
    "burst_ms": (("burst", "burst"), "chat with 2,000 open: first → 500th burst message is "
                                     "the last row, on screen"),
    "burst_paint_ms": (("burst", "burst_paint"), "same, to the next animation frame"),
    "catchup_ms": (("catchup", "catchup"), "Log in click → sync status hidden and all 20 "
                                           "unread counts read 100 (2,000 missed messages)"),
    "catchup_sync_hidden_ms": (("catchup", "sync_hidden"), "Log in click → sync status hidden"),
    "catchup_unread_right_ms": (("catchup", "unread_right"),
                                "Log in click → all 20 unread counts read 100"),
    "catchup_longest_task_ms": (("catchup", "long_tasks", "longest_ms"),
                                "longest task during the catch-up (PerformanceObserver)"),
    "catchup_tasks_over_100ms": (("catchup", "long_tasks", "over_100ms"),
                                 "long tasks over 100 ms during the catch-up"),
    "catchup_long_task_total_ms": (("catchup", "long_tasks", "total_ms"),
                                   "sum of the long tasks (> 50 ms) during the catch-up"),
    "catchup_longest_task_after_ms": (("catchup", "long_tasks_after", "longest_ms"),
                                      "longest task in the 2 s after the catch-up"),
    "open_cold_longest_task_ms": (("cold", "long_tasks", "longest_ms"),
                                  "longest task from the click to the newest painted (cold)"),
    "open_warm_longest_task_ms": (("warm", "long_tasks", "longest_ms"), "same, warm"),
    "burst_longest_task_ms": (("burst", "long_tasks", "longest_ms"),
                              "longest task during the burst"),
    "first_login_catchup_ms": (("first_login_catchup",),
                               "new device: Log in click → the newest-200 catch-up done"),
    "scrollback_ms": (("scrollback",), "scroll from the newest to the oldest of the 2,000 "
                                       "(39 archive pages of 50, rows drawn as they come)"),
    "catchup_prosody_cpu_ms": (("catchup", "prosody_cpu_ms"),
                               "Prosody's CPU time during the catch-up (its file archive "
                               "reads the whole list per query)"),
    "foreign_cpu_s": (("foreign_cpu_s",), "CPU seconds used by other processes on the machine "
                                          "during the run (not this script, its browser or "
                                          "servers): > 2 s means the figures had company"),
    "catchup_foreign_cpu_s": (("catchup_foreign_cpu_s",), "same, during the catch-up step"),
    "catchup_seed_ms": (("catchup_seed", "ms"),
                        "20 slixmpp peers send 100 each to the away account (server has all)"),
}


def dig(run: Mapping[str, Any], path: tuple[str, ...]) -> float | None:
    cur: Any = run
    for part in path:
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return float(cur) if isinstance(cur, (int, float)) else None


def report(runs: list[dict[str, Any]], errors: list[str], dist: Path,
           setup: dict[str, Any], profiled: dict[str, Any] | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "bench": "history",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "chromium": chromium_version()},
        "setup": {**setup, "runs": len(runs), "dist": str(dist)},
        "figures": {name: doc for name, (_path, doc) in FIGURES.items()},
        "targets_ms": TARGETS_MS,
        "reference_ms": REFERENCE_MS,
        "results": {name: summary(dig(r, path) for r in runs)
                    for name, (path, _doc) in FIGURES.items()},
    }
    med = {k: v["median"] for k, v in res["results"].items()}
    pairs = {"open_cold": med["open_cold_ms"], "open_warm": med["open_warm_ms"],
             "burst": med["burst_ms"], "catchup": med["catchup_ms"]}
    res["vs_reference"] = {k: None if pairs[k] is None else round(pairs[k] / v, 3)
                           for k, v in REFERENCE_MS.items()}
    meets: dict[str, bool | None] = {k: None if v is None else v < TARGETS_MS[k]
                                     for k, v in pairs.items()}
    worst = [dig(r, ("catchup", "long_tasks", "longest_ms")) for r in runs]
    got = [w for w in worst if w is not None]
    meets["catchup_longest_task"] = (max(got) <= TARGETS_MS["catchup_longest_task"]
                                     if got and len(got) == len(runs) else None)
    res["meets_target"] = meets
    res["runs_with_company"] = [
        i for i, r in enumerate(runs) if (dig(r, ("foreign_cpu_s",)) or 0.0) > FOREIGN_CPU_S]
    res["runs_detail"] = runs
    if profiled is not None:
        res["profiled_run"] = profiled
    res["page_errors"] = errors[:20]
    return res



def _brief(run: Mapping[str, Any]) -> dict[str, Any]:
    return {name: (None if (v := dig(run, path)) is None else round(v, 1))
            for name, (path, _doc) in FIGURES.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dist", type=Path, default=None, help="use this built bundle")
    ap.add_argument("--cpu-profile", type=Path, default=None, metavar="DIR",
                    help="one extra, unmeasured run under the CDP CPU profiler: "
                         ".cpuprofile files in DIR and the top functions in the JSON")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    n_accounts = args.runs + (1 if args.cpu_profile else 0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="roost-bench-history-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        dist = args.dist or build_dist(tmp / "dist")
        build_s = time.perf_counter() - t0
        prosody = make_prosody(tmp, [account(i) for i in range(n_accounts)])
        peers: list[ThreadedPeer] = []
        server: RoostServer | None = None
        try:
            t0 = time.perf_counter()
            bob = ThreadedPeer(f"{BOB}@{DOMAIN}/bench", BOB, prosody.c2s_port)
            peers.append(bob)
            catchup = [ThreadedPeer(f"{catchup_peer(k)}@{DOMAIN}/bench", catchup_peer(k),
                                    prosody.c2s_port) for k in range(N_CATCHUP_PEERS)]
            peers.extend(catchup)
            peers_s = time.perf_counter() - t0
            (tmp / "roost").mkdir()
            server = RoostServer(tmp / "roost", dist, prosody)
            setup = {
                "history_messages": N_HISTORY, "newer_messages": N_NEWER,
                "login_catchup": ARCHIVE_HISTORY, "burst_messages": N_BURST,
                "catchup_peers": N_CATCHUP_PEERS, "catchup_each": N_CATCHUP_EACH,
                "archive_seed_ms": round(prosody.seed_ms, 1),
                "archive_seed_how": "Prosody's internal archive store written before start "
                                    f"({n_accounts} accounts x {N_HISTORY + N_NEWER} items)",
                "peers_login_s": round(peers_s, 2), "build_s": round(build_s, 2),
            }
            runs: list[dict[str, Any]] = []
            profiled: dict[str, Any] | None = None
            foreign = ForeignCpu().start()
            with sync_playwright() as pw:
                bench = Bench(pw, server.url, prosody, bob, catchup, tmp, args.cpu_profile,
                              foreign)
                for i in range(args.runs):
                    try:
                        runs.append(bench.run(i))
                    except Exception as exc:  # a step timed out: keep the other runs
                        print("page errors so far:", *bench.errors, sep="\n  ", file=sys.stderr)
                        runs.append({"account": account(i), "failed": repr(exc)[:800]})
                    print(f"run {i + 1}/{args.runs}: {json.dumps(_brief(runs[-1]))}",
                          file=sys.stderr)
                if args.cpu_profile:
                    profiled = bench.run(args.runs, profiled=True)
                    print(f"profiled run: {json.dumps(_brief(profiled))}", file=sys.stderr)
            foreign.stop()
            setup["total_s"] = round(time.perf_counter() - started, 1)
            result = report(runs, bench.errors, dist, setup, profiled)
        finally:
            for peer in peers:
                peer.stop()
            if server is not None:
                server.stop()
            prosody.stop()
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
