"""Client benchmark: cold/warm start, login → 200-contact roster, 500-message burst, JS heap.

    .venv/bin/python bench/bench_client.py [--runs N] [--out bench/results/client.json]
                                           [--dist DIR] [--[no-]precompile] [--no-burst-warm]

Starts its own Prosody (temp dir) with a `bench` account whose roster holds
200 named contacts (5 of them online through slixmpp peers), builds `dist/`
once (or uses `--dist`), runs `roost serve`, and drives Debian's Chromium with
Playwright. All timings are taken inside the page (performance.now(), the
bundle's `performance.mark`s, a MutationObserver); see bench/README.md for what
each figure means. Prints one JSON object on stdout (and writes it to --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.devserver.prosody import Contact, ProsodyServer  # noqa: E402
from bench.common import chromium_version, cpus, emit  # noqa: E402
from tests.browser.conftest import RoostServer  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.threaded_peer import ThreadedPeer  # noqa: E402

DOMAIN = "localhost"
USER = "bench"
N_CONTACTS = 200
N_ONLINE = 5
N_BURST = 500
BURST_PEER = "p000"
BURST_PEER_NAME = "Aaron Burst"

TARGETS_MS = {"form_usable_cold": 150.0, "login_to_roster_cold": 700.0, "burst": 2000.0}
REFERENCE_MS = {"form_usable_cold": 410.0, "login_to_roster_cold": 660.0, "burst": 17500.0}

LOAD_TIMEOUT_MS = 30_000
ROSTER_TIMEOUT_MS = 60_000
BURST_TIMEOUT_MS = 120_000

FIRST = ["Aaron", "Beatriz", "Chen", "Dalia", "Emeka", "Fiona", "Gustav", "Hana", "Ivo", "Jun",
         "Kofi", "Lena", "Mateo", "Nadia", "Olek", "Priya", "Quinn", "Rosa", "Sami", "Tove"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Silva", "Haddad", "Kowalski",
        "Nguyen", "Schmidt"]

# Installed in every page before any of its scripts (context.add_init_script).
INSTRUMENT = r"""
(() => {
  if (window.__bench) { return; }
  const N_CONTACTS = %(contacts)d;
  const b = window.__bench = {
    fcp: null, formPresent: null, formUsable: null, click: null,
    roster: null, rosterPaint: null,
    burstPrefix: null, burstLastText: null, burstSeen: new Set(), burstFirst: null,
    burstLast: null,
    burstLastPaint: null,
  };
  function formReady() {
    const ids = ["login-address", "login-password", "login-submit"];
    for (const id of ids) {
      const el = document.getElementById(id);
      if (!el || el.disabled) { return false; }
    }
    return true;
  }
  function checkForm() {
    if (b.formPresent === null && formReady()) { b.formPresent = performance.now(); }
    if (b.formUsable === null && b.formPresent !== null && b.fcp !== null) {
      b.formUsable = Math.max(b.formPresent, b.fcp);
    }
  }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.name === "first-contentful-paint" && b.fcp === null) {
          b.fcp = e.startTime;
          checkForm();
        }
      }
    }).observe({ type: "paint", buffered: true });
  } catch (e) { /* no paint timing: formUsable stays null */ }
  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (b.click === null && t && t.closest && t.closest("#login-submit")) {
      b.click = performance.now();
    }
  }, true);
  function checkRoster() {
    if (b.roster !== null) { return; }
    const list = document.querySelector('[role=list][aria-label="Contacts"]');
    if (list && list.children.length >= N_CONTACTS) {
      b.roster = performance.now();
      requestAnimationFrame(() => { b.rosterPaint = performance.now(); });
    }
  }
  // The window of rows (render.js createMessageList) keeps a few hundred at
  // most: the burst is over when its last message is the bottom row, on screen.
  function burstDone() {
    const log = document.querySelector("[role=log]");
    if (!log) { return false; }
    const rows = log.getElementsByClassName("msg");
    const last = rows[rows.length - 1];
    const body = last ? last.querySelector(".body") : null;
    if (!body || body.textContent !== b.burstLastText) { return false; }
    const box = log.getBoundingClientRect();
    const r = last.getBoundingClientRect();
    return box.height > 0 && r.bottom > box.top && r.top < box.bottom;
  }
  function checkBurst(records) {
    if (b.burstPrefix === null || b.burstLast !== null) { return; }
    for (const r of records) {
      const t = r.target;
      if (!t || t.getAttribute === undefined || t.getAttribute("role") !== "log") { continue; }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) { continue; }
        const body = n.querySelector(".body");
        const text = body ? body.textContent : "";
        if (!text.startsWith(b.burstPrefix)) { continue; }
        if (b.burstFirst === null) { b.burstFirst = performance.now(); }
        b.burstSeen.add(text);  // rows drawn (diagnostic only)
      }
    }
    if (b.burstFirst !== null && burstDone()) {
      b.burstLast = performance.now();
      requestAnimationFrame(() => { b.burstLastPaint = performance.now(); });
    }
  }
  new MutationObserver((records) => {
    checkForm();
    checkRoster();
    checkBurst(records);
  }).observe(document, { childList: true, subtree: true, attributes: true,
                         attributeFilter: ["disabled"] });
  document.addEventListener("DOMContentLoaded", checkForm);
})();
"""

READ_LOAD = """() => {
  const b = window.__bench;
  const mark = (n) => {
    const e = performance.getEntriesByName(n);
    return e.length ? e[0].startTime : null;
  };
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    fcp: b.fcp, form_present: b.formPresent, form_usable: b.formUsable,
    dom_content_loaded: nav ? nav.domContentLoadedEventEnd : null,
    boot: mark("roost-boot"), dom_ready: mark("roost-dom-ready"),
    python_start: mark("roost-python-start"), python_ready: mark("roost-python-ready"),
    click: b.click, roster: b.roster, roster_paint: b.rosterPaint,
  };
}"""


def contact_name(i: int) -> str:
    if i == 0:
        return BURST_PEER_NAME
    return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i:03d}"


def make_prosody(root: Path) -> ProsodyServer:
    peers = [f"p{i:03d}" for i in range(N_CONTACTS)]
    users = {USER: USER, **{p: p for p in peers}}
    rosters = {
        USER: [Contact(f"{p}@{DOMAIN}", contact_name(i), "both", ["Bench"])
               for i, p in enumerate(peers)],
        # Only the peers that go online need the reverse entry (presence).
        **{p: [Contact(f"{USER}@{DOMAIN}", "Bench", "both")] for p in peers[:N_ONLINE]},
    }
    return ProsodyServer(root / "prosody", DOMAIN, users=users, rosters=rosters,
                         log_level="warn").start()


def build_dist(out: Path, precompile: bool | None = None) -> Path:
    # None: build.py's default (precompiled when Node is installed).
    flags = [] if precompile is None else ["--precompile" if precompile else "--no-precompile"]
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out), *flags],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    return out


def summary(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "values": values}
    return {"median": round(statistics.median(got), 1), "min": round(min(got), 1),
            "max": round(max(got), 1), "values": [None if v is None else round(v, 1)
                                                   for v in values]}


class Bench:
    def __init__(self, pw: Any, url: str, peer: ThreadedPeer, tmp: Path) -> None:
        self.pw = pw
        self.url = url
        self.peer = peer
        self.tmp = tmp
        self.errors: list[str] = []
        self.bursts = 0

    def context(self, name: str) -> Any:
        profile = self.tmp / f"profile-{name}"
        shutil.rmtree(profile, ignore_errors=True)
        ctx = self.pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        ctx.add_init_script(INSTRUMENT % {"contacts": N_CONTACTS})
        return ctx

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def load_and_login(self, ctx: Any, after_ready: bool) -> tuple[Any, dict[str, Any]]:
        """Navigate, log in (as soon as the form is usable, or after roost-python-ready)."""
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self._console(m))
        page.goto(self.url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function("() => window.__bench && window.__bench.formUsable !== null",
                               timeout=LOAD_TIMEOUT_MS, polling="raf")
        if after_ready:
            page.wait_for_function(
                "() => performance.getEntriesByName('roost-python-ready').length > 0",
                timeout=LOAD_TIMEOUT_MS, polling="raf")
        # When the user acts, in the page's clock (same machine: wall clock - timeOrigin).
        # The in-page click event can land much later: while Brython compiles,
        # the main thread handles no input.
        issued_wall = time.time() * 1000.0
        page.get_by_label("Address").fill(USER)
        page.get_by_label("Password").fill(USER)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_function("() => window.__bench.rosterPaint !== null",
                               timeout=ROSTER_TIMEOUT_MS, polling=50)
        load = page.evaluate(READ_LOAD)
        load["issued"] = issued = issued_wall - page.evaluate("performance.timeOrigin")
        load["login_to_roster"] = load["roster"] - issued
        load["login_to_roster_paint"] = load["roster_paint"] - issued
        load["click_to_roster"] = load["roster"] - load["click"]
        return page, load

    def burst(self, page: Any) -> dict[str, Any]:
        """Open the peer's chat; the peer sends N_BURST messages; first → last rendered."""
        page.get_by_role("list", name="Contacts").get_by_role(
            "listitem", name=BURST_PEER_NAME).click(timeout=LOAD_TIMEOUT_MS)
        page.get_by_role("textbox", name="Message").wait_for(timeout=LOAD_TIMEOUT_MS)
        self.bursts += 1
        prefix = f"burst{self.bursts}-"
        bodies = [f"{prefix}{i:03d} hello from the burst" for i in range(N_BURST)]
        page.evaluate("([p, last]) => { const b = window.__bench; b.burstPrefix = p;"
                      " b.burstLastText = last; }", [prefix, bodies[-1]])
        self.peer.send_many(f"{USER}@{DOMAIN}", bodies)
        result: dict[str, Any] = {"burst": None, "burst_paint": None, "seen": None}
        try:
            page.wait_for_function("() => window.__bench.burstLastPaint !== null",
                                   timeout=BURST_TIMEOUT_MS, polling=100)
        except Exception:  # timeout: report how far it got
            result["seen"] = page.evaluate("() => window.__bench.burstSeen.size")
            return result
        b = page.evaluate("() => { const b = window.__bench; return [b.burstFirst, b.burstLast,"
                          " b.burstLastPaint, b.burstSeen.size]; }")
        result.update(burst=b[1] - b[0], burst_paint=b[2] - b[0], seen=b[3])
        return result

    def heap(self, ctx: Any, page: Any) -> dict[str, float]:
        cdp = ctx.new_cdp_session(page)
        used = cdp.send("Runtime.getHeapUsage")["usedSize"]
        cdp.send("HeapProfiler.collectGarbage")
        after_gc = cdp.send("Runtime.getHeapUsage")["usedSize"]
        cdp.detach()
        return {"heap_mb": used / 1e6, "heap_after_gc_mb": after_gc / 1e6}

    def run(self, i: int, burst_warm: bool) -> dict[str, dict[str, Any]]:
        """One run: cold then warm (click asap + burst), and cold then warm (click after ready)."""
        out: dict[str, dict[str, Any]] = {"cold": {}, "warm": {}}
        ctx = self.context(f"{i}-asap")
        try:
            for phase in ("cold", "warm"):
                page, load = self.load_and_login(ctx, after_ready=False)
                out[phase].update(load)
                if phase == "cold" or burst_warm:
                    out[phase].update(self.burst(page))
                    out[phase].update(self.heap(ctx, page))
                page.close()
                time.sleep(0.3)  # let the old session leave Prosody
        finally:
            ctx.close()
        ctx = self.context(f"{i}-ready")
        try:
            for phase in ("cold", "warm"):
                page, load = self.load_and_login(ctx, after_ready=True)
                out[phase]["login_to_roster_after_ready"] = load["login_to_roster"]
                out[phase]["python_ready_2"] = load["python_ready"]
                page.close()
                time.sleep(0.3)
        finally:
            ctx.close()
        return out


