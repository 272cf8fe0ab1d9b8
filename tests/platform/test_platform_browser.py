"""The browser adapters (roost.platform) and the built bundle, in real Chromium.

Each test page is the built index.html with its one-line Python entry
replaced by test code that publishes results in `window.results`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from roost.xmpp.xmlparse import parse_xml

from tests.platform.conftest import PageLog, wait_result

PUBLISH = """
from browser import window
import javascript
from roost.platform.jsdata import to_js
window.results = to_js({})
def publish(key, value):
    window.results[key] = to_js(value)
"""

Page = tuple[Any, PageLog]


def _no_errors(log: PageLog) -> None:
    assert log.errors == [], log.console
    assert log.failed == [], log.failed


# -- boot and caching -------------------------------------------------------------


def test_app_boots_without_errors_and_caches_compiled_modules(server: Any, page: Page) -> None:
    pg, log = page
    pg.goto(server.url)
    pg.wait_for_function(
        "() => performance.getEntriesByName('roost-python-ready').length > 0", timeout=20_000
    )
    # Brython stores the code it compiled from the VFS bundles in IndexedDB...
    cached = pg.evaluate(
        """() => new Promise((resolve, reject) => {
            const req = indexedDB.open('brython-cache');
            req.onsuccess = () => {
                const all = req.result.transaction('modules').objectStore('modules').getAllKeys();
                all.onsuccess = () => resolve(all.result);
                all.onerror = reject;
            };
            req.onerror = reject;
        })"""
    )
    assert {"roost.main", "roost.app.chat", "roost.platform.dom", "base64"} <= set(cached)
    # ...and the next load takes them from there instead of compiling again.
    pg.reload()
    pg.wait_for_function(
        "() => performance.getEntriesByName('roost-python-ready').length > 0", timeout=20_000
    )
    precompiled = pg.evaluate("() => Object.keys(__BRYTHON__.precompiled)")
    assert "roost.app.chat" in precompiled
    assert pg.is_hidden("#fatal")
    _no_errors(log)


def test_login_form_is_plain_html_with_accessible_names(server: Any, page: Page) -> None:
    pg, _log = page
    pg.route("**/brython.*.js", lambda route: route.abort())  # no Python at all
    pg.goto(server.url)
    assert pg.get_by_role("textbox", name="Address").get_attribute("autocomplete") == "username"
    assert pg.get_by_label("Password").get_attribute("autocomplete") == "current-password"
    assert pg.get_by_role("checkbox", name="This is a trusted device").is_checked()
    assert pg.get_by_role("button", name="Log in").is_visible()
    assert pg.get_by_role("status").count() >= 1


def test_early_submission_is_kept_until_python_is_ready(server: Any, page: Page) -> None:
    """Submit before Brython has loaded: "Starting…", then the real app takes it
    (the static server has no WebSocket endpoint: "can't reach" plus Retry)."""
    pg, _log = page
    held: list[Any] = []
    pg.route("**/roost-app.*.js", lambda route: held.append(route))  # answered after the submit
    pg.goto(server.url, wait_until="commit")
    pg.get_by_label("Address").fill("alice@localhost")
    pg.get_by_label("Password").fill("secret")
    pg.get_by_role("button", name="Log in").click()
    status = pg.locator("#login-status")
    assert status.text_content() == "Starting…"
    assert "password" not in pg.url and "secret" not in pg.url
    pg.wait_for_function("() => true")  # let the route handler run
    assert held, "the app bundle request was not intercepted"
    held[0].continue_()
    pg.get_by_role("button", name="Retry").wait_for(timeout=20_000)
    assert "reach the server" in (status.text_content() or "")


# -- DOMParser adapter -------------------------------------------------------------

STANZAS = [
    "<message xmlns='jabber:client' to='bob@example.org' from='alice@example.org/x'"
    " type='chat' id='m1' xml:lang='en'><body>Hi &amp; &lt;welcome&gt; \"q\"</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<iq xmlns='jabber:client' type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v1'>"
    "<item jid='bob@example.org' name='Bob &quot;B&quot;' subscription='both'>"
    "<group>Friends</group></item></query></iq>",
    "<features xmlns='http://etherx.jabber.org/streams'><mechanisms"
    " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>"
    "<mechanism>PLAIN</mechanism></mechanisms></features>",
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='abc'"
    " version='1.0' xml:lang='en'/>",
    "<s:success xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpS"
    "a0ZzS1E9</s:success>",
    "<message xmlns='jabber:client'><body>multi\nline\n\u00e9\u4e2d\U0001f600</body></message>",
]
BAD = [
    "<message xmlns='jabber:client'><body>unclosed</message>",
    "<?xml-stylesheet href='x'?><message xmlns='jabber:client'/>",
    "<message xmlns='jabber:client'><!-- c --><body>x</body></message>",
    "<!DOCTYPE m [<!ENTITY e 'x'>]><message xmlns='jabber:client'>&e;</message>",
    "",
    "not xml",
]


def test_dom_parser_matches_the_cpython_parser(make_page: Callable[..., str], page: Page) -> None:
    pg, log = page
    url = make_page(
        "t-dom",
        PUBLISH
        + f"""
