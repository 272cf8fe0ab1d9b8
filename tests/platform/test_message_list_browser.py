"""RoostRender.createMessageList (render.js) in Chromium: the windowed message list.

A tiny page loads render.js and roost.css with a fake data source in the page:
10,000 messages, paged 50 at a time, answered asynchronously (a timer, as the
Python side answers after a store read) or held until the test releases them.
`bench/bench_message_list.py` drives the same page for its figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.pagelog import PageLog

RENDER_JS = ROOT / "frontend" / "static" / "render.js"
ROOST_CSS = ROOT / "frontend" / "static" / "roost.css"

# The chat pane as index.html has it (desktop layout), without the app around it.
PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>message list</title></head>
<body style="overflow: hidden">
<section class="chat-pane" style="height: 600px; width: 480px">
  <div id="messages" class="messages" role="log" aria-label="Messages" aria-live="polite"></div>
</section>
<button id="after" type="button">After the list</button>
</body></html>"""

# The fake data source (what view.py will do over the Python store) and helpers.
HARNESS = r"""
window.H = (function () {
  "use strict";
  const N = 10000, PAGE = 50, BASE = 1700000000;
  const WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod " +
                 "tempor incididunt ut labore et dolore magna aliqua").split(" ");
  function body(i) {
    let text = "Message #" + i;
    // Mostly short lines, every fourth message up to 22 words more.
    const extra = i % 4 === 0 ? (i * 7919) % 23 : i % 5;
    for (let k = 0; k < extra; k++) { text += " " + WORDS[(i + k) % WORDS.length]; }
    if (i % 11 === 0) { text += "\nsecond line\nthird line"; }
    return text;
  }
  function item(i, extra) {
    const out = i % 3 === 0;
    return Object.assign({
      cursor: [BASE + i * 30 + 0.5, i], kind: "message", id: "m" + i, body: body(i),
      outgoing: out, sender: out ? "" : "Bob", stamp: (BASE + i * 30) * 1000,
      edited: i % 17 === 0, failed: "", state: out ? "Sent" : "", state_key: out ? "sent" : "",
    }, extra || {});
  }
  const all = [];
  for (let i = 0; i < N; i++) { all.push(item(i)); }

  const log = document.getElementById("messages");
  const H = {
    N: N, PAGE: PAGE, BASE: BASE, all: all, item: item, log: log,
    delay: 5, manual: false, queue: [],
    calls: { older: [], newer: [], gap: [] }, answers: 0,
    maxRows: 0, maxChildren: 0, longtasks: [], busy: [],
  };
  function answer(fn) {
    if (H.manual) { H.queue.push(fn); return; }
    setTimeout(() => { fn(); H.answers++; }, H.delay);
  }
  H.flush = function () {
    const q = H.queue; H.queue = [];
    for (const fn of q) { fn(); H.answers++; }
    return q.length;
  };
  H.make = function (opts) {
    if (H.list) { H.list.destroy(); }
    H.list = RoostRender.createMessageList(log, Object.assign({
      onNeedOlder: function (c) {
        H.calls.older.push(c);
        answer(() => {
          const s = Math.max(0, c[1] - PAGE);
          H.list.prepend(all.slice(s, c[1]), s > 0);
        });
      },
      onNeedNewer: function (c) {
        H.calls.newer.push(c);
        answer(() => {
          const e = Math.min(N, c[1] + 1 + PAGE);
          H.list.append(all.slice(c[1] + 1, e), e < N);
        });
      },
      onGapAction: function (c) { H.calls.gap.push(c); },
    }, opts || {}));
    return H.list;
  };
  H.latest = function () { H.list.reset(all.slice(N - PAGE), true, false); };
  new MutationObserver(function (records) {
    H.maxChildren = Math.max(H.maxChildren, log.children.length);
    if (H.list) { H.maxRows = Math.max(H.maxRows, H.list.rowCount()); }
    for (const r of records) {
      if (r.type === "attributes") { H.busy.push(log.getAttribute("aria-busy")); }
    }
  }).observe(log, { childList: true, attributes: true, attributeFilter: ["aria-busy"] });
  try {
    new PerformanceObserver(function (list) {
      for (const e of list.getEntries()) { H.longtasks.push(e.duration); }
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { H.longtasks = null; }
  // Long animation frames (> 50 ms, script + style + layout + paint): jank.
  H.longframes = [];
  try {
    new PerformanceObserver(function (list) {
      for (const e of list.getEntries()) { H.longframes.push(e.duration); }
    }).observe({ type: "long-animation-frame", buffered: true });
  } catch (e) { H.longframes = null; }

  H.frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  H.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Frames until the list asks for nothing more and every answer is in.
  H.settle = async function () {
    for (let i = 0; i < 200; i++) {
      await H.frame();
      await H.sleep(H.delay + 1);
      const s = H.list.state();
      if (!s.wantOlder && !s.wantNewer && !H.queue.length) { await H.frame(); return; }
    }
    throw new Error("the list did not settle");
  };
  // The first row whose box is (partly) inside the list's viewport.
  H.visible = function () {
    const box = log.getBoundingClientRect();
    for (const row of log.children) {
      const r = row.getBoundingClientRect();
      if (r.bottom > box.top) { return { cursor: row.dataset.cursor, top: r.top - box.top }; }
    }
    return null;
  };
  H.top = function (cursor) {
    const row = log.querySelector('[data-cursor="' + cursor + '"]');
    return row ? row.getBoundingClientRect().top - log.getBoundingClientRect().top : null;
  };
  H.bodies = () => Array.from(log.querySelectorAll(".msg .body"), (b) => b.textContent);
  H.atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 2;
  // Scroll in steps of `step` px per frame (negative: up; "top"/"bottom":
  // jump to that end of the window each frame) until the end of the history.
  H.scrollThrough = async function (step) {
    const t0 = performance.now();
    const up = step === "top" || step < 0;
    let steps = 0;
    for (;;) {
      const s = H.list.state();
      const done = up ? (!s.hasOlder && log.scrollTop <= 0) : (!s.hasNewer && H.atBottom());
      if (done && !s.wantOlder && !s.wantNewer) { break; }
      if (step === "top") { log.scrollTop = 0; }
      else if (step === "bottom") { log.scrollTop = log.scrollHeight; }
      else { log.scrollTop += step; }
      steps++;
      await H.frame();
      if (steps > 100000) { throw new Error("no end"); }
    }
    return { ms: performance.now() - t0, steps: steps };
  };
  return H;
})();
"""


