"""Room benchmark: join a room with 500 history messages and 500 occupants,
then stay responsive while 20 messages a second arrive.

    .venv/bin/python bench/bench_rooms.py [--runs 3] [--out bench/results/rooms.json]
                                          [--dist DIR] [--occupants 500] [--history 500]
                                          [--cpu-profile DIR] [--profile-interval-us 500]

Starts its own Prosody (temp dir) and `roost serve`, builds `dist/` once (or
uses `--dist`). A crowd of raw XMPP connections (one account, a resource
each: asyncio sockets, not slixmpp, so 500 fit in little memory) fills the
room `big@conference.localhost`: the first posts the history, then all join.
Each run is a fresh Chromium context that logs in (untrusted) as an account
of its own (no bookmark from an earlier run autojoins) and, once the room is
at rest (the crowd read nothing for SETTLE_QUIET_S, Prosody idle: a big room
is one people joined over time, not a join racing 125,000 presences of
fan-out), joins it through the "Join a room" dialog with its own nickname:

- **join**: from the Join click (page clock) until the room's newest history
  message is the last row on screen AND the occupants button counts at least
  every crowd member;
- **live**: then 20 messages a second for `LIVE_S` seconds while the page
  scrolls the message list up and down and types in the composer: the long
  tasks (PerformanceObserver) and whether every live message showed.

Prints one JSON object (and writes `--out`). A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.devserver.prosody import ProsodyServer  # noqa: E402
from bench.common import chromium_version, cpus, emit  # noqa: E402
from tests.browser.conftest import RoostServer  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

ROOM = "big@conference.localhost"
TARGETS_MS = {"join": 300.0, "live_longest_task": 100.0}
REFERENCE_MS = {"join_500_history_few_occupants": 210.0}
LIVE_RATE = 20  # messages a second
LIVE_S = 10
# Before each timed join: the crowd read nothing for this long and Prosody is idle.
SETTLE_QUIET_S = 1.5
PROSODY_IDLE_CPU = 0.05  # share of one core over the last SETTLE_STEP_S
SETTLE_STEP_S = 0.25
_PRESENCE_TAG = re.compile(rb"<presence\b[^>]*>")
_FROM_NICK = re.compile(rb"from=['\"]" + re.escape(ROOM.encode()) + rb"/([^'\"]+)['\"]")
STREAM = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")

LONGTASKS = """
(() => {
  window.__rb = { longtasks: [] };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) { window.__rb.longtasks.push([e.startTime, e.duration]); }
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { window.__rb.longtasks = null; }
  // The room's answers as they reach the page: occupant presences, our own
  // (status 110), the room archive's <fin/>; and when the join left.
  const b = window.__rb;
  b.joinOut = null; b.firstPresence = null; b.selfPresence = null; b.fin = null;
  b.presences = 0; b.historyShown = null; b.occupantsShown = null;
  b.frames = 0; b.framesAtClick = 0;
  const Orig = window.WebSocket;
  class BenchSocket extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        const d = ev.data;
        b.frames++;
        if (typeof d !== "string" || d.indexOf("big@conference") < 0) { return; }
        const t = performance.now();
        if (d.startsWith("<presence")) {
          b.presences++;
          if (b.firstPresence === null) { b.firstPresence = t; }
          if (d.indexOf("code='110'") >= 0 || d.indexOf('code="110"') >= 0) { b.selfPresence = t; }
        } else if (d.indexOf("<fin") >= 0 && b.fin === null) { b.fin = t; }
      });
    }
    send(data) {
      if (typeof data === "string" && data.startsWith("<presence") &&
          data.indexOf("big@conference") >= 0 && b.joinOut === null) {
        b.joinOut = performance.now();
      }
      return super.send(data);
    }
  }
  window.WebSocket = BenchSocket;
})();
"""


class Crowd:
    """`n` occupants of one account on their own asyncio loop (a thread)."""

    def __init__(self, port: int, n: int) -> None:
        self.port = port
        self.n = n
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.last_body = ""  # the room's newest message
        # When any crowd connection last read something (the room's fan-out
        # reaching us); the nicks the first one saw leave the room, and when
        # it saw each one come in (monotonic clock).
        self.last_read = time.monotonic()
        self.left: set[str] = set()
        self.came: dict[str, float] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _until(self, reader: asyncio.StreamReader, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError(f"closed before {marker!r}: {data[-300:]!r}")
            self.last_read = time.monotonic()
            data += chunk
        return data

    async def _drain(self, reader: asyncio.StreamReader, watch: bool) -> None:
        """Read what the room sends; `watch`: note who comes and goes (one connection does)."""
        tail = b""
        while chunk := await reader.read(65536):
            self.last_read = time.monotonic()
            if not watch:
                continue
            data = tail + chunk
            end = 0
            for tag in _PRESENCE_TAG.finditer(data):
                end = tag.end()
                nick = _FROM_NICK.search(tag.group(0))
                if nick is None:
                    continue
                if b"unavailable" in tag.group(0):
                    self.left.add(nick.group(1).decode())
                else:
                    self.came.setdefault(nick.group(1).decode(), self.last_read)
            start = data.rfind(b"<presence", end)
            tail = data[start:] if start >= 0 else data[-8:]  # a tag cut by the read

    async def connect(self, i: int) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(STREAM.encode())
        await self._until(reader, b"</stream:features>")
        plain = base64.b64encode(b"\0crowd\0crowd").decode()
        writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                     f"{plain}</auth>".encode())
        await self._until(reader, b"<success")
        writer.write(STREAM.encode())
        await self._until(reader, b"</stream:features>")
        writer.write(f"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                     f"<resource>c{i}</resource></bind></iq>".encode())
        await self._until(reader, b"</iq>")
        writer.write(f"<presence to='{ROOM}/member{i:03d}'>"
                     "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x>"
                     "</presence>".encode())
        await self._until(reader, b"110")  # our own presence in the room
        self.loop.create_task(self._drain(reader, watch=i == 0))
        return writer

    async def fill(self, history: int) -> float:
        t0 = time.perf_counter()
        first = await self.connect(0)
        self.writers.append(first)
        # Room public, persistent, named (the owner's form).
        first.write(
            f"<iq type='set' to='{ROOM}' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'>"
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
            "<field var='muc#roomconfig_roomname'><value>Big room</value></field>"
            "</x></query></iq>".encode())
        for k in range(history):
            self.last_body = f"history {k:04d}"
            first.write(f"<message type='groupchat' to='{ROOM}'><body>{self.last_body}</body>"
                        "</message>".encode())
            if k % 50 == 49:
                await first.drain()
        await first.drain()
        sem = asyncio.Semaphore(25)

        async def one(i: int) -> None:
            async with sem:
                self.writers.append(await self.connect(i))

        await asyncio.gather(*(one(i) for i in range(1, self.n)))
        return time.perf_counter() - t0

    async def live(self, rate: int, seconds: float, prefix: str) -> int:
        writer = self.writers[0]
        sent = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.last_body = f"{prefix} {sent:04d}"
            writer.write(f"<message type='groupchat' to='{ROOM}'><body>{self.last_body}"
                         "</body></message>".encode())
            await writer.drain()
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        return sent

    def close(self) -> None:
        async def stop() -> None:
            for w in self.writers:
                w.close()
            for task in asyncio.all_tasks(self.loop):
                if task is not asyncio.current_task():
                    task.cancel()

        try:
            self.run(stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(crowd: Crowd, prosody_pid: int, timeout: float = 300) -> float:
    """Wait until the room is at rest: the crowd read nothing for
    SETTLE_QUIET_S and Prosody used under PROSODY_IDLE_CPU of a core in the
    last SETTLE_STEP_S. The seconds it took."""
    start = time.monotonic()
    cpu = _cpu_s(prosody_pid)
    while time.monotonic() - start < timeout:
        time.sleep(SETTLE_STEP_S)
        now_cpu = _cpu_s(prosody_pid)
        busy = (now_cpu - cpu) / SETTLE_STEP_S
        cpu = now_cpu
        if time.monotonic() - crowd.last_read >= SETTLE_QUIET_S and busy < PROSODY_IDLE_CPU:
            break
    return time.monotonic() - start


def one_run(pw: Any, url: str, crowd: Crowd, run: int, history: int, prosody_pid: int,
            proxy_pid: int, profile_dir: Path | None = None,
            profile_interval_us: int = 500) -> dict[str, Any]:
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.add_init_script(LONGTASKS)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)[:300]))
        page.goto(url)
        page.get_by_label("Address").fill(f"alice{run}")
        page.get_by_label("Password").fill("alice")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out").wait_for(state="visible", timeout=60_000)
        page.get_by_role("button", name="Join a room").click()
        page.get_by_label("Room address").fill(ROOM)
        page.get_by_label("Nickname").fill(f"alice{run}")
        settle_s = settle(crowd, prosody_pid)
        cdp = None
        if profile_dir is not None:
            cdp = ctx.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": profile_interval_us})
            cdp.send("Profiler.start")
        cpu0 = {"prosody": _cpu_s(prosody_pid), "proxy": _cpu_s(proxy_pid)}
        host_t0 = time.monotonic()
        t0 = page.evaluate("""() => {
          const b = Array.from(document.querySelectorAll('dialog button, [role=dialog] button'))
            .find((x) => x.textContent.trim() === 'Join');
          window.__rb.framesAtClick = window.__rb.frames;
          const t = performance.now(); b.click(); return t; }""")
        want_text = crowd.last_body  # the room's newest: history, or the last run's live
        done = page.wait_for_function(
            """([text, crowd]) => {
              // Each half's first frame is noted: which one is the join's tail.
              const b = window.__rb, now = performance.now();
              const log = document.getElementById('messages');
              const rows = log ? log.getElementsByClassName('msg') : [];
              const last = rows[rows.length - 1];
              const body = last && last.querySelector('.body');
              let shown = !!body && body.textContent === text;
              if (shown) {
                const box = log.getBoundingClientRect(), r = last.getBoundingClientRect();
                shown = r.bottom > box.top && r.top < box.bottom;
              }
              const t = document.getElementById('occupants-toggle');
              const m = t && !t.hidden && /\\((\\d+)\\)/.exec(t.textContent || '');
              const counted = !!m && Number(m[1]) >= crowd;
              if (shown && b.historyShown === null) { b.historyShown = now; }
              if (counted && b.occupantsShown === null) { b.occupantsShown = now; }
              return shown && counted ? now : false;
            }""", arg=[want_text, crowd.n], polling="raf", timeout=120_000)
        join_ms = float(done.json_value()) - float(t0)
        cpu_ms = {k: round((_cpu_s(pid) - cpu0[k]) * 1000)
                  for k, pid in (("prosody", prosody_pid), ("proxy", proxy_pid))}
        profile_top = None
        if cdp is not None and profile_dir is not None:
            import json

            from bench.bench_history import cpu_summary

            profile = cdp.send("Profiler.stop")["profile"]
            cdp.detach()
            profile_dir.mkdir(parents=True, exist_ok=True)
            (profile_dir / f"rooms-join-{run}.cpuprofile").write_text(json.dumps(profile))
            profile_top = cpu_summary(profile)
        marks = page.evaluate("""() => { const b = window.__rb;
          return {join_out: b.joinOut, first_presence: b.firstPresence,
                  self_presence: b.selfPresence, fin: b.fin, presences: b.presences,
                  history_shown: b.historyShown, occupants_shown: b.occupantsShown,
                  frames: b.frames - b.framesAtClick}; }""")
        counts = ("presences", "frames")
        timeline = {k: (v if v is None or k in counts else round(float(v) - float(t0), 1))
                    for k, v in marks.items()}
        # Prosody's broadcast of our join reaching the crowd (bench clock, so
        # only to a few ms: the click's round trip to the page).
        came = crowd.came.get(f"alice{run}")
        timeline["crowd_saw_join"] = None if came is None else round((came - host_t0) * 1000, 1)
        # CPU the server side spent from the click until the join showed
        # (clock ticks: 10 ms steps), the roost proxy relaying each stanza.
        timeline["prosody_cpu"] = cpu_ms["prosody"]
        timeline["proxy_cpu"] = cpu_ms["proxy"]
        page.wait_for_timeout(300)
        # Live traffic while the user scrolls and types.
        mark = page.evaluate("() => performance.now()")
        prefix = f"live{run}"
        fut = asyncio.run_coroutine_threadsafe(crowd.live(LIVE_RATE, LIVE_S, prefix), crowd.loop)
        composer = page.get_by_role("textbox", name="Message")
        log = page.locator("#messages")
        end = time.perf_counter() + LIVE_S
        while time.perf_counter() < end:
            log.hover()
            page.mouse.wheel(0, -600)
            composer.type("typing along ", delay=20)
            page.mouse.wheel(0, 1200)
        sent = fut.result(60)
        last = f"{prefix} {sent - 1:04d}"
        shown = True
        try:
            page.get_by_text(last, exact=True).wait_for(state="attached", timeout=20_000)
        except Exception:
            shown = False
        tasks = page.evaluate("(m) => (window.__rb.longtasks || []).filter(t => t[0] >= m)",
                              mark)
        ctx.close()
        return {
            "join_ms": round(join_ms, 1),
            "settle_s": round(settle_s, 1),
            "join_timeline_ms": timeline,
            "join_cpu_profile_top": profile_top,
            "live_sent": sent,
            "live_last_shown": shown,
            "live_longest_task_ms": max((d for _s, d in tasks), default=0.0),
            "live_tasks_over_100ms": sum(1 for _s, d in tasks if d > 100),
            "page_errors": errors,
        }
    finally:
        browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dist", type=Path, default=None)
    ap.add_argument("--occupants", type=int, default=500)
    ap.add_argument("--history", type=int, default=500)
    ap.add_argument("--cpu-profile", type=Path, default=None, metavar="DIR",
                    help="profile each join (CDP): .cpuprofile files and top functions")
    ap.add_argument("--profile-interval-us", type=int, default=500,
                    help="sampling interval of --cpu-profile (coarser: less overhead)")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="roost-bench-rooms-") as tmp_name:
        tmp = Path(tmp_name)
        if args.dist is None:
            import subprocess

            dist = tmp / "dist"
            subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(dist)],
                           check=True, cwd=ROOT, capture_output=True, timeout=300)
        else:
            dist = args.dist.resolve()
        # A fresh account per run: the last run's bookmark would autojoin the room.
        users = {f"alice{i}": "alice" for i in range(args.runs)}
        prosody = ProsodyServer(tmp / "prosody", users={**users, "crowd": "crowd"},
                                smacks_hibernation_time=5).start()
        assert prosody.proc is not None
        prosody_pid = prosody.proc.pid
        crowd = Crowd(prosody.c2s_port, args.occupants)
        server = None
        try:
            fill_s = crowd.run(crowd.fill(args.history))
            (tmp / "roost").mkdir()
            server = RoostServer(tmp / "roost", dist, prosody)
            runs = []
            with sync_playwright() as pw:
                for i in range(args.runs):
                    try:
                        runs.append(one_run(pw, server.url, crowd, i, args.history,
                                            prosody_pid, server.proc.pid, args.cpu_profile,
                                            args.profile_interval_us))
                    except Exception as exc:
                        runs.append({"failed": repr(exc)[:600]})
                    # This run's occupant leaves when its session's hibernation
                    # ends: the room's fan-out of that is no part of the next run.
                    deadline = time.monotonic() + 30
                    while f"alice{i}" not in crowd.left and time.monotonic() < deadline:
                        time.sleep(0.1)
                    print(f"run {i + 1}/{args.runs}: {runs[-1]}", file=sys.stderr)
        finally:
            crowd.close()
            if server is not None:
                server.stop()
            prosody.stop()

    def stats(key: str) -> dict[str, Any]:
        vals = [r[key] for r in runs if key in r]
        if not vals:
            return {"median": None, "values": []}
        return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                "values": vals}

    results = {k: stats(k) for k in ("join_ms", "live_longest_task_ms", "live_tasks_over_100ms")}
    join = results["join_ms"]["median"]
    longest = results["live_longest_task_ms"]["median"]
    result = {
        "bench": "rooms",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": cpus(), "chromium": chromium_version()},
        "setup": {"occupants": args.occupants, "history": args.history,
                  "live_rate_per_s": LIVE_RATE, "live_s": LIVE_S,
                  "crowd_fill_s": round(fill_s, 1)},
        "targets_ms": TARGETS_MS,
        "reference_ms": REFERENCE_MS,
        "results": results,
        "meets_target": {
            "join": join is not None and join < TARGETS_MS["join"],
            "live_longest_task": longest is not None
            and longest <= TARGETS_MS["live_longest_task"],
        },
        "runs_detail": runs,
    }
    return emit(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
