"""Warm start benchmark: a trusted device reloads Roost offline from the
service worker's cache → the last conversations are visible (target < 150 ms).

    .venv/bin/python bench/bench_warm_start.py [--runs 7] [--out bench/results/warm_start.json]
                                              [--dist DIR]

Starts its own Prosody (temp dir, `internal_hashed` so the remembered SCRAM
key fits) with a `bench` account whose roster holds 50 named contacts, one of
whom wrote 20 messages; builds `dist/` once (or uses `--dist`); runs `roost
serve`; drives Debian's Chromium with Playwright. One login with "This is a
trusted device" ticked, the chat with that contact opened, the service worker
in control; then the context goes offline and the page is reloaded `--runs`
times, each a warm start from the service worker's cache with the remembered
login. Times are taken inside the page from navigation start:

- `list_ms`: the main screen shows the 50 contacts (snapshot.js's list, drawn
  before Brython starts, or Python's, whichever comes first); `visible_ms`:
  the later of that and the first contentful paint (on screen: the target);
- `messages_ms`: the last open chat's messages are drawn (Python, from IndexedDB);
- `python_ready_ms`: the `roost-python-ready` mark; `fcp_ms`: first contentful paint.

The same reloads without the snapshot (removed before any script runs) give
`no_snapshot`: what the Python UI alone takes to show the list from the store.
Prints one JSON object (and writes it to --out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.devserver.prosody import Contact, ProsodyServer  # noqa: E402
from bench.bench_client import build_dist, contact_name  # noqa: E402
from bench.common import chromium_version, cpus, emit  # noqa: E402
from tests.browser.conftest import RoostServer  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.threaded_peer import ThreadedPeer  # noqa: E402

DOMAIN = "localhost"
USER = "bench"
N_CONTACTS = 50
N_MESSAGES = 20
TARGET_MS = 150.0
TIMEOUT_MS = 30_000

INSTRUMENT = r"""
(() => {
  if (window.__warm) { return; }
  const N = %(contacts)d;
  if (sessionStorage.getItem('bench-no-snapshot')) { localStorage.removeItem('roost-snapshot'); }
  const b = window.__warm = {list: null, messages: null, fcp: null};
  function check() {
    if (b.list === null) {
      const list = document.getElementById('contacts');
      const main = document.getElementById('main-screen');
      if (list && main && !main.hidden && list.children.length >= N) { b.list = performance.now(); }
    }
    if (b.messages === null) {
      const log = document.getElementById('messages');
      if (log && log.querySelector('.msg')) { b.messages = performance.now(); }
    }
    if (b.list !== null && b.messages !== null) { obs.disconnect(); }
  }
  const obs = new MutationObserver(check);
  obs.observe(document, {subtree: true, childList: true, attributes: true});
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        if (e.name === 'first-contentful-paint' && b.fcp === null) { b.fcp = e.startTime; }
      }
    }).observe({type: 'paint', buffered: true});
  } catch (e) { /* no paint timing */ }
})();
"""

READ_JS = """() => {
  const b = window.__warm;
  const ready = performance.getEntriesByName('roost-python-ready');
  return {list_ms: b.list, messages_ms: b.messages, fcp_ms: b.fcp,
          python_ready_ms: ready.length ? ready[0].startTime : null,
          snapshot: !!window.RoostSnapshot};
}"""


def make_prosody(root: Path) -> ProsodyServer:
    peers = [f"p{i:03d}" for i in range(N_CONTACTS)]
    users = {USER: USER, **{p: p for p in peers}}
    rosters = {
        USER: [Contact(f"{p}@{DOMAIN}", contact_name(i), "both") for i, p in enumerate(peers)],
        peers[0]: [Contact(f"{USER}@{DOMAIN}", "Bench", "both")],
    }
    return ProsodyServer(root / "prosody", DOMAIN, users=users, rosters=rosters,
                         log_level="warn", auth="internal_hashed").start()


def summary(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "values": values}
    return {"median": round(statistics.median(got), 1), "min": round(min(got), 1),
            "max": round(max(got), 1),
            "values": [None if v is None else round(v, 1) for v in values]}


def prepare(page: Any, url: str, peer: ThreadedPeer) -> None:
    """Log in (trusted), get the messages, open the chat, let the SW take control."""
    page.goto(url)
    page.get_by_label("Address").fill(f"{USER}@{DOMAIN}")
    page.get_by_label("Password").fill(USER)
    box = page.get_by_label("This is a trusted device")
    if not box.is_checked():
        box.click()
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for(timeout=TIMEOUT_MS)
    peer.send_many(f"{USER}@{DOMAIN}", [f"warm start message {i}" for i in range(N_MESSAGES)])
    name = contact_name(0)
    page.get_by_role("list", name="Contacts").get_by_role("listitem").filter(
        has_text=name).first.click(timeout=TIMEOUT_MS)
    page.get_by_role("log", name="Messages").get_by_text(
        f"warm start message {N_MESSAGES - 1}").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the snapshot is written a moment after the list changes


def measure(page: Any, messages: bool = True) -> dict[str, Any]:
    response = page.reload(wait_until="commit")
    if response is None or not response.from_service_worker:
        raise RuntimeError("the reload did not come from the service worker")
    page.wait_for_function(
        "(messages) => window.__warm && window.__warm.list !== null"
        " && (!messages || window.__warm.messages !== null)"
        " && performance.getEntriesByName('roost-python-ready').length > 0",
        arg=messages, timeout=TIMEOUT_MS, polling="raf",
    )
    got = dict(page.evaluate(READ_JS))
    got["visible_ms"] = max(got["list_ms"], got["fcp_ms"] or 0.0)
    page.wait_for_timeout(1500)  # settled, and the snapshot written again
    return got


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dist", type=Path, default=None, help="use this built bundle")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp_name:
        tmp = Path(tmp_name)
        dist = args.dist or build_dist(tmp / "dist")
        prosody = make_prosody(tmp)
        peer: ThreadedPeer | None = None
        server: RoostServer | None = None
        try:
            peer = ThreadedPeer(f"p000@{DOMAIN}/bench", "p000", prosody.c2s_port)
            (tmp / "roost").mkdir()
            server = RoostServer(tmp / "roost", dist, prosody)
            errors: list[str] = []
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
                ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                ctx.add_init_script(INSTRUMENT % {"contacts": N_CONTACTS})
                page = ctx.new_page()
                page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
                prepare(page, server.url, peer)
                ctx.set_offline(True)
                measure(page)  # the first offline start fills nothing new: not counted
                with_snapshot = [measure(page) for _ in range(args.runs)]
                page.evaluate("sessionStorage.setItem('bench-no-snapshot', '1')")
                # The last open chat is named by the snapshot: without it only the list.
                without = [measure(page, messages=False) for _ in range(args.runs)]
                browser.close()
        finally:
            if peer is not None:
                peer.stop()
            if server is not None:
                server.stop()
            prosody.stop()
    figures = ("visible_ms", "list_ms", "messages_ms", "python_ready_ms", "fcp_ms")
    result: dict[str, Any] = {
        "bench": "warm_start",
        "what": "offline reload from the service worker cache with a remembered login "
                "(trusted device): navigation start -> last conversations visible",
        "machine": {"cpus": cpus(), "chromium": chromium_version()},
        "contacts": N_CONTACTS,
        "runs": args.runs,
        "with_snapshot": {f: summary([r[f] for r in with_snapshot]) for f in figures},
        "snapshot_drawn": all(r["snapshot"] for r in with_snapshot),
        "no_snapshot": {f: summary([r[f] for r in without])
                        for f in ("visible_ms", "list_ms", "python_ready_ms", "fcp_ms")},
        "target_ms": {"visible_ms": TARGET_MS},
        "errors": errors,
    }
    median = result["with_snapshot"]["visible_ms"]["median"]
    result["meets_target"] = median is not None and median < TARGET_MS
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