from roost.platform.dom import parse
from roost.xmpp.errors import XmlError
good = {json.dumps(STANZAS)}
bad = {json.dumps(BAD)}
publish("good", [parse(s).to_xml() for s in good])
out = []
for s in bad:
    try:
        parse(s)
        out.append("parsed")
    except XmlError as exc:
        out.append("XmlError")
publish("bad", out)
""",
    )
    pg.goto(url)
    assert wait_result(pg, "good") == [parse_xml(s).to_xml() for s in STANZAS]
    assert wait_result(pg, "bad") == ["XmlError"] * len(BAD)
    _no_errors(log)


# -- crypto ---------------------------------------------------------------------------


def test_pbkdf2_random_and_hashlib(make_page: Callable[..., str], page: Page) -> None:
    pg, log = page
    url = make_page(
        "t-crypto",
        PUBLISH
        + """
import hashlib, base64
from roost.platform import webcrypto
out = {}
def done(name):
    def cb(value):
        out[name] = value.hex()
        if len(out) == 3:
            publish("pbkdf2", out)
    return cb
def failed(exc):
    publish("pbkdf2", {"error": str(exc)})
webcrypto.pbkdf2("sha1", b"pencil", b"QSXCR+Q6sek8bf92", 4096, done("sha1"), failed)
webcrypto.pbkdf2("sha256", "p\\u00e4ss".encode(), bytes(range(16)), 4096, done("sha256"), failed)
webcrypto.pbkdf2("SHA-256", b"", b"salt", 1, done("empty"), failed)
webcrypto.pbkdf2("md5", b"x", b"y", 1, None, lambda exc: publish("bad_hash", str(exc)))
r1, r2 = webcrypto.random_bytes(32), webcrypto.random_bytes(32)
publish("random", [len(r1), len(webcrypto.random_bytes(70000)), r1 != r2, type(r1).__name__])
big = bytes(range(256)) * 40
h = hashlib.sha256(b"ab")
h.update(b"c")
publish("hashlib", {
    "sha1_abc": hashlib.sha1(b"abc").digest().hex(),
    "sha1_empty": hashlib.sha1(b"").hexdigest(),
    "sha256_abc": hashlib.sha256(b"abc").digest().hex(),
    "sha256_big": hashlib.sha256(big).digest().hex(),
    "sha1_big": hashlib.sha1(big).digest().hex(),
    "sha256_update": h.digest().hex(),
    "digest_type": type(hashlib.sha1(b"abc").digest()).__name__,
    "digest_len": [len(hashlib.sha1(b"x").digest()), len(hashlib.sha256(b"x").digest())],
    "b64": base64.b64encode(hashlib.sha1(b"abc").digest()).decode(),
})
from roost.xmpp.sasl import hmac_digest
publish("hmac", [hmac_digest("sha1", b"key", b"msg").hex(),
                 hmac_digest("sha256", b"k" * 100, b"msg").hex()])