FIGURES = {
    # name in the report: (key in a run, doc)
    "form_usable_ms": ("form_usable", "navigation start → login form present, enabled, painted"),
    "login_to_roster_ms": ("login_to_roster",
                           "Log in issued (as soon as the form is usable) → 200 contacts in DOM"),
    "click_event_to_roster_ms": ("click_to_roster",
                                 "the click event as the page handled it → 200 contacts"),
    "login_to_roster_paint_ms": ("login_to_roster_paint", "same, to the next animation frame"),
    "login_to_roster_after_ready_ms": ("login_to_roster_after_ready",
                                       "Log in click after roost-python-ready → 200 contacts"),
    "click_event_ms": ("click", "navigation start → Log in click event handled"),
    "python_ready_ms": ("python_ready", "navigation start → roost-python-ready mark"),
    "dom_content_loaded_ms": ("dom_content_loaded", "navigation start → DOMContentLoaded end"),
    "burst_ms": ("burst", "first burst message drawn → the 500th is the last row of the open "
                          "chat's log, on screen (DOM)"),
    "burst_paint_ms": ("burst_paint", "same, to the next animation frame"),
    "heap_mb": ("heap_mb", "JS heap used after the burst (CDP Runtime.getHeapUsage)"),
    "heap_after_gc_mb": ("heap_after_gc_mb", "same, after a forced GC"),
}


