"""Room benchmark: join a room with 500 history messages and 500 occupants,
then stay responsive while 20 messages a second arrive.

    .venv/bin/python bench/bench_rooms.py [--runs 3] [--out bench/results/rooms.json]
                                          [--dist DIR] [--occupants 500] [--history 500]

Starts its own Prosody (temp dir) and `roost serve`, builds `dist/` once (or
uses `--dist`). A crowd of raw XMPP connections (one account, a resource
each: asyncio sockets, not slixmpp, so 500 fit in little memory) fills the
room `big@conference.localhost`: the first posts the history, then all join.
Each run is a fresh Chromium context that logs in (untrusted) and joins the
room through the "Join a room" dialog with its own nickname:

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
  b.presences = 0;
  const Orig = window.WebSocket;
  class BenchSocket extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        const d = ev.data;
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
            data += chunk
        return data

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

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
        self.loop.create_task(self._drain(reader))
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


def one_run(pw: Any, url: str, crowd: Crowd, run: int, history: int,
            profile_dir: Path | None = None) -> dict[str, Any]:
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.add_init_script(LONGTASKS)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)[:300]))
        page.goto(url)
        page.get_by_label("Address").fill("alice")
        page.get_by_label("Password").fill("alice")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out").wait_for(state="visible", timeout=60_000)
        page.get_by_role("button", name="Join a room").click()
        page.get_by_label("Room address").fill(ROOM)
        page.get_by_label("Nickname").fill(f"alice{run}")
        cdp = None
        if profile_dir is not None:
            cdp = ctx.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 500})
            cdp.send("Profiler.start")
        t0 = page.evaluate("""() => {
          const b = Array.from(document.querySelectorAll('dialog button, [role=dialog] button'))
            .find((x) => x.textContent.trim() === 'Join');
          const t = performance.now(); b.click(); return t; }""")
        want_text = crowd.last_body  # the room's newest: history, or the last run's live
        done = page.wait_for_function(
            """([text, crowd]) => {
              const log = document.getElementById('messages');
              const rows = log ? log.getElementsByClassName('msg') : [];
              const last = rows[rows.length - 1];
              const body = last && last.querySelector('.body');
              if (!body || body.textContent !== text) { return false; }
              const box = log.getBoundingClientRect(), r = last.getBoundingClientRect();
              if (!(r.bottom > box.top && r.top < box.bottom)) { return false; }
              const t = document.getElementById('occupants-toggle');
              const m = t && /\\((\\d+)\\)/.exec(t.textContent || '');
              return m && Number(m[1]) >= crowd ? performance.now() : false;
            }""", arg=[want_text, crowd.n], polling="raf", timeout=120_000)
        join_ms = float(done.json_value()) - float(t0)
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
                  self_presence: b.selfPresence, fin: b.fin, presences: b.presences}; }""")
        timeline = {k: (v if v is None or k == "presences" else round(float(v) - float(t0), 1))
                    for k, v in marks.items()}
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
        prosody = ProsodyServer(tmp / "prosody", users={"alice": "alice", "crowd": "crowd"},
                                smacks_hibernation_time=5).start()
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
                                            args.cpu_profile))
                    except Exception as exc:
                        runs.append({"failed": repr(exc)[:600]})
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
