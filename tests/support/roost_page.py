"""Driving and reading the Roost page in Chromium (Playwright sync API) for
tests that count messages: send many through the composer, read a whole
conversation, know whether the app is online.

Reading a conversation: the page keeps only a window of rows in the DOM, so
the app's own state is read through `window.RoostDebug.messages(bare)` when the
page offers it (an array, or a promise of one, of
`{id, body, outgoing, state}` for the whole conversation, oldest first);
else, on a trusted device, the message store's records in IndexedDB; else
the rows drawn in `#messages` (the open chat only, and only the window the
list keeps).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any

TIMEOUT_MS = 20_000

_READ_JS = """async ([bare, account]) => {
  const hook = window.RoostDebug;
  if (hook && typeof hook.messages === 'function') {
    const list = await hook.messages(bare);
    return {source: 'hook', rows: Array.from(list || [], m => ({
      id: String(m.id || ''), body: String(m.body), outgoing: !!m.outgoing,
      state: String(m.state || ''), stamp: typeof m.stamp === 'number' ? m.stamp : null,
      seq: typeof m.seq === 'number' ? m.seq : null}))};
  }
  const stored = account ? await readStore('roost-' + account, bare) : null;
  if (stored !== null) { return {source: 'indexeddb', rows: stored}; }
  const log = document.getElementById('messages');
  const rows = log ? Array.from(log.querySelectorAll('.msg')) : [];
  return {source: 'dom', rows: rows.map(r => {
    const body = r.querySelector('.body');
    const state = r.querySelector('.state');
    return {id: r.dataset.id || '', body: body ? body.textContent : '',
            outgoing: r.classList.contains('out'),
            state: state ? (state.dataset.state || '') : ''};
  })};

  // The message store's records (schema v2+: `messages`, keyPath seq, index
  // conv_stamp), in its order; null when there is no such database (never
  // created here: opening a missing one would make an empty one).
  async function readStore(name, conv) {
    const names = (await indexedDB.databases()).map(d => d.name);
    if (!names.includes(name)) { return null; }
    const db = await new Promise((ok, fail) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
      req.onupgradeneeded = () => req.transaction.abort();
    }).catch(() => null);
    if (db === null) { return null; }
    db.onversionchange = () => db.close();
    try {
      if (!db.objectStoreNames.contains('messages')) { return null; }
      const store = db.transaction('messages').objectStore('messages');
      if (store.keyPath !== 'seq' || !store.indexNames.contains('conv_stamp')) { return null; }
      const range = IDBKeyRange.bound([conv], [conv, []]);
      const all = await new Promise((ok, fail) => {
        const req = store.index('conv_stamp').getAll(range);
        req.onsuccess = () => ok(req.result);
        req.onerror = () => fail(req.error);
      });
      return all.filter(m => (m.kind || 'message') === 'message').map(m => ({
        id: String(m.id || ''), body: String(m.body || ''), outgoing: !!m.outgoing,
        state: String(m.state || ''), stamp: typeof m.stamp === 'number' ? m.stamp : null}));
    } finally {
      db.close();
    }
  }
}"""

# Fill the composer and press Enter (a keydown the view handles like a real
# one), once per text; stops at the first text the app did not take (the
# composer keeps it). Returns how many were taken.
_SEND_JS = """(texts) => {
  const box = document.getElementById('composer-text');
  const main = document.getElementById('main-screen');
  if (!box || !main || main.hidden) { return 0; }
  let n = 0;
  for (const text of texts) {
    box.value = text;
    box.dispatchEvent(new KeyboardEvent('keydown',
        {key: 'Enter', code: 'Enter', bubbles: true, cancelable: true}));
    if (box.value !== '') { box.value = ''; break; }
    n++;
  }
  return n;
}"""

_STATE_JS = """() => {
  const hook = window.RoostDebug;
  if (hook && typeof hook.state === 'function') { return String(hook.state()); }
  const main = document.getElementById('main-screen');
  if (!main || main.hidden) { return 'login'; }
  const banner = document.getElementById('reconnect-banner');
  if (banner && !banner.hidden) { return 'reconnecting'; }
  const conn = document.getElementById('conn-state');
  const text = conn ? conn.textContent.trim() : '';
  return text === '' ? 'online' : text;
}"""

# Records each text #sync-state shows while visible ("Catching up… 120 of 300").
SYNC_WATCH_JS = """(() => {
  window.__roostSyncSeen = [];
  const watch = () => {
    const el = document.getElementById('sync-state');
    if (el && !el.hidden && el.textContent) {
      const seen = window.__roostSyncSeen;
      if (seen[seen.length - 1] !== el.textContent) { seen.push(el.textContent); }
    }
  };
  new MutationObserver(watch).observe(document,
      {subtree: true, childList: true, attributes: true, characterData: true});
})();"""


class Row:
    __slots__ = ("body", "id", "outgoing", "seq", "stamp", "state")

    def __init__(self, id: str, body: str, outgoing: bool, state: str,
                 stamp: float | None = None, seq: int | None = None) -> None:
        self.id = id
        self.body = body
        self.outgoing = outgoing
        self.state = state
        self.stamp = stamp  # seconds since the epoch, when the source has it
        self.seq = seq  # the store's tie-break between equal stamps (hook only)

    def __repr__(self) -> str:
        side = "out" if self.outgoing else "in"
        at = f", stamp {self.stamp:.3f}" if self.stamp is not None else ""
        seq = f", seq {self.seq}" if self.seq is not None else ""
        return f"Row({self.body!r}, id={self.id!r}, {side}, {self.state}{at}{seq})"


# Which screen a loaded page settles on: the login form, or the main screen
# (a trusted device's remembered login starts by itself: platform/remembered.py).
SCREEN_JS = """() => {
  const main = document.getElementById('main-screen');
  if (main && !main.hidden) { return 'main'; }
  const login = document.getElementById('login-screen');
  const address = document.getElementById('login-address');
  return login && !login.hidden && address && !address.disabled ? 'login' : '';
}"""


def login(page: Any, url: str | None, address: str, password: str, trusted: bool = True) -> None:
    """Fill and submit the login form (`url`: go there first; None: the page
    is loaded, e.g. after a reload). A trusted device that remembers this
    account logs in by itself: then there is no form to fill."""
    if url is not None:
        page.goto(url)
    if trusted:
        screen = page.wait_for_function(SCREEN_JS, timeout=TIMEOUT_MS).json_value()
        if screen == "main":
            return  # the remembered login (one account per browser context in tests)
    page.get_by_label("Address").fill(address)
    page.get_by_label("Password").fill(password)
    box = page.get_by_label("This is a trusted device")
    if box.is_checked() != trusted:
        box.click()
    page.get_by_role("button", name="Log in").click()


def wait_main(page: Any, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until the main screen shows (logged in); else AssertionError saying
    what the page shows instead."""
    try:
        page.get_by_role("button", name="Log out").wait_for(state="visible", timeout=timeout_ms)
    except Exception as exc:
        if "Timeout" not in type(exc).__name__:
            raise
        raise AssertionError(f"not logged in after {timeout_ms / 1000:.0f} s: {describe(page)}"
                             ) from None


