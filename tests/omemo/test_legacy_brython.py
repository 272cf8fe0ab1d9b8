"""The legacy OMEMO protocol core under Brython with WebCrypto, against python-omemo.

The page (the built bundle, as tests/platform does it) runs roost.omemo with
the browser's `WebCrypto` backend: it makes a device, starts a session with
a python-omemo device (Bob) and, in a second phase, decrypts what Bob and a
second python-omemo device (Carol, who starts her own session) sent, then
answers both. The python-omemo side runs here in CPython; the messages cross
as the `<encrypted>` XML (tests/omemo/python_omemo_peer.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from roost.omemo.keys import PublicBundle

from tests.omemo.legacy_peers import Envelope
from tests.omemo.python_omemo_peer import (
    Network,
    PythonOmemoPeer,
    envelope_from_xml,
    envelope_to_xml,
)
from tests.platform import conftest as _platform
from tests.support.aio import run
from tests.support.pagelog import PageLog

# The platform tests' fixtures: the built bundle served on loopback, pages.
browser = _platform.browser
context = _platform.context
dist = _platform.dist
make_page = _platform.make_page
page = _platform.page
server = _platform.server

ROOST = "roost@example.org"
FUTURE = "from __future__ import annotations\n"

PAGE = """
from browser import window, aio
from roost.platform.jsdata import to_js, to_py
from roost.platform.omemo_crypto import WebCrypto
from roost.omemo import legacy
from roost.omemo.keys import PublicBundle, generate_device, replace_prekey
from roost.omemo.session import Session

window.results = to_js({})
window.inbox = ""

def publish(key, value):
    window.results[key] = to_js(value)

def bundle_in(d):
    prekeys = []
    for pair in d["prekeys"]:
        prekeys.append((pair[0], bytes.fromhex(pair[1])))
    return PublicBundle(bytes.fromhex(d["ik"]), d["spk_id"], bytes.fromhex(d["spk"]),
                        bytes.fromhex(d["sig"]), prekeys)

def bundle_out(b):
    prekeys = []
    for prekey_id, key in b.prekeys:
        prekeys.append([prekey_id, key.hex()])
    return {"ik": b.identity_key.hex(), "spk_id": b.spk_id, "spk": b.spk.hex(),
            "sig": b.spk_signature.hex(), "prekeys": prekeys}

def stored(session):
    # what IndexedDB would give back: the record read into a new Session
    return Session.from_record(session.to_record())

async def seal(c, own, session, bundle, rid, text):
    km, iv, payload = await legacy.encrypt_payload(c, text.encode("utf-8"))
    wire, is_prekey, session = await legacy.encrypt_for(c, own, session, bundle, km)
    message = {"sid": own.device_id, "rid": rid, "key": wire.hex(), "prekey": is_prekey,
               "iv": iv.hex(), "payload": payload.hex()}
    return message, session

async def phase_one(c):
    started = window.performance.now()
    own = await generate_device(c, 100, now=1700000000)
    made = window.performance.now()
    message, session = await seal(c, own, None, bundle_in(BOB_BUNDLE), BOB_ID, "page starts ✓")
    sessions = {BOB_ID: stored(session)}
    publish("phase1", {"device_id": own.device_id, "bundle": bundle_out(own.public_bundle()),
                       "message": message, "ms_generate_100": made - started,
                       "ms_start_session": window.performance.now() - made})
    return own, sessions

async def phase_two(c, own, sessions):
    while not window.inbox:
        await aio.sleep(0.05)
    texts = []
    started = window.performance.now()
    for m in to_py(window.JSON.parse(window.inbox)):  # the bundle has no `json`
        sid = m["sid"]
        session = sessions[sid] if sid in sessions else None
        km, session, used = await legacy.decrypt_from(
            c, own, session, bytes.fromhex(m["key"]), m["prekey"])
        sessions[sid] = stored(session)
        if used is not None:
            await replace_prekey(c, own, used)
        if m["payload"] is None:
            texts.append(None)
        else:
            plain = await legacy.decrypt_payload(
                c, km, bytes.fromhex(m["iv"]), bytes.fromhex(m["payload"]))
            texts.append(plain.decode("utf-8"))
    received = window.performance.now()
    replies = []
    for sid in sorted(sessions):
        message, session = await seal(c, own, sessions[sid], None, sid, "reply to " + str(sid))
        sessions[sid] = stored(session)
        replies.append(message)
    publish("phase2", {"texts": texts, "replies": replies,
                       "ms_receive_3": received - started,
                       "ms_reply_2": window.performance.now() - received})

