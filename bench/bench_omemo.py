"""OMEMO benchmark: first-login bootstrap, encrypt for 6 devices, decrypt, in Chromium.

    .venv/bin/python bench/bench_omemo.py [--runs 3] [--out bench/results/omemo.json]
                                          [--dist DIR] [--messages 20] [--part all|page|app]

Builds `dist/` once (or copies `--dist`: the bench page is written next to
it, never into the given folder), starts its own Prosody and `roost serve`,
and drives Debian's Chromium with Playwright. Each run uses fresh browser
contexts (empty IndexedDB).

**In the page** (`bench-omemo.html`: the built index.html whose Python entry
is this script's `PAGE`, as tests/platform's `make_page` does it), with the
real `OmemoManager`, `WebCrypto` and, for this device, `OmemoIndexedDB`; the
other devices keep their state in memory. The network is an in-page fake PEP
service: callbacks come in a later task, bundles cross as XML (serialised
with `Element.to_xml`, parsed with the app's DOMParser path), so the figures
hold the app's own work and no server round trip:

1. **bootstrap**: `went_online()` + `start()` on an empty IndexedDB → ready
   (device made: identity, signed prekey, 100 prekeys), the device list and
   bundle handed to the net and acknowledged, and the IndexedDB transaction
   holding the keys committed. `reload_ready_ms`: a second manager reading
   those keys back from IndexedDB;
2. **send**: 4 devices of bob and 2 other devices of alice (made in the page,
   each its own `OmemoManager`). The first `encrypt()` fetches 6 bundles and
   runs X3DH for each (`encrypt_first_ms`); the 6 devices read it and answer
   with heartbeats, which alice decrypts; then `--messages` messages, one
   at a time, each timed from `encrypt()` to `on_done` (`encrypt_ms`);
3. **receive**: a new device of carol sends a prekey message: `decrypt()` →
   `on_done` (`decrypt_prekey_ms`: X3DH, prekey replaced, bundle published
   again); then bob's first device sends `--messages` over its established
   session (`decrypt_ms`).

Every crypto call is timed through a wrapper (`crypto_ms`: time awaiting the
`WebCrypto` backend, its Brython marshalling included); the rest of a figure
is Python (Brython) run by the app and `roost.omemo`. A JS microbenchmark in
the same page times the raw WebCrypto operations (`webcrypto_native_us`).

**In the app**: an account of its own per run logs in, first untrusted
(no OMEMO), then trusted in a new context. A WebSocket wrapper installed
before the app loads timestamps the frames: the click, the initial presence
(online), the devicelist and bundle publishes and Prosody's results for them
(`app_*`). `app_bootstrap_extra_ms` is the trusted login's click → both
publishes acknowledged, minus the untrusted login's click → online (run by
run). A slixmpp-omemo peer then fetches the account's device list and must see
the new device id (`app_peer_sees_device`).

Prints one JSON object (and writes `--out`). A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.devserver.prosody import Contact, ProsodyServer  # noqa: E402
from bench.bench_history import ForeignCpu  # noqa: E402
from bench.common import chromium_version, emit  # noqa: E402
from tests.browser.conftest import RoostServer  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.pagelog import PageLog  # noqa: E402

DOMAIN = "localhost"
PEER = "bob"  # the slixmpp-omemo peer's account (a contact of every bench account)
TARGETS_MS = {"bootstrap": 1000.0, "encrypt_6_devices": 50.0, "decrypt": 20.0}
PAGE_TIMEOUT_MS = 120_000
LOGIN_TIMEOUT_MS = 60_000
ENTRY = '<script type="text/python">import roost.main</script>'

# The in-page benchmark (Brython). {messages} is filled in.
PAGE = r"""
from __future__ import annotations
from browser import window, aio
from roost.platform.jsdata import to_js
from roost.platform import timers

perf = window.performance
window.results = to_js({})
N = __MESSAGES__
ALICE = "alice@localhost"
BOB = "bob@localhost"
CAROL = "carol@localhost"


def publish(key, value):
    window.results[key] = to_js(value)


class Meter:
    # Time spent awaiting the crypto backend, by operation.
    def __init__(self):
        self.ms = 0.0
        self.calls = 0
        self.by = {}

    def add(self, name, ms):
        self.ms += ms
        self.calls += 1
        if name in self.by:
            row = self.by[name]
            row[0] += 1
            row[1] += ms
        else:
            self.by[name] = [1, ms]

    def snap(self):
        by = {}
        for k in self.by:
            by[k] = [self.by[k][0], self.by[k][1]]
        return [self.ms, self.calls, by]


def meter_delta(before, after):
    by = {}
    for k in after[2]:
        n, ms = after[2][k]
        if k in before[2]:
            n -= before[2][k][0]
            ms -= before[2][k][1]
        if n:
            by[k] = [n, round(ms, 2)]
    return {"ms": round(after[0] - before[0], 2), "calls": after[1] - before[1], "by": by}