""",
    )
    pg.goto(url)
    got = wait_result(pg, "pbkdf2")
    assert got == {
        "sha1": hashlib.pbkdf2_hmac("sha1", b"pencil", b"QSXCR+Q6sek8bf92", 4096).hex(),
        "sha256": hashlib.pbkdf2_hmac("sha256", "p\u00e4ss".encode(), bytes(range(16)), 4096).hex(),
        "empty": hashlib.pbkdf2_hmac("sha256", b"", b"salt", 1).hex(),
    }
    assert "unsupported hash" in wait_result(pg, "bad_hash")
    assert wait_result(pg, "random") == [32, 70000, True, "bytes"]
    big = bytes(range(256)) * 40
    import base64

    assert wait_result(pg, "hashlib") == {
        "sha1_abc": hashlib.sha1(b"abc").hexdigest(),
        "sha1_empty": hashlib.sha1(b"").hexdigest(),
        "sha256_abc": hashlib.sha256(b"abc").hexdigest(),
        "sha256_big": hashlib.sha256(big).hexdigest(),
        "sha1_big": hashlib.sha1(big).hexdigest(),
        "sha256_update": hashlib.sha256(b"abc").hexdigest(),
        "digest_type": "bytes",
        "digest_len": [20, 32],
        "b64": base64.b64encode(hashlib.sha1(b"abc").digest()).decode(),
    }
    import hmac

    assert wait_result(pg, "hmac") == [
        hmac.new(b"key", b"msg", "sha1").hexdigest(),
        hmac.new(b"k" * 100, b"msg", "sha256").hexdigest(),
    ]
    _no_errors(log)


# -- storage ----------------------------------------------------------------------------

STORAGE_SCRIPT = """
from roost.platform.storage import open_storage
st = open_storage("alice@localhost", TRUSTED)
log = []
def step5():
    publish("done", log)
def step4(value):
    log.append(["after_delete", value])
    if TRUSTED:
        st2 = open_storage("alice@localhost", True)   # a second handle sees the data
        def reopened(v):
            log.append(["reopen", v])
            st2.destroy(step5)
        st2.get("roster", "bob@localhost", reopened)
    else:
        step5()
def step3(value):
    log.append(["all", value])
    st.delete("cursors", "b", lambda: st.get("cursors", "b", step4))
def step2(value):
    log.append(["get", value])
    st.put("cursors", "b", {"n": 2}, lambda: st.put("cursors", "a", [1, None, "x"],
           lambda: st.all("cursors", step3)))
RECORD = {"jid": "bob@localhost", "name": None, "groups": ["F"], "n": 1.5, "t": True}
st.put("roster", "bob@localhost", RECORD, lambda: st.get("roster", "bob@localhost", step2))
log.append(["sync"])  # callbacks never run inside the call
"""


def _databases(pg: Any) -> list[str]:
    names: list[str] = pg.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    return names


def test_indexeddb_storage_put_get_all_delete_destroy(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, log = page
    pg.goto(make_page("t-idb", PUBLISH + STORAGE_SCRIPT.replace("TRUSTED", "True")))
    done = wait_result(pg, "done")
    record = {"jid": "bob@localhost", "name": None, "groups": ["F"], "n": 1.5, "t": True}
    assert done == [
        ["sync"],
        ["get", record],
        ["all", {"a": [1, None, "x"], "b": {"n": 2}}],
        ["after_delete", None],
        ["reopen", record],
    ]
    pg.wait_for_function(
        "async () => !(await indexedDB.databases()).some(d => d.name === 'roost-alice@localhost')"
    )
    _no_errors(log)


def test_memory_storage_leaves_nothing_behind(
    make_page: Callable[..., str], page: Page, dist: Any
) -> None:
    pg, log = page
    pg.goto(make_page("t-mem", PUBLISH + STORAGE_SCRIPT.replace("TRUSTED", "False")))
    done = wait_result(pg, "done")
    assert done[:3] == [
        ["sync"],
        ["get", {"jid": "bob@localhost", "name": None, "groups": ["F"], "n": 1.5, "t": True}],
        ["all", {"a": [1, None, "x"], "b": {"n": 2}}],
    ]
    assert [n for n in _databases(pg) if n != "brython-cache"] == []
    assert pg.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
    # The Cache API holds only the service worker's shell (no user data).
    precache = set(
        json.loads((dist / "sw.js").read_text().split("__ROOST_PRECACHE__ = ")[1].split(";")[0])
    )
    cached = pg.evaluate(
        """async () => {
            const out = [];
            for (const name of await caches.keys()) {
                for (const req of await (await caches.open(name)).keys()) {
                    out.push(new URL(req.url).pathname.slice(1));
                }
            }
            return out;
        }"""
    )
    assert set(cached) <= precache | {"", "config.json", "manifest.json"}
    _no_errors(log)


# -- error reporter -------------------------------------------------------------------------


def test_error_reporter_shows_a_clear_message_not_a_traceback(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, log = page
    url = make_page(
        "t-error",
        PUBLISH
        + """