def describe(page: Any) -> str:
    """What the page shows: screen, status texts, app state, errors logged."""
    try:
        seen = page.evaluate("""() => {
          const text = (id) => { const el = document.getElementById(id);
                                 return el && !el.hidden ? el.textContent.trim() : null; };
          const main = document.getElementById('main-screen');
          return {screen: main && !main.hidden ? 'main' : 'login',
                  login_status: text('login-status'), conn: text('conn-state'),
                  banner: text('reconnect-banner'), notice: text('notice'),
                  sync: text('sync-state')};
        }""")
    except Exception as exc:  # navigating
        seen = f"(page not readable: {type(exc).__name__})"
    log = getattr(page, "errors", None)
    errors = log.errors[-5:] if log is not None else []
    console = log.console[-8:] if log is not None else []
    return f"{seen}; app state {app_state(page)!r}; errors {errors}; last console {console}"


def open_chat(page: Any, name: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Open the chat with the contact whose list entry starts with `name`."""
    import re

    contacts = page.get_by_role("list", name="Contacts")
    item = contacts.get_by_role("listitem", name=re.compile(rf"^{re.escape(name)}\b"))
    item.click(timeout=timeout_ms)
    page.get_by_role("textbox", name="Message").wait_for(state="visible", timeout=timeout_ms)


def send_texts(page: Any, texts: Sequence[str]) -> int:
    """Send `texts` through the composer; how many the app took (in order)."""
    if not texts:
        return 0
    return int(page.evaluate(_SEND_JS, list(texts)))


def app_state(page: Any) -> str:
    """online | reconnecting | login | the connection text the header shows."""
    try:
        return str(page.evaluate(_STATE_JS))
    except Exception as exc:  # navigating: the context was destroyed
        return f"unknown ({type(exc).__name__})"


def wait_state(page: Any, state: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app_state(page) == state:
            return True
        page.wait_for_timeout(50)
    return app_state(page) == state


def read_conversation(page: Any, bare: str, account: str | None = None
                      ) -> tuple[str, list[Row]]:
    """(source, rows oldest first) of the conversation with `bare`: from the
    app (source "hook"), else, given the `account` of a trusted device, from
    its message store in IndexedDB ("indexeddb": what is written lags up to
    the store's write delay), else the rows drawn ("dom")."""
    got = page.evaluate(_READ_JS, [bare, account])
    return str(got["source"]), [
        Row(r["id"], r["body"], bool(r["outgoing"]), r["state"], r.get("stamp"), r.get("seq"))
        for r in got["rows"]
    ]


def sequence_problems(label: str, got: Iterable[tuple[str, str]], expected: Sequence[str],
                      detail: Callable[[str], object] | None = None) -> list[str]:
    """What is wrong with `got` [(body, id)] against `expected` bodies: missing,
    doubled (with their ids), unexpected, out of order (`detail(body)`
    describes a message there). [] when exact."""
    got = list(got)
    bodies = [b for b, _ in got]
    want = set(expected)
    counts = Counter(bodies)
    problems = []
    missing = [b for b in expected if b not in counts]
    if missing:
        problems.append(f"{label}: {len(missing)} of {len(expected)} missing, "
                        f"e.g. {_few(missing)}")
    doubled = {b: [i for bb, i in got if bb == b] for b, n in counts.items() if n > 1}
    if doubled:
        shown = {b: ids for b, ids in list(doubled.items())[:8]}
        problems.append(f"{label}: {len(doubled)} shown more than once (body: ids), "
                        f"e.g. {shown}")
    extra = [b for b in counts if b not in want]
    if extra:
        problems.append(f"{label}: {len(extra)} unexpected, e.g. {_few(extra)}")
    firsts: list[str] = []
    placed: set[str] = set()
    for b in bodies:
        if b in want and b not in placed:
            firsts.append(b)
            placed.add(b)
    order = [b for b in expected if b in counts]
    if firsts != order:
        at = next(i for i, (a, b) in enumerate(zip(firsts, order, strict=False)) if a != b)
        rank = {b: i for i, b in enumerate(expected)}
        inversions = [(a, b) for a, b in pairwise(firsts) if rank[a] > rank[b]]
        show = detail or (lambda body: body)
        places = "; ".join(f"{show(a)!r} before {show(b)!r}" for a, b in inversions[:4])
        problems.append(f"{label}: out of order from position {at}: got "
                        f"{firsts[at:at + 5]}, expected {order[at:at + 5]}; "
                        f"{len(inversions)} places where a later one comes first, e.g. {places}")
    return problems


def _few(items: Sequence[str], n: int = 10) -> str:
    head = ", ".join(repr(x) for x in items[:n])
    return f"[{head}{', …' if len(items) > n else ''}]"


def poll(fn: Callable[[], bool], timeout: float, step_ms: int = 200, page: Any = None) -> bool:
    """Call `fn` until it returns True or `timeout` s pass (Playwright-friendly
    waits when a page is given); its last result."""
    deadline = time.monotonic() + timeout
    while True:
        if fn():
            return True
        if time.monotonic() >= deadline:
            return False
        if page is not None:
            page.wait_for_timeout(step_ms)
        else:
            time.sleep(step_ms / 1000)