class TimedCrypto:
    # The OmemoCrypto protocol, each call timed into a Meter.
    def __init__(self, inner, meter):
        self.inner = inner
        self.meter = meter

    async def _t(self, name, coro):
        t0 = perf.now()
        try:
            return await coro
        finally:
            self.meter.add(name, perf.now() - t0)

    async def random_bytes(self, n):
        return await self._t("random_bytes", self.inner.random_bytes(n))

    async def sha256(self, data):
        return await self._t("sha256", self.inner.sha256(data))

    async def sha512(self, data):
        return await self._t("sha512", self.inner.sha512(data))

    async def hmac_sha256(self, key, data):
        return await self._t("hmac_sha256", self.inner.hmac_sha256(key, data))

    async def hkdf_sha256(self, ikm, salt, info, length):
        return await self._t("hkdf_sha256", self.inner.hkdf_sha256(ikm, salt, info, length))

    async def aes_gcm_encrypt(self, key, iv, plaintext, aad=b""):
        return await self._t("aes_gcm_encrypt", self.inner.aes_gcm_encrypt(key, iv, plaintext, aad))

    async def aes_gcm_decrypt(self, key, iv, ciphertext, aad=b""):
        return await self._t("aes_gcm_decrypt",
                             self.inner.aes_gcm_decrypt(key, iv, ciphertext, aad))

    async def aes_cbc_encrypt(self, key, iv, plaintext):
        return await self._t("aes_cbc_encrypt", self.inner.aes_cbc_encrypt(key, iv, plaintext))

    async def aes_cbc_decrypt(self, key, iv, ciphertext):
        return await self._t("aes_cbc_decrypt", self.inner.aes_cbc_decrypt(key, iv, ciphertext))

    async def x25519_generate(self):
        return await self._t("x25519_generate", self.inner.x25519_generate())

    async def x25519_import(self, private):
        return await self._t("x25519_import", self.inner.x25519_import(private))

    async def x25519(self, own, peer_public):
        return await self._t("x25519", self.inner.x25519(own, peer_public))

    async def ed25519_import(self, seed):
        return await self._t("ed25519_import", self.inner.ed25519_import(seed))

    async def ed25519_sign(self, own, message):
        return await self._t("ed25519_sign", self.inner.ed25519_sign(own, message))

    async def ed25519_verify(self, public, message, signature):
        return await self._t("ed25519_verify",
                             self.inner.ed25519_verify(public, message, signature))

    async def xeddsa_verify(self, curve_public, message, signature):
        return await self._t("xeddsa_verify",
                             self.inner.xeddsa_verify(curve_public, message, signature))

    async def identity_generate(self):
        return await self._t("identity_generate", self.inner.identity_generate())

    async def identity_import(self, seed):
        return await self._t("identity_import", self.inner.identity_import(seed))


class WriteDone:
    def __init__(self, entry, cb):
        self.entry = entry
        self.cb = cb

    def done(self, ok):
        self.entry[1] = perf.now()
        if self.cb is not None:
            self.cb(ok)


class LoadDone:
    def __init__(self, owner, cb):
        self.owner = owner
        self.cb = cb

    def done(self, records):
        self.owner.loaded_at = perf.now()
        self.cb(records)


class TimedStorage:
    # OmemoStorage over another one: when each write started, was handed over
    # (its synchronous part: records to JS) and committed.
    def __init__(self, inner):
        self.inner = inner
        self.writes = []  # [start, committed, sync_ms, puts, has_own]
        self.loaded_at = None

    def load(self, cb, on_error):
        self.inner.load(LoadDone(self, cb).done, on_error)

    def write(self, puts, deletes, cb=None):
        entry = [perf.now(), None, 0.0, len(puts), "own" in puts]
        self.writes.append(entry)
        self.inner.write(puts, deletes, WriteDone(entry, cb).done)
        entry[2] = perf.now() - entry[0]

    def destroy(self, cb=None):
        self.inner.destroy(cb)

    def pending(self):
        for w in self.writes:
            if w[1] is None:
                return True
        return False


class MemoryStorage:
    def __init__(self):
        self.data = {}

    def load(self, cb, on_error):
        data = dict(self.data)
        timers.call_later(0, lambda: cb(data))

    def write(self, puts, deletes, cb=None):
        self.data.update(puts)
        for key in deletes:
            if key in self.data:
                del self.data[key]
        if cb is not None:
            timers.call_later(0, lambda: cb(True))

    def destroy(self, cb=None):
        self.data = {}

    def pending(self):
        return False


class Later:
    def __init__(self, pep, fn):
        self.pep = pep
        self.fn = fn
        pep.waiting += 1
        timers.call_later(0, self.run)

    def run(self):
        self.pep.waiting -= 1
        self.fn()


class Pep:
    # The PEP nodes of every account, and message routing for heartbeats.
    def __init__(self):
        self.lists = {}
        self.bundles = {}
        self.managers = {}
        self.waiting = 0
        self.routed = 0


class Deliver:
    def __init__(self, manager, sender, encrypted):
        self.manager = manager
        self.sender = sender
        self.encrypted = encrypted

    def run(self):
        sealed = self.manager.sealed_for_me(self.sender, self.encrypted)
        if not isinstance(sealed, str):
            self.manager.decrypt(sealed, ignore)


def ignore(*args):
    return None


