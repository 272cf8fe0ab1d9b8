"""Message list benchmark: RoostRender.createMessageList over a 10,000-message chat.

    .venv/bin/python bench/bench_message_list.py [--runs 3] [--max-rows 200 ...]
                                                 [--out bench/results/message-list.json]

Loads render.js and roost.css into a small page (the chat pane of index.html,
480 x 600 px) with the fake in-page data source of the browser tests
(tests/platform/test_message_list_browser.py): 10,000 messages, pages of 50,
answered after a 5 ms timer as the Python store would. Drives Debian's
Chromium with Playwright. For each MAX_ROWS given (the list's default when
none), each run: reset() to the newest 50; scroll to the oldest one screen a
frame (steady) and back to the newest two screens a frame (a flick); long
tasks and long animation frames (> 50 ms) during the scrolls; rows in the DOM;
JS heap after a GC. A baseline draws all 10,000 with renderMessages (what a
list without a window costs). Prints one JSON object on stdout (and writes it
to --out). Times are taken in the page (performance.now()).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import chromium_version, cpus  # noqa: E402
from tests.platform.test_message_list_browser import (  # noqa: E402
    HARNESS,
    PAGE_HTML,
    RENDER_JS,
    ROOST_CSS,
)
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

N_MESSAGES = 10_000
PAGE = 50
TARGETS_MS = {"longest_task": 100.0}
TIMEOUT_MS = 180_000

# Runs in the page: one measured pass over the whole history.
MEASURE = r"""
async (maxRows) => {
  const out = {};
  H.make(maxRows ? { maxRows: maxRows } : {});
  out.max_rows_setting = H.list.maxRows;
  const prependMs = [], appendMs = [];
  const wrap = (name, into) => {
    const orig = H.list[name];
    H.list[name] = function (a, b) {
      const t0 = performance.now();
      const r = orig(a, b);
      into.push(performance.now() - t0);
      return r;
    };
  };
  wrap("prepend", prependMs);
  wrap("append", appendMs);

  // reset() to the newest 50: synchronous (with layout) and to the next frame.
  const resetMs = [], resetFrameMs = [];
  for (let r = 0; r < 5; r++) {
    H.list.clear();
    await H.frame(); await H.frame();
    const t0 = performance.now();
    H.latest();
    void H.log.scrollHeight;
    resetMs.push(performance.now() - t0);
    await H.frame();
    resetFrameMs.push(performance.now() - t0);
  }
  await H.settle();

  const frames = [];
  const track = async (run) => {
    let last = performance.now(), on = true;
    const tick = () => {
      if (!on) { return; }
      const now = performance.now();
      frames.push(now - last);
      last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    try { return await run(); } finally { on = false; }
  };
  H.longtasks = []; H.longframes = []; H.maxRows = 0; H.maxChildren = 0;
  const up = await track(() => H.scrollThrough(-H.log.clientHeight));
  const down = await track(() => H.scrollThrough(2 * H.log.clientHeight));
  out.scroll_up_ms = up.ms;
  out.scroll_up_steps = up.steps;
  out.scroll_down_ms = down.ms;
  out.scroll_down_steps = down.steps;
  out.longtasks = H.longtasks.slice();
  out.longframes = H.longframes ? H.longframes.slice() : null;
  out.frames = frames;
  out.reset_ms = resetMs;
  out.reset_frame_ms = resetFrameMs;
  out.prepend_ms = prependMs;
  out.append_ms = appendMs;
  out.max_rows = H.maxRows;
  out.max_children = H.maxChildren;
  out.elements = document.getElementsByTagName("*").length;
  out.older_calls = H.calls.older.length;
  out.newer_calls = H.calls.newer.length;
  return out;
}
"""

# Baseline: every message drawn (renderMessages), no window.
BASELINE = r"""
async () => {
  if (H.list) { H.list.destroy(); H.list = null; }
  H.log.replaceChildren();
  await H.frame();
  const t0 = performance.now();
  RoostRender.renderMessages(H.log, H.all);
  void H.log.scrollHeight;
  const sync = performance.now() - t0;
  await H.frame();
  return { render_all_ms: sync, render_all_frame_ms: performance.now() - t0,
           rows: H.log.children.length,
           elements: document.getElementsByTagName("*").length };
}
"""


def summary(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "values": values}
    return {
        "median": round(statistics.median(got), 1),
        "min": round(min(got), 1),
        "max": round(max(got), 1),
        "values": [None if v is None else round(v, 1) for v in values],
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.errors: list[str] = []

    def page(self) -> tuple[Any, Any]:
        ctx = self.browser.new_context(viewport={"width": 1000, "height": 700})
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )
        page.set_content(PAGE_HTML)
        page.add_style_tag(path=str(ROOST_CSS))
        page.add_script_tag(path=str(RENDER_JS))
        page.add_script_tag(content=HARNESS)
        return ctx, page

    @staticmethod
    def heap(ctx: Any, page: Any) -> float:
        cdp = ctx.new_cdp_session(page)
        cdp.send("HeapProfiler.collectGarbage")
        used: float = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
        cdp.detach()
        return used

    def run(self, max_rows: int | None) -> dict[str, Any]:
        ctx, page = self.page()
        try:
            data_only = self.heap(ctx, page)  # the harness's 10,000 items, no list
            m: dict[str, Any] = page.evaluate(MEASURE, max_rows)
            m["heap_after_gc_mb"] = self.heap(ctx, page)
            m["heap_data_only_mb"] = data_only
        finally:
            ctx.close()
        frames = m.pop("frames")
        tasks = m.pop("longtasks")
        long_frames = m.pop("longframes")
        return {
            "max_rows_setting": m["max_rows_setting"],
            "reset_50_ms": statistics.median(m["reset_ms"]),
            "reset_50_frame_ms": statistics.median(m["reset_frame_ms"]),
            "scroll_to_oldest_ms": m["scroll_up_ms"],
            "scroll_to_oldest_frames": m["scroll_up_steps"],
            "flick_to_newest_ms": m["scroll_down_ms"],
            "flick_to_newest_frames": m["scroll_down_steps"],
            "longest_task_ms": max(tasks, default=0.0),
            "long_tasks": len(tasks),
            "longest_animation_frame_ms": None
            if long_frames is None
            else max(long_frames, default=0.0),
            "long_animation_frames": None if long_frames is None else len(long_frames),
            "frame_gap_p95_ms": percentile(frames, 0.95),
            "frame_gap_max_ms": max(frames, default=None),
            "prepend_median_ms": statistics.median(m["prepend_ms"]) if m["prepend_ms"] else None,
            "prepend_max_ms": max(m["prepend_ms"], default=None),
            "append_page_median_ms": statistics.median(m["append_ms"]) if m["append_ms"] else None,
            "max_dom_rows": m["max_children"],
            "max_list_rows": m["max_rows"],
            "elements_after": m["elements"],
            "heap_after_gc_mb": m["heap_after_gc_mb"],
            "heap_data_only_mb": m["heap_data_only_mb"],
            "pages_older": m["older_calls"],
            "pages_newer": m["newer_calls"],
        }

    def baseline(self) -> dict[str, Any]:
        ctx, page = self.page()
        try:
            before = self.heap(ctx, page)
            page.evaluate("() => { H.longtasks = []; }")
            b: dict[str, Any] = page.evaluate(BASELINE)
            page.wait_for_timeout(200)
            b["heap_after_gc_mb"] = self.heap(ctx, page)
            b["heap_data_only_mb"] = before
        finally:
            ctx.close()
        return b


FIGURES = {
    "reset_50_ms": "reset() with the newest 50 messages, layout included (median of 5)",
    "reset_50_frame_ms": "same, to the next animation frame",
    "scroll_to_oldest_ms": "newest → message #0, one screen (600 px) per frame, "
    "pages answered after 5 ms",
    "flick_to_newest_ms": "#0 → newest, two screens per frame",
    "longest_task_ms": "longest 'longtask' during both scrolls (0: none over 50 ms)",
    "longest_animation_frame_ms": "longest 'long-animation-frame' (script+style+layout+paint)",
    "frame_gap_p95_ms": "95th percentile of the time between animation frames while scrolling",
    "prepend_median_ms": "one prepend(50) call, with its layout and trimming",
    "max_dom_rows": "most children the log element ever had",
    "heap_after_gc_mb": "JS heap after both scrolls and a GC (includes the 10,000 items)",
    "heap_data_only_mb": "JS heap after page set-up (the 10,000 items), before any list; "
    "DOM nodes mostly live outside the JS heap: see elements_after",
}


def report(
    results: dict[str, list[dict[str, Any]]],
    baseline: list[dict[str, Any]],
    errors: list[str],
    runs: int,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "bench": "message-list",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": cpus(),
            "python": platform.python_version(),
            "chromium": chromium_version(),
        },
        "setup": {
            "messages": N_MESSAGES,
            "page": PAGE,
            "runs": runs,
            "viewport": "480 x 600 px log (chat pane)",
            "answer_delay_ms": 5,
        },
        "figures": FIGURES,
        "targets_ms": TARGETS_MS,
        "by_max_rows": {},
    }
    for setting, rs in results.items():
        keys = [k for k in rs[0] if k != "max_rows_setting"]
        res["by_max_rows"][setting] = {k: summary([r[k] for r in rs]) for k in keys}
    if baseline:
        res["baseline_render_all"] = {k: summary([b[k] for b in baseline]) for k in baseline[0]}
    res["meets_target"] = {
        setting: all((r["longest_task_ms"] or 0.0) < TARGETS_MS["longest_task"] for r in rs)
        for setting, rs in results.items()
    }
    res["page_errors"] = errors[:20]
    return res




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--max-rows",
        type=int,
        nargs="*",
        default=[],
        help="MAX_ROWS settings to compare (default: the list's own)",
    )
    ap.add_argument(
        "--no-baseline", action="store_true", help="skip drawing all 10,000 with renderMessages"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    settings: list[int | None] = list(args.max_rows) or [None]
    results: dict[str, list[dict[str, Any]]] = {}
    baseline: list[dict[str, Any]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            bench = Bench(browser)
            for i in range(args.runs):
                for setting in settings:  # interleaved: drift hits every setting alike
                    r = bench.run(setting)
                    results.setdefault(str(r["max_rows_setting"]), []).append(r)
                    print(
                        f"run {i + 1}/{args.runs} max_rows={r['max_rows_setting']}: "
                        + json.dumps(
                            {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
                        ),
                        file=sys.stderr,
                    )
                if not args.no_baseline:
                    baseline.append(bench.baseline())
        finally:
            browser.close()
    result = report(results, baseline, bench.errors, args.runs)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