@pytest.fixture
def ml(page: tuple[Any, PageLog]) -> Iterator[Any]:
    """A page with render.js, roost.css and the harness; `H.list` made."""
    pg, log = page
    pg.set_viewport_size({"width": 1000, "height": 700})
    pg.set_content(PAGE_HTML)
    pg.add_style_tag(path=str(ROOST_CSS))
    pg.add_script_tag(path=str(RENDER_JS))
    pg.add_script_tag(content=HARNESS)
    pg.evaluate("() => { H.make(); }")
    yield pg
    assert log.errors == []


def state(pg: Any) -> dict[str, Any]:
    result: dict[str, Any] = pg.evaluate("() => H.list.state()")
    return result


def key(i: int) -> str:
    """The data-cursor of harness message #i."""
    return str(pg_cursor(i)[0]).removesuffix(".0") + " " + str(i)


def pg_cursor(i: int) -> list[float]:
    return [1700000000 + i * 30 + 0.5, i]


def test_reset_at_newest_shows_the_newest_message_at_the_bottom(ml: Any) -> None:
    ml.evaluate("() => H.latest()")
    assert ml.evaluate("() => H.list.rowCount()") == 50
    bodies = ml.evaluate("() => H.bodies()")
    assert bodies[0].startswith("Message #9950") and bodies[-1].startswith("Message #9999")
    assert ml.evaluate("() => H.atBottom()")
    last = ml.locator("#messages > .msg").last
    assert last.is_visible()
    assert last.get_attribute("data-id") == "m9999"
    assert last.get_attribute("data-cursor") == key(9999)
    assert ml.evaluate("() => H.list.state().hasNewer") is False
    # The newest page fills more than 1.5 screens: nothing is asked for yet.
    ml.evaluate("() => H.settle()")
    assert ml.evaluate("() => H.calls.older.length") == 0