class FakeNet:
    # OmemoNet over the in-page Pep. Bundles cross as XML, as over the wire.
    # Legacy OMEMO only: its OMEMO 2 nodes stay empty, so every device here is
    # spoken to in legacy OMEMO (the figures are legacy's).
    def __init__(self, pep, jid):
        self.pep = pep
        self.jid = jid
        self.list_asked = None
        self.list_done = None
        self.bundle_asked = None
        self.bundle_done = None
        self.bundle_xml_ms = []
        self.bundle_parse_ms = []

    def fetch_devices(self, jid, cb, ns="legacy"):
        ids = list(self.pep.lists[jid]) if jid in self.pep.lists and ns == "legacy" else []
        Later(self.pep, lambda: cb(ids, None))

    def publish_devices(self, ids, cb, ns="legacy"):
        if ns != "legacy":
            Later(self.pep, lambda: cb(None))
            return
        self.list_asked = perf.now()
        self.pep.lists[self.jid] = list(ids)
        Later(self.pep, lambda: self._listed(cb))

    def _listed(self, cb):
        self.list_done = perf.now()
        cb(None)

    def fetch_bundle(self, jid, device_id, cb, ns="legacy"):
        if ns != "legacy":
            Later(self.pep, lambda: cb(None, "no bundle"))
            return
        key = jid + ":" + str(device_id)
        text = self.pep.bundles[key] if key in self.pep.bundles else None
        Later(self.pep, lambda: self._parse_bundle(text, cb))

    def _parse_bundle(self, text, cb):
        from roost.platform.dom import parse as parse_xml
        from roost.platform.webcrypto import random_bytes as webcrypto_random
        from roost.xmpp.xeps import xep_0384

        t0 = perf.now()
        element = None if text is None else parse_xml(text)
        t1 = perf.now()
        # As app/e2e.py does: one random prekey decoded, not all 100.
        pick = int.from_bytes(webcrypto_random(2), "big")
        bundle = None if element is None else xep_0384.parse_bundle(element, pick)
        self.bundle_parse_ms.append([t1 - t0, perf.now() - t1])
        cb(bundle, None if bundle is not None else "no bundle")

    def publish_bundle(self, device_id, bundle, cb, ns="legacy"):
        from roost.xmpp.xeps import xep_0384

        if ns != "legacy":
            Later(self.pep, lambda: cb(None))
            return
        self.bundle_asked = perf.now()
        t0 = perf.now()
        self.pep.bundles[self.jid + ":" + str(device_id)] = xep_0384.build_bundle(bundle).to_xml()
        self.bundle_xml_ms.append(perf.now() - t0)
        Later(self.pep, lambda: self._bundled(cb))

    def _bundled(self, cb):
        self.bundle_done = perf.now()
        cb(None)

    def send_encrypted(self, to, msg_id, encrypted, encrypted2=None):
        self.pep.routed += 1
        for manager in self.pep.managers[to] if to in self.pep.managers else []:
            Later(self.pep, Deliver(manager, self.jid, encrypted).run)


def run_async(coro, on_done, on_error):
    # platform/browser.py's run_async
    async def wrapped():
        try:
            result = await coro
        except Exception as exc:
            on_error(exc)
            return
        on_done(result)

    aio.run(wrapped())


class Box:
    def __init__(self):
        self.value = None
        self.at = None
        self.error = None

    def set(self, *args):
        self.value = args
        self.at = perf.now()

    def fail(self, text):
        self.error = str(text)
        self.at = perf.now()


async def until(check, what, timeout_ms=60000):
    t0 = perf.now()
    while not check():
        if perf.now() - t0 > timeout_ms:
            raise RuntimeError("timed out waiting for " + what)
        await aio.sleep(0.001)


class World:
    def __init__(self):
        self.pep = Pep()
        self.all = []
        self.storages = []

    def idle(self):
        if self.pep.waiting:
            return False
        for m in self.all:
            if m._busy or m._jobs or m._fetching:
                return False
        for s in self.storages:
            if s.pending():
                return False
        return True

    async def settle(self):
        # idle twice, a few ms apart (a callback may queue more work)
        await until(self.idle, "idle")
        await aio.sleep(0.005)
        await until(self.idle, "idle")

    def manager(self, om, crypto, jid, storage):
        net = FakeNet(self.pep, jid)
        m = om.OmemoManager(jid, crypto, storage, net, run_async, timers.now)
        self.pep.managers.setdefault(jid, []).append(m)
        self.all.append(m)
        self.storages.append(storage)
        return m, net

    async def peer(self, om, crypto, jid):
        m, net = self.manager(om, crypto, jid, MemoryStorage())
        m.went_online()
        m.start()
        await until(lambda: m.ready and net.bundle_done is not None, "peer " + jid)
        await self.settle()
        return m


def median(values):
    s = sorted(values)
    n = len(s)
    if not n:
        return None
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