from roost.platform import errors
errors.install()
def boom():
    raise ValueError("secret internal detail")
window.setTimeout(boom, 10)
""",
    )
    pg.goto(url)
    dialog = pg.get_by_role("alertdialog")
    dialog.wait_for(timeout=20_000)
    assert dialog.text_content() and "Something went wrong in Roost" in dialog.text_content()
    assert pg.get_by_role("button", name="Reload").is_visible()
    body = pg.evaluate("() => document.body.innerText")
    assert "Traceback" not in body and "secret internal detail" not in body
    assert any("secret internal detail" in e for e in log.errors)  # details in the console


def test_error_before_python_runs_shows_the_message(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, _log = page
    pg.goto(make_page("t-syntax", "import roost.no_such_module"))
    pg.get_by_role("alertdialog").wait_for(timeout=20_000)
    assert "No module named" not in pg.evaluate("() => document.body.innerText")


# -- WebSocket ---------------------------------------------------------------------------------


@pytest.fixture
def ws_server() -> Iterator[str]:
    from websockets.sync.server import serve

    def handler(ws: Any) -> None:
        for message in ws:
            if message == "<close/>":
                ws.close()
                return
            ws.send("echo:" + str(message))

    def select(conn: Any, protocols: Any) -> Any:
        return "xmpp" if "xmpp" in protocols else None

    server = serve(handler, "127.0.0.1", 0, select_subprotocol=select)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"ws://localhost:{server.socket.getsockname()[1]}/xmpp-websocket"
    server.shutdown()


def test_websocket_connection(make_page: Callable[..., str], page: Page, ws_server: str) -> None:
    pg, _log = page
    url = make_page(
        "t-ws",
        PUBLISH
        + f"""
from roost.platform.browser import BrowserPlatform
from roost.platform.websocket import resolve_url
platform = BrowserPlatform({{}})
events = []
def on_open():
    events.append("open:" + conn.protocol)
    conn.send("<open/>")
def on_frame(text):
    events.append(text)
    if len(events) == 2:
        conn.send("<close/>")
def on_close(error):
    events.append(repr(error))
    publish("events", events)
conn = platform.connect({ws_server!r}, on_open, on_frame, on_close)
publish("relative", resolve_url("/xmpp-websocket"))
failed = []
def on_close2(error):
    publish("refused", [type(error).__name__, error.opened, error.user_message])
platform.connect("ws://localhost:9/none", lambda: None, lambda t: None, on_close2)
""",
    )
    pg.goto(url)
    assert (
        wait_result(pg, "relative")
        == url.replace("http://", "ws://").rsplit("/", 1)[0] + "/xmpp-websocket"
    )
    assert wait_result(pg, "events") == ["open:xmpp", "echo:<open/>", "None"]
    kind, opened, message = wait_result(pg, "refused")
    assert (kind, opened) == ("NetworkError", False)
    assert "reach the server" in message