def test_rows_look_like_the_compatible_renderers(ml: Any) -> None:
    """A list row is what renderMessages draws, plus data-cursor."""
    html = ml.evaluate(
        """() => {
          const it = H.item(9999, {failed: "Not delivered", edited: true});
          const other = document.createElement("div");
          RoostRender.renderMessages(other, [it]);
          H.list.reset([it], false, false);
          const row = H.log.querySelector(".msg").cloneNode(true);
          row.removeAttribute("data-cursor");
          return [row.outerHTML, other.firstChild.outerHTML];
        }"""
    )
    assert html[0] == html[1]
    row = ml.locator("#messages .msg")
    assert row.get_attribute("class") == "msg out failed"
    assert row.locator(".state .visually-hidden").text_content() == "Status: "
    assert row.locator(".state").get_attribute("data-state") == "sent"
    assert row.locator(".meta").text_content().endswith(" · edited · Not delivered")


def test_paging_reaches_the_oldest_and_back_with_a_bounded_window(ml: Any) -> None:
    ml.evaluate("() => H.latest()")
    up = ml.evaluate("() => H.scrollThrough('top')")
    assert up["steps"] > 0
    s = state(ml)
    assert s["hasOlder"] is False
    bodies = ml.evaluate("() => H.bodies()")
    assert bodies[0].split()[:2] == ["Message", "#0"]
    assert ml.evaluate("() => H.log.scrollTop") == 0
    max_rows = ml.evaluate("() => H.list.maxRows")
    assert 150 <= max_rows <= 250
    assert ml.evaluate("() => H.maxRows") <= max_rows
    assert ml.evaluate("() => H.maxChildren") <= max_rows
    assert s["hasNewer"] is True  # the newest rows were trimmed on the way up
    # Each edge cursor was asked for once: no repeated calls per scroll event.
    older = ml.evaluate("() => H.calls.older.map((c) => c[1])")
    assert len(older) == len(set(older)) == 9950 // 50
    assert older == sorted(older, reverse=True)
    # ... and down again to the newest, through onNeedNewer.
    ml.evaluate("() => H.scrollThrough('bottom')")
    s = state(ml)
    assert s["hasNewer"] is False and s["hasOlder"] is True
    assert ml.evaluate("() => H.bodies().pop()").startswith("Message #9999")
    assert ml.evaluate("() => H.maxRows") <= max_rows
    newer = ml.evaluate("() => H.calls.newer.map((c) => c[1])")
    assert len(newer) == len(set(newer))
    # The whole history was seen in order, each message once in each direction.
    assert ml.evaluate("() => H.list.rowCount()") <= max_rows


def test_onneedolder_once_until_the_next_prepend(ml: Any) -> None:
    ml.evaluate("() => { H.manual = true; H.latest(); }")
    ml.evaluate("""async () => {
        for (let i = 0; i < 5; i++) { H.log.scrollTop = 10 + i; await H.frame(); await H.frame(); }
    }""")
    assert ml.evaluate("() => H.calls.older.map((c) => c[1])") == [9950]
    assert ml.evaluate("() => H.list.state().wantOlder") is True
    ml.evaluate("() => H.flush()")
    ml.evaluate("""async () => {
        for (let i = 0; i < 3; i++) { H.log.scrollTop = 5; await H.frame(); await H.frame(); }
    }""")
    assert ml.evaluate("() => H.calls.older.map((c) => c[1])") == [9950, 9900]


def test_prepend_keeps_the_visible_row_in_place(ml: Any) -> None:
    """The row visible before an older page arrives stays put (±2 px), also
    when the window is full and rows are trimmed at the bottom."""
    ml.evaluate("() => { H.manual = true; H.latest(); }")
    moves = []
    for i in range(8):  # 8 pages: past MAX_ROWS, so the bottom gets trimmed
        before = ml.evaluate(
            """async (y) => {
              H.log.scrollTop = y; await H.frame(); await H.frame();
              return [H.visible(), H.log.scrollTop, H.queue.length];
            }""",
            300 + 37 * i,
        )
        visible, _top, queued = before
        assert queued == 1, f"page {i}: onNeedOlder was not called once"
        ml.evaluate("() => H.flush()")
        after = ml.evaluate(f"() => H.top({visible['cursor']!r})")
        moves.append(after - visible["top"])
        # Measured again after a frame (layout settled, fonts, scroll clamping).
        later = ml.evaluate(
            f"async () => {{ await H.frame(); return H.top({visible['cursor']!r}); }}"
        )
        assert abs(later - visible["top"]) <= 2, (i, visible, later)
    assert all(abs(m) <= 2 for m in moves), moves
    s = state(ml)
    assert s["hasNewer"] is True
    assert s["rows"] <= ml.evaluate("() => H.list.maxRows")