async def main():
    out = {}
    t0 = perf.now()
    from roost.app import omemo as om
    from roost.platform.omemo_crypto import WebCrypto
    from roost.platform.omemo_store import OmemoIndexedDB
    from roost.platform.dom import parse as parse_xml
    from roost.xmpp.jid import JID
    from roost.xmpp.xeps import xep_0384
    out["import_ms"] = perf.now() - t0

    world = World()
    meter = Meter()
    crypto = TimedCrypto(WebCrypto(), meter)
    plain = WebCrypto()

    # -- 1. bootstrap: this device, into IndexedDB -----------------------------------
    ready = Box()
    t0 = perf.now()
    store = TimedStorage(OmemoIndexedDB(ALICE))
    alice, net = world.manager(om, crypto, ALICE, store)
    alice.on("ready", ready.set)
    alice.on("failed", ready.fail)
    alice.went_online()
    m0 = meter.snap()
    alice.start()

    def saved():
        for w in store.writes:
            if w[4] and w[1] is not None:
                return True
        return False

    await until(lambda: ready.at is not None and net.list_done is not None
                and net.bundle_done is not None and saved(), "bootstrap")
    if ready.error:
        raise RuntimeError(ready.error)
    own_write = [w for w in store.writes if w[4]][0]
    out["bootstrap"] = {
        "ready_ms": ready.at - t0,
        "list_published_ms": net.list_done - t0,
        "bundle_published_ms": net.bundle_done - t0,
        "keys_saved_ms": own_write[1] - t0,
        "done_ms": max(net.list_done, net.bundle_done, own_write[1]) - t0,
        "idb_load_ms": store.loaded_at - t0,
        "idb_write_sync_ms": own_write[2],
        "idb_write_commit_ms": own_write[1] - own_write[0] - own_write[2],
        "bundle_xml_ms": net.bundle_xml_ms[0],
        "crypto": meter_delta(m0, meter.snap()),
        "device_id": alice.device_id,
    }
    await world.settle()

    # the same keys read back (a later login on this device)
    again = Box()
    t0 = perf.now()
    store2 = TimedStorage(OmemoIndexedDB(ALICE))
    reload = om.OmemoManager(ALICE, plain, store2, FakeNet(Pep(), ALICE), run_async, timers.now)
    reload.on("ready", again.set)
    reload.on("failed", again.fail)
    reload.start()
    await until(lambda: again.at is not None, "reload")
    out["reload_ready_ms"] = again.at - t0
    out["reload_same_device"] = reload.device_id == alice.device_id

    # -- 2. send to 6 devices -----------------------------------------------------------
    bobs = []
    for _ in range(4):
        bobs.append(await world.peer(om, plain, BOB))
    mine = []
    for _ in range(2):
        mine.append(await world.peer(om, plain, ALICE))

    sent = Box()
    m0 = meter.snap()
    t0 = perf.now()
    alice.encrypt(BOB, "m-first", "the first message, with X3DH for every device", sent.set,
                  sent.fail)
    await until(lambda: sent.at is not None, "first encrypt")
    if sent.error:
        raise RuntimeError(sent.error)
    first = sent.value[0][0]  # (legacy, OMEMO 2): legacy only here
    out["encrypt_first"] = {
        "ms": sent.at - t0, "devices": len(first.keys),
        "prekey": sum(1 for k in first.keys if k[2]),
        "crypto": meter_delta(m0, meter.snap()),
        "bundle_dom_ms": sum(p[0] for p in net.bundle_parse_ms),
        "bundle_parse_ms": sum(p[1] for p in net.bundle_parse_ms),
        "bundles": len(net.bundle_parse_ms),
    }
    # the 6 devices read it and answer with heartbeats (alice decrypts those)
    for m in bobs:
        Deliver(m, ALICE, first).run()
    for m in mine:
        Deliver(m, ALICE, first).run()
    await world.settle()
    out["heartbeats_routed"] = world.pep.routed

    to = JID.parse(BOB)
    times = []
    crypto_ms = []
    idb_ms = []
    wire_ms = []
    devices = []
    for i in range(N):
        sent = Box()
        m0 = meter.snap()
        writes0 = len(store.writes)
        t0 = perf.now()
        alice.encrypt(BOB, "m" + str(i), "message " + str(i) + ": see you at the station at 7",
                      sent.set, sent.fail)
        await until(lambda: sent.at is not None, "encrypt")
        if sent.error:
            raise RuntimeError(sent.error)
        times.append(sent.at - t0)
        crypto_ms.append(meter_delta(m0, meter.snap())["ms"])
        idb_ms.append(sum(w[2] for w in store.writes[writes0:] if w[0] < sent.at))
        enc = sent.value[0][0]
        devices.append(len(enc.keys))
        t1 = perf.now()
        xep_0384.build_message(to, "m" + str(i), enc).to_xml()
        wire_ms.append(perf.now() - t1)
        last_delta = meter_delta(m0, meter.snap())
        await world.settle()
    out["encrypt"] = {"ms": times, "crypto_ms": crypto_ms, "idb_sync_ms": idb_ms,
                      "stanza_xml_ms": wire_ms,
                      "devices": devices, "prekey_last": sum(1 for k in enc.keys if k[2]),
                      "crypto_last": last_delta}

    # -- 3. receive ---------------------------------------------------------------------
    carol = await world.peer(om, plain, CAROL)
    got = Box()
    carol.encrypt(ALICE, "c1", "hello from carol's new device", got.set, got.fail)
    await until(lambda: got.at is not None, "carol encrypt")
    await world.settle()
    sealed = alice.sealed_for_me(CAROL, got.value[0][0])
    done = Box()
    m0 = meter.snap()
    writes0 = len(store.writes)
    t0 = perf.now()
    alice.decrypt(sealed, done.set)
    await until(lambda: done.at is not None, "prekey decrypt")
    out["decrypt_prekey"] = {
        "ms": done.at - t0, "text": done.value[0], "code": done.value[1],
        "prekey": sealed.prekey, "crypto": meter_delta(m0, meter.snap()),
    }
    await world.settle()
    out["decrypt_prekey"]["writes"] = [[w[2], w[1] - w[0] - w[2], w[3]]
                                       for w in store.writes[writes0:]]
    out["decrypt_prekey"]["bundle_xml_ms"] = net.bundle_xml_ms[-1]

    times = []
    crypto_ms = []
    idb_ms = []
    parse_ms = []
    prekeys = 0
    texts_ok = 0
    for i in range(N):
        got = Box()
        text = "reply " + str(i) + ": on my way, the train is late again"
        bobs[0].encrypt(ALICE, "b" + str(i), text, got.set, got.fail)
        await until(lambda: got.at is not None, "bob encrypt")
        await world.settle()
        enc = got.value[0][0]
        message = xep_0384.build_message(JID.parse(ALICE), "b" + str(i), enc)
        message.attrs["from"] = BOB + "/phone"
        xml = message.to_xml()
        t1 = perf.now()
        parsed = xep_0384.parse_message(parse_xml(xml))
        parse_ms.append(perf.now() - t1)
        sealed = alice.sealed_for_me(BOB, parsed)
        prekeys += 1 if sealed.prekey else 0
        done = Box()
        m0 = meter.snap()
        writes0 = len(store.writes)
        t0 = perf.now()
        alice.decrypt(sealed, done.set)
        await until(lambda: done.at is not None, "decrypt")
        times.append(done.at - t0)
        crypto_ms.append(meter_delta(m0, meter.snap())["ms"])
        idb_ms.append(sum(w[2] for w in store.writes[writes0:] if w[0] < done.at))
        last_delta = meter_delta(m0, meter.snap())
        texts_ok += 1 if done.value[0] == text and done.value[1] == om.OK else 0
        await world.settle()
    out["decrypt"] = {"ms": times, "crypto_ms": crypto_ms, "idb_sync_ms": idb_ms,
                      "stanza_parse_ms": parse_ms,
                      "prekey_messages": prekeys, "texts_ok": texts_ok,
                      "crypto_last": last_delta}
    out["crypto_by_op_alice"] = meter.snap()[2]
    publish("omemo", out)


