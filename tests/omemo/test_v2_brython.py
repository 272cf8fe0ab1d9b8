"""The OMEMO 2 protocol core under Brython with WebCrypto, against python-omemo's twomemo.

The page (the built bundle, as tests/platform does it) runs roost.omemo.v2
with the browser's `WebCrypto` backend: it makes a device, starts a session
with a python-omemo device (Bob), sending an SCE envelope it builds with
roost.xmpp.xeps.xep_0384, and in a second phase decrypts what Bob and a
second python-omemo device (Carol, who starts her own session) sent, then
answers both. The python-omemo side runs here in CPython; the messages cross
as `<encrypted xmlns='urn:xmpp:omemo:2'>` XML (tests/omemo/twomemo_peer.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from roost.omemo.v2 import PublicBundleV2

from tests.omemo.test_legacy_brython import _result
from tests.omemo.twomemo_peer import (
    Network2,
    TwomemoPeer,
    envelope_from_xml,
    envelope_to_xml,
    sce_body,
)
from tests.omemo.v2_peers import EnvelopeV2
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
from roost.omemo import v2
from roost.omemo.keys import generate_device, replace_prekey
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0384

window.results = to_js({})
window.inbox = ""

def publish(key, value):
    window.results[key] = to_js(value)

def bundle_in(d):
    prekeys = []
    for pair in d["prekeys"]:
        prekeys.append((pair[0], bytes.fromhex(pair[1])))
    return v2.PublicBundleV2(bytes.fromhex(d["ik"]), d["spk_id"], bytes.fromhex(d["spk"]),
                             bytes.fromhex(d["sig"]), prekeys)

def bundle_out(b):
    prekeys = []
    for prekey_id, key in b.prekeys:
        prekeys.append([prekey_id, key.hex()])
    return {"ik": b.identity_key.hex(), "spk_id": b.spk_id, "spk": b.spk.hex(),
            "sig": b.spk_signature.hex(), "prekeys": prekeys}

def stored(session):
    # what IndexedDB would give back: the record read into a new Session
    return v2.SessionV2.from_record(session.to_record())

def envelope(text, to):
    sce = xep_0384.body_envelope(text, JID.parse(OWN_JID), JID.parse(to), "cGFk")
    return xep_0384.build_envelope(sce).to_xml().encode("utf-8")

async def seal(c, own, session, bundle, rid, to, text):
    km, payload = await v2.encrypt_payload(c, envelope(text, to))
    wire, kex, session = await v2.encrypt_for(c, own, session, bundle, km)
    message = {"sid": own.device_id, "rid": rid, "key": wire.hex(), "kex": kex,
               "payload": payload.hex()}
    return message, session

async def phase_one(c):
    started = window.performance.now()
    own = await generate_device(c, 100, now=1700000000)
    made = window.performance.now()
    bundle = await v2.public_bundle_v2(c, own)
    exported = window.performance.now()
    message, session = await seal(c, own, None, bundle_in(BOB_BUNDLE), BOB_ID, BOB_JID,
                                  "page starts ✓")
    sessions = {BOB_ID: stored(session)}
    publish("phase1", {"device_id": own.device_id, "bundle": bundle_out(bundle),
                       "message": message, "ms_generate_100": made - started,
                       "ms_bundle_v2": exported - made,
                       "ms_start_session": window.performance.now() - exported})
    return own, sessions

async def phase_two(c, own, sessions):
    while not window.inbox:
        await aio.sleep(0.05)
    texts = []
    started = window.performance.now()
    for m in to_py(window.JSON.parse(window.inbox)):  # the bundle has no `json`
        sid = m["sid"]
        session = sessions[sid] if sid in sessions else None
        km, session, used = await v2.decrypt_from(
            c, own, session, bytes.fromhex(m["key"]), m["kex"])
        sessions[sid] = stored(session)
        if used is not None:
            await replace_prekey(c, own, used)
        if m["payload"] is None:
            texts.append(None)
        else:
            plain = await v2.decrypt_payload(c, km, bytes.fromhex(m["payload"]))
            texts.append(plain.hex())
    received = window.performance.now()
    replies = []
    for sid in sorted(sessions):
        message, session = await seal(c, own, sessions[sid], None, sid, PEERS[str(sid)],
                                      "reply to " + str(sid))
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


def _bundle_hex(bundle: PublicBundleV2) -> dict[str, Any]:
    return {
        "ik": bundle.identity_key.hex(),
        "spk_id": bundle.spk_id,
        "spk": bundle.spk.hex(),
        "sig": bundle.spk_signature.hex(),
        "prekeys": [[i, k.hex()] for i, k in bundle.prekeys],
    }


def _bundle_from_hex(d: dict[str, Any]) -> PublicBundleV2:
    return PublicBundleV2(
        bytes.fromhex(d["ik"]),
        d["spk_id"],
        bytes.fromhex(d["spk"]),
        bytes.fromhex(d["sig"]),
        [(i, bytes.fromhex(k)) for i, k in d["prekeys"]],
    )


def _xml(m: dict[str, Any], to: str) -> str:
    payload = None if m["payload"] is None else bytes.fromhex(m["payload"])
    keys = {m["rid"]: (bytes.fromhex(m["key"]), m["kex"])}
    return envelope_to_xml(EnvelopeV2(m["sid"], keys, payload), to)


def test_roost_omemo2_in_brython_talks_to_twomemo(
    make_page: Callable[[str, str], str], page: tuple[Any, PageLog]
) -> None:
    pg, log = page
    network = Network2()
    bob = run(TwomemoPeer.create(network, "bob@example.net"))
    carol = run(TwomemoPeer.create(network, "carol@example.net"))
    peers = {str(bob.device_id): bob.jid, str(carol.device_id): carol.jid}
    try:
        source = (
            FUTURE
            + f"OWN_JID = {ROOST!r}\nBOB_JID = {bob.jid!r}\nPEERS = {peers!r}\n"
            + f"BOB_ID = {bob.device_id}\nBOB_BUNDLE = {_bundle_hex(bob.bundle())!r}\n"
            + PAGE
        )
        pg.goto(make_page("t-omemo-v2", source))

        # Phase 1: the page started a session with Bob.
        one = _result(pg, log, "phase1")
        page_id = one["device_id"]
        network.publish_roost(ROOST, page_id, _bundle_from_hex(one["bundle"]))
        assert one["message"]["kex"] is True
        assert run(bob.receive(ROOST, _xml(one["message"], bob.jid))) == "page starts ✓"

        # Phase 2: Bob's session completion and answer, Carol's session start.
        xmls = network.take_sent(ROOST)
        xmls.append(run(bob.send(ROOST, "bob answers")))
        xmls.append(run(carol.send(ROOST, "carol starts ✓")))
        senders = [bob.jid] * (len(xmls) - 1) + [carol.jid]
        inbox = []
        for xml in xmls:
            envelope = envelope_from_xml(xml, ROOST)
            wire, kex = envelope.keys[page_id]
            inbox.append(
                {
                    "sid": envelope.sid,
                    "key": wire.hex(),
                    "kex": kex,
                    "payload": None if envelope.payload is None else envelope.payload.hex(),
                }
            )
        pg.evaluate("(text) => { window.inbox = text; }", json.dumps(inbox))
        two = _result(pg, log, "phase2")
        texts = [
            sce_body(None if t is None else bytes.fromhex(t), sender)
            for t, sender in zip(two["texts"], senders, strict=True)
        ]
        assert texts == [None, "bob answers", "carol starts ✓"]

        replies = {m["rid"]: m for m in two["replies"]}
        assert replies.keys() == {bob.device_id, carol.device_id}
        assert not any(m["kex"] for m in replies.values())  # both sessions confirmed
        for peer in (bob, carol):
            text = run(peer.receive(ROOST, _xml(replies[peer.device_id], peer.jid)))
            assert text == f"reply to {peer.device_id}"
        assert log.errors == [], log.console
        print(
            f"\nBrython + WebCrypto, OMEMO 2: generate device (100 prekeys)"
            f" {one['ms_generate_100']:.0f} ms, v2 bundle {one['ms_bundle_v2']:.0f} ms,"
            f" start session + encrypt {one['ms_start_session']:.0f} ms,"
            f" receive 3 (one new session) {two['ms_receive_3']:.0f} ms,"
            f" encrypt 2 replies {two['ms_reply_2']:.0f} ms"
        )
    finally:
        run(bob.close())
        run(carol.close())