async def main():
    try:
        c = WebCrypto()
        own, sessions = await phase_one(c)
        await phase_two(c, own, sessions)
    except Exception as exc:
        publish("error", type(exc).__name__ + ": " + str(exc))

aio.run(main())
"""


def _bundle_hex(bundle: PublicBundle) -> dict[str, Any]:
    return {
        "ik": bundle.identity_key.hex(),
        "spk_id": bundle.spk_id,
        "spk": bundle.spk.hex(),
        "sig": bundle.spk_signature.hex(),
        "prekeys": [[i, k.hex()] for i, k in bundle.prekeys],
    }


def _bundle_from_hex(d: dict[str, Any]) -> PublicBundle:
    return PublicBundle(
        bytes.fromhex(d["ik"]),
        d["spk_id"],
        bytes.fromhex(d["spk"]),
        bytes.fromhex(d["sig"]),
        [(i, bytes.fromhex(k)) for i, k in d["prekeys"]],
    )


def _xml(m: dict[str, Any]) -> str:
    payload = None if m["payload"] is None else bytes.fromhex(m["payload"])
    keys = {m["rid"]: (bytes.fromhex(m["key"]), m["prekey"])}
    return envelope_to_xml(Envelope(m["sid"], keys, bytes.fromhex(m["iv"]), payload))


def _result(pg: Any, log: PageLog, key: str) -> Any:
    try:
        pg.wait_for_function(
            f"() => window.results && (window.results[{key!r}] !== undefined"
            " || window.results.error !== undefined)",
            timeout=45_000,
        )
    except Exception:
        raise AssertionError((log.console, log.errors, log.failed)) from None
    error = pg.evaluate("() => window.results.error")
    assert error is None, (error, log.console)
    return pg.evaluate(f"() => window.results[{key!r}]")


def test_roost_in_brython_talks_to_python_omemo(
    make_page: Callable[[str, str], str], page: tuple[Any, PageLog]
) -> None:
    pg, log = page
    network = Network()
    bob = run(PythonOmemoPeer.create(network, "bob@example.net"))
    carol = run(PythonOmemoPeer.create(network, "carol@example.net"))
    try:
        source = (
            FUTURE
            + f"BOB_ID = {bob.device_id}\nBOB_BUNDLE = {_bundle_hex(bob.bundle())!r}\n"
            + PAGE
        )
        pg.goto(make_page("t-omemo-legacy", source))

        # Phase 1: the page started a session with Bob.
        one = _result(pg, log, "phase1")
        page_id = one["device_id"]
        network.publish_roost(ROOST, page_id, _bundle_from_hex(one["bundle"]))
        assert one["message"]["prekey"] is True
        assert run(bob.receive(ROOST, _xml(one["message"]))) == "page starts ✓".encode()

        # Phase 2: Bob's session completion and answer, Carol's session start.
        xmls = network.take_sent(ROOST)
        xmls.append(run(bob.send(ROOST, b"bob answers")))
        xmls.append(run(carol.send(ROOST, "carol starts ✓".encode())))
        inbox = []
        for xml in xmls:
            envelope = envelope_from_xml(xml)
            wire, is_prekey = envelope.keys[page_id]
            inbox.append(
                {
                    "sid": envelope.sid,
                    "key": wire.hex(),
                    "prekey": is_prekey,
                    "iv": envelope.iv.hex(),
                    "payload": None if envelope.payload is None else envelope.payload.hex(),
                }
            )
        pg.evaluate("(text) => { window.inbox = text; }", json.dumps(inbox))
        two = _result(pg, log, "phase2")
        assert two["texts"] == [None, "bob answers", "carol starts ✓"]

        replies = {m["rid"]: m for m in two["replies"]}
        assert replies.keys() == {bob.device_id, carol.device_id}
        assert not any(m["prekey"] for m in replies.values())  # both sessions confirmed
        for peer in (bob, carol):
            text = run(peer.receive(ROOST, _xml(replies[peer.device_id])))
            assert text == f"reply to {peer.device_id}".encode()
        assert log.errors == [], log.console
        print(
            f"\nBrython + WebCrypto: generate device (100 prekeys) {one['ms_generate_100']:.0f} ms,"
            f" start session + encrypt {one['ms_start_session']:.0f} ms,"
            f" receive 3 (one new session) {two['ms_receive_3']:.0f} ms,"
            f" encrypt 2 replies {two['ms_reply_2']:.0f} ms"
        )
    finally:
        run(bob.close())
        run(carol.close())