async def guarded():
    try:
        await main()
    except Exception as exc:
        import sys
        publish("error", repr(exc))
        sys.excepthook(*sys.exc_info())

aio.run(guarded())
"""

# Raw WebCrypto in the same page (JS): µs per operation, for comparison with
# the `crypto` figures the Brython side measured.
NATIVE = r"""async () => {
  const s = crypto.subtle;
  const out = {};
  async function time(name, n, fn) {
    await fn();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) { await fn(); }
    out[name] = Math.round((performance.now() - t0) * 1000 / n);
  }
  const rnd = (n) => crypto.getRandomValues(new Uint8Array(n));
  await time("x25519_generate_export", 100, async () => {
    const p = await s.generateKey({name: "X25519"}, false, ["deriveBits"]);
    await s.exportKey("raw", p.publicKey);
  });
  const own = await s.generateKey({name: "X25519"}, false, ["deriveBits"]);
  const peer = new Uint8Array(await s.exportKey("raw",
    (await s.generateKey({name: "X25519"}, true, ["deriveBits"])).publicKey));
  await time("x25519_import_derive", 100, async () => {
    const pub = await s.importKey("raw", peer, {name: "X25519"}, true, []);
    await s.deriveBits({name: "X25519", public: pub}, own.privateKey, 256);
  });
  await time("hmac_import_sign", 200, async () => {
    const k = await s.importKey("raw", rnd(32), {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
    await s.sign("HMAC", k, rnd(33));
  });
  await time("hkdf_import_derive", 100, async () => {
    const k = await s.importKey("raw", rnd(32), "HKDF", false, ["deriveBits"]);
    await s.deriveBits({name: "HKDF", hash: "SHA-256", salt: rnd(32), info: rnd(16)}, k, 640);
  });
  await time("aes_cbc_import_encrypt", 100, async () => {
    const k = await s.importKey("raw", rnd(32), "AES-CBC", false, ["encrypt"]);
    await s.encrypt({name: "AES-CBC", iv: rnd(16)}, k, rnd(32));
  });
  await time("aes_gcm_import_encrypt", 100, async () => {
    const k = await s.importKey("raw", rnd(16), "AES-GCM", false, ["encrypt"]);
    await s.encrypt({name: "AES-GCM", iv: rnd(12), tagLength: 128}, k, rnd(60));
  });
  const ed = await s.generateKey({name: "Ed25519"}, true, ["sign", "verify"]);
  const edPub = new Uint8Array(await s.exportKey("raw", ed.publicKey));
  const sig = await s.sign("Ed25519", ed.privateKey, rnd(33));
  await time("ed25519_import_verify", 50, async () => {
    const k = await s.importKey("raw", edPub, {name: "Ed25519"}, true, ["verify"]);
    await s.verify("Ed25519", k, sig, rnd(33));
  });
  await time("ed25519_sign", 50, async () => { await s.sign("Ed25519", ed.privateKey, rnd(33)); });
  await time("ed25519_generate_export_pkcs8", 50, async () => {
    const p = await s.generateKey({name: "Ed25519"}, true, ["sign", "verify"]);
    await s.exportKey("raw", p.publicKey);
    await s.exportKey("pkcs8", p.privateKey);
  });
  await time("await_resolved_promise", 1000, async () => { await Promise.resolve(1); });
  return out;
}"""

# Installed before the app loads (context.add_init_script): frame timestamps.
INSTRUMENT = r"""
(() => {
  if (window.__ob) { return; }
  const b = window.__ob = {click: null, presence: null, lists: [], bundles: [], fetches: [],
                           results: {}, listIds: null};
  const idOf = (d) => { const m = /<iq\b[^>]*\bid=["']([^"']+)["']/.exec(d); return m && m[1]; };
  const Orig = window.WebSocket;
  class BenchSocket extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        const d = ev.data;
        if (typeof d !== "string" || d.indexOf("<iq") < 0) { return; }
        const m = /<iq\b[^>]*\btype=["'](result|error)["']/.exec(d);
        const id = idOf(d);
        if (m && id && !(id in b.results)) { b.results[id] = [performance.now(), m[1]]; }
      });
    }
    send(data) {
      if (typeof data === "string") {
        const now = performance.now();
        if (data.indexOf("eu.siacs.conversations.axolotl") >= 0 && data.indexOf("<iq") >= 0) {
          const id = idOf(data);
          if (data.indexOf("<publish") >= 0 && data.indexOf("axolotl.devicelist") >= 0) {
            b.lists.push([now, id]);
            const ids = [...data.matchAll(/<device\b[^>]*\bid=["'](\d+)["']/g)].map((x) => +x[1]);
            b.listIds = ids;
          } else if (data.indexOf("<publish") >= 0 && data.indexOf("axolotl.bundles") >= 0) {
            b.bundles.push([now, id]);
          } else if (data.indexOf("<items") >= 0) {
            b.fetches.push([now, id]);
          }
        } else if (b.presence === null && /^<presence(?![^>]*\b(?:type|to)=)/.test(data)) {
          b.presence = now;
        }
      }
      return super.send(data);
    }
  }
  window.WebSocket = BenchSocket;
  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (b.click === null && t && t.closest && t.closest("#login-submit")) {
      b.click = performance.now();
    }
  }, true);
  b.firstOk = (list) => {
    // the first acknowledged publish of a node (a refused one is retried)
    for (const [, id] of list) {
      const r = b.results[id];
      if (r && r[1] === "result") { return r[0]; }
    }
    return null;
  };
})();
"""


def account(i: int) -> str:
    return f"omemo{i}"


def make_prosody(root: Path, accounts: list[str]) -> ProsodyServer:
    users = {**{a: a for a in accounts}, PEER: PEER}
    rosters: dict[str, list[Contact]] = {
        a: [Contact(f"{PEER}@{DOMAIN}", "Bob Peer", "both")] for a in accounts}
    rosters[PEER] = [Contact(f"{a}@{DOMAIN}", a, "both") for a in accounts]
    server = ProsodyServer(root / "prosody", domain=DOMAIN, users=users, rosters=rosters,
                           log_level="warn")
    server.start()
    return server


def build_dist(out: Path) -> Path:
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    return out


def write_page(dist: Path, messages: int) -> str:
    index = (dist / "index.html").read_text(encoding="utf-8")
    if ENTRY not in index:
        raise RuntimeError("index.html has no `import roost.main` entry to replace")
    body = PAGE.replace("__MESSAGES__", str(messages)).strip("\n")
    (dist / "bench-omemo.html").write_text(
        index.replace(ENTRY, f'<script type="text/python">\n{body}\n</script>'),
        encoding="utf-8")
    return "bench-omemo.html"


def summary(values: Iterable[float | None]) -> dict[str, Any]:
    vals = list(values)
    got = [v for v in vals if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "values": vals}
    return {"median": round(statistics.median(got), 2), "min": round(min(got), 2),
            "max": round(max(got), 2),
            "values": [None if v is None else round(v, 2) for v in vals]}


class Bench:
    def __init__(self, browser: Any, url: str, messages: int, prosody: ProsodyServer | None,
                 peer: Any) -> None:
        self.browser = browser
        self.url = url
        self.messages = messages
        self.prosody = prosody
        self.peer = peer
        self.errors: list[str] = []

    def _context(self) -> Any:
        return self.browser.new_context(viewport={"width": 1280, "height": 800})

    # -- in the page --------------------------------------------------------------------
    def page_run(self) -> dict[str, Any]:
        ctx = self._context()
        try:
            page = ctx.new_page()
            log = PageLog(page)
            page.goto(f"{self.url}/bench-omemo.html")
            try:
                page.wait_for_function(
                    "() => window.results && (window.results.omemo !== undefined"
                    " || window.results.error !== undefined)", timeout=PAGE_TIMEOUT_MS,
                    polling=100)
            except Exception:
                self.errors.extend(log.errors[:10])
                raise
            err = page.evaluate("() => window.results.error")
            if err is not None:
                self.errors.extend(log.errors[:10])
                raise RuntimeError(f"page: {err}")
            raw: dict[str, Any] = page.evaluate("() => window.results.omemo")
            raw["webcrypto_native_us"] = page.evaluate(NATIVE)
            self.errors.extend(e for e in log.errors if "favicon" not in e)
            return raw
        finally:
            ctx.close()

    # -- in the app ---------------------------------------------------------------------
    def login(self, user: str, trusted: bool) -> dict[str, Any]:
        ctx = self._context()
        ctx.add_init_script(INSTRUMENT)
        try:
            page = ctx.new_page()
            log = PageLog(page)
            page.goto(self.url + "/")
            page.get_by_label("Address").fill(f"{user}@{DOMAIN}")
            page.get_by_label("Password").fill(user)
            box = page.get_by_label("This is a trusted device")
            if box.is_checked() != trusted:
                box.click()
            page.wait_for_function("() => performance.getEntriesByName('roost-python-ready')"
                                   ".length > 0", timeout=LOGIN_TIMEOUT_MS, polling=50)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("list", name="Contacts").get_by_role(
                "listitem", name="Bob Peer").wait_for(timeout=LOGIN_TIMEOUT_MS)
            roster_at = page.evaluate("() => performance.now()")
            out: dict[str, Any] = {}
            if trusted:
                page.wait_for_function(
                    "() => { const b = window.__ob; return b.firstOk(b.lists) !== null"
                    " && b.firstOk(b.bundles) !== null; }", timeout=LOGIN_TIMEOUT_MS,
                    polling=20)
            else:
                page.wait_for_function("() => window.__ob.presence !== null",
                                       timeout=LOGIN_TIMEOUT_MS, polling=20)
            r = page.evaluate("() => { const b = window.__ob; return {click: b.click,"
                              " presence: b.presence, list: b.firstOk(b.lists),"
                              " bundle: b.firstOk(b.bundles), listSent: b.lists.length ?"
                              " b.lists[0][0] : null, bundleSent: b.bundles.length ?"
                              " b.bundles[0][0] : null, fetchSent: b.fetches.length ?"
                              " b.fetches[0][0] : null, ids: b.listIds,"
                              " publishes: b.lists.length + b.bundles.length}; }")
            click = r["click"]
            out.update(click_to_online_ms=r["presence"] - click if r["presence"] else None,
                       click_to_roster_ms=roster_at - click)
            if trusted:
                published = max(r["list"], r["bundle"])
                out.update(
                    click_to_published_ms=published - click,
                    click_to_list_ack_ms=r["list"] - click,
                    click_to_bundle_ack_ms=r["bundle"] - click,
                    online_to_published_ms=(published - r["presence"]
                                            if r["presence"] else None),
                    own_list_fetch_sent_ms=(r["fetchSent"] - click
                                            if r["fetchSent"] else None),
                    list_sent_ms=r["listSent"] - click, bundle_sent_ms=r["bundleSent"] - click,
                    list_round_trip_ms=r["list"] - r["listSent"],
                    bundle_round_trip_ms=r["bundle"] - r["bundleSent"],
                    publish_iqs=r["publishes"], device_ids=r["ids"])
            self.errors.extend(e for e in log.errors if "favicon" not in e)
            page.close()
            return out
        finally:
            ctx.close()

    def app_run(self, i: int) -> dict[str, Any]:
        user = account(i)
        plain = self.login(user, trusted=False)
        trusted = self.login(user, trusted=True)
        out: dict[str, Any] = {"untrusted": plain, "trusted": trusted}
        online = plain.get("click_to_online_ms")
        if online is not None:
            out["bootstrap_extra_ms"] = trusted["click_to_published_ms"] - online
        ids = trusted.get("device_ids") or []
        if self.peer is not None and ids:
            try:
                seen = self.peer.wait_devices(f"{user}@{DOMAIN}", device_id=ids[-1], timeout=10)
                out["peer_sees_device"] = ids[-1] in seen
            except TimeoutError:
                out["peer_sees_device"] = False
        return out


def _page_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def each(fn: Any) -> dict[str, Any]:
        vals = []
        for r in runs:
            try:
                vals.append(fn(r))
            except (KeyError, TypeError):
                vals.append(None)
        return summary(vals)

    def med(key: str, sub: str) -> Any:
        return lambda r: statistics.median(r[key][sub])

    return {
        "bootstrap_done_ms": each(lambda r: r["bootstrap"]["done_ms"]),
        "bootstrap_ready_ms": each(lambda r: r["bootstrap"]["ready_ms"]),
        "bootstrap_keys_saved_ms": each(lambda r: r["bootstrap"]["keys_saved_ms"]),
        "bootstrap_published_ms": each(lambda r: max(r["bootstrap"]["list_published_ms"],
                                                     r["bootstrap"]["bundle_published_ms"])),
        "bootstrap_crypto_ms": each(lambda r: r["bootstrap"]["crypto"]["ms"]),
        "bootstrap_idb_write_sync_ms": each(lambda r: r["bootstrap"]["idb_write_sync_ms"]),
        "bootstrap_idb_write_commit_ms": each(lambda r: r["bootstrap"]["idb_write_commit_ms"]),
        "bootstrap_bundle_xml_ms": each(lambda r: r["bootstrap"]["bundle_xml_ms"]),
        "import_ms": each(lambda r: r["import_ms"]),
        "reload_ready_ms": each(lambda r: r["reload_ready_ms"]),
        "encrypt_first_ms": each(lambda r: r["encrypt_first"]["ms"]),
        "encrypt_first_crypto_ms": each(lambda r: r["encrypt_first"]["crypto"]["ms"]),
        "encrypt_first_bundle_dom_ms": each(lambda r: r["encrypt_first"]["bundle_dom_ms"]),
        "encrypt_first_bundle_parse_ms": each(lambda r: r["encrypt_first"]["bundle_parse_ms"]),
        "encrypt_ms": each(med("encrypt", "ms")),
        "encrypt_max_ms": each(lambda r: max(r["encrypt"]["ms"])),
        "encrypt_crypto_ms": each(med("encrypt", "crypto_ms")),
        "encrypt_idb_sync_ms": each(med("encrypt", "idb_sync_ms")),
        "encrypt_stanza_xml_ms": each(med("encrypt", "stanza_xml_ms")),
        "decrypt_prekey_ms": each(lambda r: r["decrypt_prekey"]["ms"]),
        "decrypt_prekey_crypto_ms": each(lambda r: r["decrypt_prekey"]["crypto"]["ms"]),
        "decrypt_ms": each(med("decrypt", "ms")),
        "decrypt_max_ms": each(lambda r: max(r["decrypt"]["ms"])),
        "decrypt_crypto_ms": each(med("decrypt", "crypto_ms")),
        "decrypt_idb_sync_ms": each(med("decrypt", "idb_sync_ms")),
        "decrypt_stanza_parse_ms": each(med("decrypt", "stanza_parse_ms")),
        "foreign_cpu_s": each(lambda r: r["foreign_cpu_s"]),
    }


def _app_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def each(*path: str) -> dict[str, Any]:
        vals: list[float | None] = []
        for r in runs:
            cur: Any = r
            for p in path:
                cur = cur.get(p) if isinstance(cur, dict) else None
            vals.append(float(cur) if isinstance(cur, (int, float)) else None)
        return summary(vals)

    return {
        "app_bootstrap_extra_ms": each("bootstrap_extra_ms"),
        "app_trusted_click_to_published_ms": each("trusted", "click_to_published_ms"),
        "app_trusted_online_to_published_ms": each("trusted", "online_to_published_ms"),
        "app_trusted_click_to_online_ms": each("trusted", "click_to_online_ms"),
        "app_untrusted_click_to_online_ms": each("untrusted", "click_to_online_ms"),
        "app_trusted_click_to_roster_ms": each("trusted", "click_to_roster_ms"),
        "app_untrusted_click_to_roster_ms": each("untrusted", "click_to_roster_ms"),
        "app_list_round_trip_ms": each("trusted", "list_round_trip_ms"),
        "app_bundle_round_trip_ms": each("trusted", "bundle_round_trip_ms"),
    }


FIGURES = {
    "bootstrap_done_ms": "in page: went_online()+start() on empty IndexedDB → ready, device "
                         "list and bundle acknowledged by the (fake, in-page) net, keys "
                         "committed to IndexedDB",
    "bootstrap_ready_ms": "same → 'ready' (device made, 100 prekeys)",
    "bootstrap_crypto_ms": "time awaiting the crypto backend during the bootstrap",
    "reload_ready_ms": "a second manager: keys read back from IndexedDB → ready",
    "encrypt_first_ms": "first encrypt() to 4+2 devices: 2 device lists, 6 bundles fetched "
                        "(XML parsed), 6 X3DH → on_done",
    "foreign_cpu_s": "CPU seconds other processes on the machine used during the page "
                     "run (not this script, its browser or servers): the machine is shared",
    "encrypt_ms": "encrypt() → on_done, sessions established, 6 devices: median of the "
                  "run's messages (the figure is the median over runs)",
    "decrypt_prekey_ms": "decrypt() of a new device's prekey message → on_done (X3DH, prekey "
                         "replaced, bundle built again)",
    "decrypt_ms": "decrypt() → on_done over an established session: median of the run's "
                  "messages",
    "*_crypto_ms": "part of the figure spent awaiting WebCrypto (with its Brython "
                   "marshalling); the rest is Brython",
    "app_bootstrap_extra_ms": "real app: trusted login click → devicelist and bundle "
                              "publishes acknowledged by Prosody, minus the untrusted login's "
                              "click → online (same account, fresh contexts)",
    "app_trusted_online_to_published_ms": "real app: initial presence sent → both publishes "
                                          "acknowledged",
    "webcrypto_native_us": "raw WebCrypto from JS in the same page, µs per operation",
}


def report(page_runs: list[dict[str, Any]], app_runs: list[dict[str, Any]],
           errors: list[str], setup: dict[str, Any]) -> dict[str, Any]:
    results = {**_page_figures([r for r in page_runs if "failed" not in r]),
               **_app_figures([r for r in app_runs if "failed" not in r])}

    def m(name: str) -> float | None:
        v = results.get(name, {}).get("median")
        return None if v is None else float(v)

    boot_page, boot_app = m("bootstrap_done_ms"), m("app_bootstrap_extra_ms")
    enc, dec = m("encrypt_ms"), m("decrypt_ms")
    meets = {
        "bootstrap_in_page": None if boot_page is None else boot_page < TARGETS_MS["bootstrap"],
        "bootstrap_in_app": None if boot_app is None else boot_app < TARGETS_MS["bootstrap"],
        "encrypt_6_devices": None if enc is None else enc < TARGETS_MS["encrypt_6_devices"],
        "decrypt": None if dec is None else dec < TARGETS_MS["decrypt"],
    }
    native = [r["webcrypto_native_us"] for r in page_runs if "webcrypto_native_us" in r]
    return {
        "bench": "omemo",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "chromium": chromium_version()},
        "setup": setup,
        "figures": FIGURES,
        "targets_ms": TARGETS_MS,
        "results": results,
        "meets_target": meets,
        "webcrypto_native_us": {k: summary(n[k] for n in native) for k in native[0]}
        if native else None,
        "runs_detail": {"page": page_runs, "app": app_runs},
        "page_errors": errors[:20],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dist", type=Path, default=None, help="use (a copy of) this built bundle")
    ap.add_argument("--messages", type=int, default=20, help="timed messages each way")
    ap.add_argument("--part", choices=("all", "page", "app"), default="all")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="roost-bench-omemo-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        dist = tmp / "dist"
        if args.dist:
            shutil.copytree(args.dist, dist)
        else:
            build_dist(dist)
        build_s = time.perf_counter() - t0
        write_page(dist, args.messages)
        prosody = make_prosody(tmp, [account(i) for i in range(args.runs)])
        server: RoostServer | None = None
        peer: Any = None
        page_runs: list[dict[str, Any]] = []
        app_runs: list[dict[str, Any]] = []
        try:
            (tmp / "roost").mkdir()
            server = RoostServer(tmp / "roost", dist, prosody)
            if args.part in ("all", "app"):
                from tests.support.omemo_peer import OmemoPeer

                peer = OmemoPeer(f"{PEER}@{DOMAIN}/bench", PEER, prosody.c2s_port,
                                 versions="legacy")
            foreign = ForeignCpu(interval=0.5).start()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
                bench = Bench(browser, server.url, args.messages, prosody, peer)
                for i in range(args.runs):
                    if args.part in ("all", "page"):
                        t_run = time.monotonic()
                        try:
                            page_runs.append(bench.page_run())
                        except Exception as exc:
                            page_runs.append({"failed": repr(exc)[:800]})
                        t_end = time.monotonic()
                        page_runs[-1]["run_s"] = round(t_end - t_run, 1)
                        page_runs[-1]["foreign_cpu_s"] = foreign.between(t_run, t_end)
                        page_runs[-1]["foreign_top"] = foreign.top(t_run, t_end)
                        print(f"page run {i + 1}/{args.runs}: "
                              f"{_brief(page_runs[-1])}", file=sys.stderr)
                    if args.part in ("all", "app"):
                        try:
                            app_runs.append(bench.app_run(i))
                        except Exception as exc:
                            app_runs.append({"failed": repr(exc)[:800]})
                        print(f"app run {i + 1}/{args.runs}: {app_runs[-1]}", file=sys.stderr)
                browser.close()
            time.sleep(0.6)  # a last CPU sample after the last run
            foreign.stop()
            setup = {"runs": args.runs, "messages": args.messages, "part": args.part,
                     "devices": "4 of the contact + 2 own other devices",
                     "prekeys": 100, "dist": str(args.dist or "built"),
                     "build_s": round(build_s, 1),
                     "total_s": round(time.perf_counter() - started, 1)}
            result = report(page_runs, app_runs, bench.errors, setup)
        finally:
            if peer is not None:
                peer.stop()
            if server is not None:
                server.stop()
            prosody.stop()
    return emit(result, args.out)


def _brief(run: dict[str, Any]) -> str:
    if "failed" in run:
        return str(run["failed"])[:300]
    try:
        return (f"bootstrap {run['bootstrap']['done_ms']:.0f} ms, "
                f"first encrypt {run['encrypt_first']['ms']:.0f} ms, "
                f"encrypt {statistics.median(run['encrypt']['ms']):.1f} ms, "
                f"prekey decrypt {run['decrypt_prekey']['ms']:.1f} ms, "
                f"decrypt {statistics.median(run['decrypt']['ms']):.1f} ms")
    except (KeyError, TypeError):
        return "incomplete"


if __name__ == "__main__":
    sys.exit(main())