def incoming(first: int, n: int) -> str:
    """JS for `n` incoming harness messages from #first on (outgoing ones stick)."""
    return (
        f"Array.from({{length: {n}}}, (_, k) => "
        f"H.item({first} + k, {{outgoing: false, sender: 'Bob', state: ''}}))"
    )


def test_append_sticks_at_the_bottom_and_leaves_a_scrolled_up_view_alone(ml: Any) -> None:
    ml.evaluate("() => H.latest()")
    assert ml.evaluate(f"() => H.list.append({incoming(10000, 1)}, false)") == 1
    assert ml.evaluate("() => H.atBottom()")
    assert ml.evaluate("() => H.bodies().pop()").startswith("Message #10000")
    # Scrolled up: incoming messages don't move the view.
    before = ml.evaluate(
        "async () => { H.log.scrollTop -= 900; await H.frame(); return H.visible(); }"
    )
    scroll_top = ml.evaluate("() => H.log.scrollTop")
    ml.evaluate(f"() => H.list.append({incoming(10001, 40)}, false)")
    assert ml.evaluate(f"() => H.top({before['cursor']!r})") == pytest.approx(before["top"], abs=2)
    assert ml.evaluate("() => H.log.scrollTop") == pytest.approx(scroll_top, abs=2)
    assert not ml.evaluate("() => H.atBottom()")
    # An own message (a live append) brings the view to the bottom.
    ml.evaluate("() => H.list.append([H.item(10100, {outgoing: true})], false)")
    assert ml.evaluate("() => H.atBottom()")
    assert ml.evaluate("() => H.bodies().pop()").startswith("Message #10100")


def test_scrolled_up_reader_keeps_the_view_while_many_arrive(ml: Any) -> None:
    """Live messages beyond MAX_ROWS are trimmed away from the rows being
    read: above them when far enough, else the newest (hasNewer)."""
    for y in ("0", "H.log.scrollHeight / 2"):
        ml.evaluate("() => { H.manual = true; H.latest(); }")
        before = ml.evaluate(
            f"async () => {{ H.log.scrollTop = {y}; await H.frame(); await H.frame();"
            " H.queue = []; return H.visible(); }"  # the older page never comes
        )
        for n in range(10000, 10400, 50):
            ml.evaluate(f"() => H.list.append({incoming(n, 50)}, false)")
            top = ml.evaluate(f"() => H.top({before['cursor']!r})")
            assert top == pytest.approx(before["top"], abs=2), (y, n)
        s = state(ml)
        assert s["rows"] <= ml.evaluate("() => H.list.maxRows")
        assert s["hasNewer"] is True
    # Detached from the newest end, a live append can't be drawn (it would
    # leave a hole): append says 0, and the caller resets to the newest.
    assert ml.evaluate("() => H.list.append([H.item(10500, {outgoing: true})], false)") == 0
    assert "Message #10500" not in " ".join(ml.evaluate("() => H.bodies()"))


def test_paging_append_keeps_the_view(ml: Any) -> None:
    """A newer page below the viewport and rows trimmed above it don't move it."""
    ml.evaluate("() => { H.manual = true; H.list.reset(H.all.slice(1000, 1200), true, true); }")
    assert ml.evaluate("() => H.log.scrollTop") == 0
    before = ml.evaluate(
        """async () => { H.log.scrollTop = H.log.scrollHeight - H.log.clientHeight - 200;
                         await H.frame(); await H.frame(); return H.visible(); }"""
    )
    assert ml.evaluate("() => H.calls.newer.map((c) => c[1])") == [1199]
    ml.evaluate("() => H.flush()")
    assert ml.evaluate(f"() => H.top({before['cursor']!r})") == pytest.approx(before["top"], abs=2)
    s = state(ml)
    assert s["hasOlder"] is True
    assert s["rows"] <= ml.evaluate("() => H.list.maxRows")
    assert s["last"][1] == 1249


def test_reset_with_newer_and_a_focus_row(ml: Any) -> None:
    ml.evaluate("() => H.list.reset(H.all.slice(500, 600), true, true, H.all[550].cursor)")
    assert ml.evaluate(f"() => H.top({key(550)!r})") == pytest.approx(0, abs=2)
    assert not ml.evaluate("() => H.atBottom()")