def report(runs: list[dict[str, dict[str, Any]]], errors: list[str], dist: Path) -> dict[str, Any]:
    res: dict[str, Any] = {
        "bench": "client",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": cpus(), "python": platform.python_version(),
                    "chromium": chromium_version()},
        "setup": {"contacts": N_CONTACTS, "contacts_online": N_ONLINE, "burst_messages": N_BURST,
                  "runs": len(runs), "dist": str(dist)},
        "figures": {name: doc for name, (_key, doc) in FIGURES.items()},
        "targets_ms": TARGETS_MS,
        "reference_ms": REFERENCE_MS,
    }
    for phase in ("cold", "warm"):
        res[phase] = {name: summary([r[phase].get(key) for r in runs])
                      for name, (key, _doc) in FIGURES.items()}
    pairs = {
        "form_usable_cold": res["cold"]["form_usable_ms"]["median"],
        "login_to_roster_cold": res["cold"]["login_to_roster_ms"]["median"],
        "burst": res["cold"]["burst_ms"]["median"],
    }
    res["vs_reference"] = {k: None if v is None else round(v / REFERENCE_MS[k], 3)
                           for k, v in pairs.items()}
    res["meets_target"] = {k: None if v is None else v < TARGETS_MS[k] for k, v in pairs.items()}
    res["page_errors"] = errors[:20]
    return res




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dist", type=Path, default=None, help="use this built bundle")
    ap.add_argument("--precompile", action=argparse.BooleanOptionalAction, default=None,
                    help="build with build.py --precompile / --no-precompile "
                         "(default: build.py's default; ignored with --dist)")
    ap.add_argument("--no-burst-warm", action="store_true", help="burst only in the cold load")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp_name:
        tmp = Path(tmp_name)
        dist = args.dist or build_dist(tmp / "dist", args.precompile)
        prosody = make_prosody(tmp)
        peers: list[ThreadedPeer] = []
        server: RoostServer | None = None
        try:
            peers = [ThreadedPeer(f"p{i:03d}@{DOMAIN}/bench", f"p{i:03d}", prosody.c2s_port)
                     for i in range(N_ONLINE)]
            (tmp / "roost").mkdir()
            server = RoostServer(tmp / "roost", dist, prosody)
            runs = []
            with sync_playwright() as pw:
                bench = Bench(pw, server.url, peers[0], tmp)
                for i in range(args.runs):
                    try:
                        runs.append(bench.run(i, burst_warm=not args.no_burst_warm))
                    except Exception:
                        print("page errors so far:", *bench.errors, sep="\n  ", file=sys.stderr)
                        raise
                    print(f"run {i + 1}/{args.runs}: " + json.dumps(
                        {p: {k: round(v, 1) for k, v in r.items() if isinstance(v, float)}
                         for p, r in runs[-1].items()}), file=sys.stderr)
            result = report(runs, bench.errors, dist)
        finally:
            for peer in peers:
                peer.stop()
            if server is not None:
                server.stop()
            prosody.stop()
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