def test_insert_places_entries_by_cursor_order(ml: Any) -> None:
    ml.evaluate("() => H.latest()")
    inside = {"cursor": [1700000000 + 9960 * 30 + 10, 20000], "body": "backfilled", "id": "bf"}
    ml.evaluate("(it) => H.list.insert([Object.assign(H.item(0), it)])", inside)
    bodies = ml.evaluate("() => H.bodies()")
    at = bodies.index("backfilled")
    assert bodies[at - 1].startswith("Message #9960") and bodies[at + 1].startswith("Message #9961")
    assert ml.locator('#messages [data-id="bf"]').get_attribute("data-cursor") == (
        f"{1700000000 + 9960 * 30 + 10} 20000"
    )
    # Older than the window while there is older history: left to paging.
    placed = ml.evaluate(
        "() => H.list.insert([Object.assign(H.item(5), {body: 'old backfill', id: 'ob'})])"
    )
    assert placed == 0
    assert "old backfill" not in ml.evaluate("() => H.bodies()")
    # Newer than the window at the newest end: at the bottom, view kept there.
    ml.evaluate("() => H.list.insert([H.item(10005)])")
    assert ml.evaluate("() => H.bodies().pop()").startswith("Message #10005")
    assert ml.evaluate("() => H.atBottom()")
    # Unsorted input is sorted; an existing cursor is redrawn, not doubled.
    ml.evaluate(
        "() => H.list.insert([H.item(10003), H.item(10001), H.item(9999, {body: 'redrawn'})])"
    )
    ids = ml.evaluate("() => Array.from(H.log.querySelectorAll('.msg'), (r) => r.dataset.id)")
    assert ids[-5:] == ["m9998", "m9999", "m10001", "m10003", "m10005"]
    assert ml.locator('#messages [data-id="m9999"] .body').text_content() == "redrawn"
    order = ml.evaluate(
        "() => Array.from(H.log.querySelectorAll('.msg'),"
        " (r) => Number(r.dataset.cursor.split(' ')[0]))"
    )
    assert order == sorted(order)
    assert ml.locator('#messages [data-id="m9999"]').count() == 1
    # The same cursor twice in one call: one row.
    assert ml.evaluate("() => H.list.insert([H.item(10007), H.item(10007)])") == 1
    assert ml.locator('#messages [data-id="m10007"]').count() == 1


def test_update_and_remove(ml: Any) -> None:
    ml.evaluate("() => H.latest()")
    ok = ml.evaluate(
        "() => H.list.update(H.item(9990, {body: 'corrected', edited: true, edited_x: 1}))"
    )
    assert ok is True
    row = ml.locator('#messages [data-id="m9990"]')
    assert row.locator(".body").text_content() == "corrected"
    assert row.locator(".meta").text_content().endswith("· edited")
    assert row.get_attribute("data-cursor") == key(9990)
    # By id alone (no cursor): e.g. a state change known by message id.
    assert ml.evaluate(
        "() => H.list.update({id: 'm9993', body: 'x', outgoing: true,"
        " state: 'Read', state_key: 'read'})"
    )
    assert ml.locator('#messages [data-id="m9993"] .state').get_attribute("data-state") == "read"
    assert ml.evaluate("() => H.list.update(H.item(5))") is False
    assert ml.evaluate("() => H.list.update({id: 'nope', body: 'x'})") is False
    assert ml.evaluate("() => H.atBottom()")
    n = ml.evaluate("() => H.list.rowCount()")
    assert ml.evaluate("() => H.list.remove(H.all[9991].cursor)") is True
    assert ml.locator('#messages [data-id="m9991"]').count() == 0
    assert ml.evaluate("() => H.list.remove(H.all[9991].cursor)") is False
    assert ml.evaluate("() => H.list.remove('m9992')") is True
    assert ml.evaluate("() => H.list.rowCount()") == n - 2
    # Removing the row being read keeps its neighbour where it was.
    before = ml.evaluate(
        "async () => { H.log.scrollTop = 400; await H.frame(); return H.visible(); }"
    )
    cursor = [float(x) for x in before["cursor"].split(" ")]
    next_key = ml.evaluate(
        f"() => H.log.querySelector('[data-cursor=\"{before['cursor']}\"]')"
        ".nextElementSibling.dataset.cursor"
    )
    assert ml.evaluate(f"() => H.list.remove([{cursor[0]}, {int(cursor[1])}])") is True
    assert ml.evaluate(f"() => H.top({next_key!r})") == pytest.approx(before["top"], abs=2)


def test_gap_row_try_again_by_pointer_and_keyboard(ml: Any) -> None:
    ml.evaluate(
        """() => {
          const items = H.all.slice(9980, 9990);
          H.gapCursor = [1700000000 + 9990 * 30, 0];
          items.push({cursor: H.gapCursor, kind: "gap"});
          H.list.reset(items.concat(H.all.slice(9990)), true, false);
        }"""
    )
    gap = ml.locator("#messages .gap")
    assert gap.count() == 1
    assert "could not be loaded" in gap.text_content()
    button = ml.get_by_role("button", name="Try again")
    assert button.get_attribute("type") == "button"
    assert button.get_attribute("data-action") == "gap-retry"
    button.click()
    want = [1700000000 + 9990 * 30, 0]
    assert ml.evaluate("() => H.calls.gap") == [want]
    # The very array handed in comes back (opaque to the list).
    assert ml.evaluate("() => H.calls.gap[0] === H.gapCursor")
    # Keyboard: it is the first tab stop of the page; Enter and Space press it.
    ml.evaluate("() => document.activeElement.blur()")
    for _ in range(3):  # Chromium makes the scrolling log itself a tab stop first
        ml.keyboard.press("Tab")
        if ml.evaluate("() => document.activeElement.dataset.action") == "gap-retry":
            break
    assert ml.evaluate("() => document.activeElement.dataset.action") == "gap-retry"
    ml.keyboard.press("Enter")
    ml.keyboard.press("Space")
    assert ml.evaluate("() => H.calls.gap.length") == 3
    # Python replaces the gap with what it got (update by cursor, or remove).
    assert ml.evaluate(f"() => H.list.remove({want})") is True
    assert ml.locator("#messages .gap").count() == 0


XSS = "<img src=x onerror=window.pwned=1>"


def test_user_text_renders_as_text(ml: Any) -> None:
    ml.evaluate(
        """(x) => {
          H.list.reset([
            H.item(1, {body: x, sender: x, failed: x, state: x, state_key: x, id: x}),
            H.item(2, {kind: "gap", body: x}),
          ], false, false);
          H.list.update(H.item(1, {body: x + "<svg onload=window.pwned=2>"}));
          H.list.setLoading("older", true);
        }""",
        XSS,
    )
    assert ml.locator("#messages img, #messages svg, #messages script").count() == 0
    assert ml.locator("#messages .msg .body").text_content() == XSS + "<svg onload=window.pwned=2>"
    assert ml.locator("#messages .gap .gap-text").text_content() == XSS
    ml.wait_for_timeout(50)
    assert ml.evaluate("() => window.pwned") is None


def test_aria_busy_while_history_is_drawn_not_for_live_messages(ml: Any) -> None:
    ml.evaluate("() => { H.manual = true; H.latest(); }")
    assert ml.evaluate("() => H.log.getAttribute('role')") == "log"
    ml.wait_for_function("() => !H.log.hasAttribute('aria-busy')")
    ml.evaluate("() => { H.busy = []; }")
    ml.evaluate("async () => { H.log.scrollTop = 0; await H.frame(); await H.frame(); }")
    ml.evaluate("() => H.flush()")
    assert ml.evaluate("() => H.log.getAttribute('aria-busy')") == "true"
    ml.wait_for_function("() => !H.log.hasAttribute('aria-busy')")
    assert ml.evaluate("() => H.busy") == ["true", None]
    # A live message at the newest end: announced (no aria-busy).
    ml.evaluate("() => { H.busy = []; H.list.reset(H.all.slice(9950), true, false); }")
    ml.wait_for_function("() => !H.log.hasAttribute('aria-busy')")
    ml.evaluate("() => { H.busy = []; H.list.append([H.item(10000)], false); }")
    ml.wait_for_timeout(150)
    assert ml.evaluate("() => H.busy") == []


def test_loading_rows(ml: Any) -> None:
    ml.evaluate("() => H.latest()")
    ml.evaluate("() => H.list.setLoading('older', true)")
    status = ml.locator("#messages > [role=status]")
    assert status.count() == 1
    assert status.text_content() == "Loading older messages…"
    assert ml.evaluate("() => H.log.firstElementChild.getAttribute('role')") == "status"
    assert ml.evaluate("() => H.atBottom()")  # at the newest end: still at the bottom
    ml.evaluate("() => H.list.setLoading('newer', true)")
    assert ml.evaluate("() => H.log.lastElementChild.textContent") == "Loading newer messages…"
    # Rows go between the status rows; rowCount counts messages only.
    ml.evaluate("() => H.list.prepend(H.all.slice(9900, 9950), true)")
    assert ml.evaluate("() => H.log.firstElementChild.dataset.loading") == "older"
    assert ml.evaluate("() => H.list.rowCount()") == 100
    ml.evaluate("() => { H.list.setLoading('older', false); H.list.setLoading('newer', false); }")
    assert status.count() == 0


def test_clear_and_destroy(ml: Any) -> None:
    ml.evaluate("() => { H.latest(); H.list.clear(); }")
    assert ml.evaluate("() => [H.list.rowCount(), H.log.children.length]") == [0, 0]
    ml.evaluate("() => { H.manual = true; H.latest(); H.list.destroy(); }")
    ml.evaluate("async () => { H.log.scrollTop = 0; await H.frame(); await H.frame(); }")
    ml.get_by_role("button", name="After the list").focus()
    assert ml.evaluate("() => H.calls.older.length") == 0


def main_thread_tasks(trace: bytes) -> list[tuple[float, float]]:
    """(wall ms, thread CPU ms) of every task on the page's main thread."""
    data = json.loads(trace)
    events = data["traceEvents"] if isinstance(data, dict) else data
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e["args"].get("name") == "CrRendererMain"
    }
    return [
        (e["dur"] / 1000, e.get("tdur", 0) / 1000)
        for e in events
        if e.get("name") == "RunTask" and e.get("ph") == "X" and (e["pid"], e["tid"]) in mains
    ]


def test_scrolling_all_10000_has_no_long_task(ml: Any, browser: Any) -> None:
    """The issue's target: newest → oldest of 10,000, no task over 100 ms.

    Long tasks are wall time: on a machine busy with other work (this one has
    2 cores and often runs browser suites side by side) a 5 ms task can be
    descheduled past 100 ms. So the strict bound holds for the main thread's
    CPU time per task (a trace) always, and for wall time when the machine
    wasn't loaded; under load wall time gets a looser bound."""
    if ml.evaluate("() => H.longtasks") is None:
        pytest.fail("no 'longtask' PerformanceObserver in this Chromium")
    # The observer does see long tasks here: a 120 ms busy loop in a page task
    # (work done by page.evaluate itself is not reported; the list's work runs
    # in the page's own frame callbacks and timers).
    ml.evaluate(
        "() => setTimeout(() => { const t = performance.now();"
        " while (performance.now() - t < 120) {} }, 0)"
    )
    ml.wait_for_function("() => H.longtasks.some((d) => d >= 100)")
    ml.evaluate("() => H.latest()")
    ml.evaluate("() => H.settle()")
    ml.evaluate("() => { H.longtasks = []; H.longframes = []; }")
    browser.start_tracing(
        page=ml, categories=["devtools.timeline", "disabled-by-default-devtools.timeline"]
    )
    try:
        # Two screens a frame: a fast flick, so pages arrive back to back.
        run = ml.evaluate("() => H.scrollThrough(-2 * H.log.clientHeight)")
    finally:
        trace = browser.stop_tracing()
    tasks = ml.evaluate("() => H.longtasks")
    frames = ml.evaluate("() => H.longframes") or []
    traced = main_thread_tasks(trace)
    longest = max(tasks, default=0.0)
    longest_cpu = max((cpu for _wall, cpu in traced), default=0.0)
    load = os.getloadavg()[0]
    loaded = load > (os.cpu_count() or 1)
    print(
        f"scrolled 10,000 in {run['ms']:.0f} ms, {run['steps']} steps; "
        f"long tasks {len(tasks)}, longest {longest:.0f} ms wall, "
        f"{longest_cpu:.1f} ms CPU ({len(traced)} tasks traced); long animation frames "
        f"{len(frames)}, longest {max(frames, default=0.0):.0f} ms; "
        f"max rows {ml.evaluate('() => H.maxRows')}; load {load:.1f}"
    )
    assert ml.evaluate("() => H.bodies()[0]").split()[:2] == ["Message", "#0"]
    assert traced, "the trace holds no main-thread tasks"
    assert longest_cpu < 100, sorted(traced, key=lambda t: -t[1])[:5]
    assert longest < (400 if loaded else 100), (tasks, f"load average {load:.1f}")
