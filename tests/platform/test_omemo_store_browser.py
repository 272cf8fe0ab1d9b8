"""This device's OMEMO state in IndexedDB (roost/platform/omemo_store.py), in Chromium.

A record made of everything `roost.omemo` stores (bytes, ints, nested dicts
and lists, None, and non-extractable private `CryptoKey`s) goes in, a new
page reads it back, and the keys still work: an X25519 agreement and an
Ed25519 signature made with the reloaded keys equal those made before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.platform.conftest import wait_result as _wait_result
from tests.support.pagelog import PageLog

Page = tuple[Any, PageLog]

COMMON = """
from __future__ import annotations
from browser import window, aio
from roost.platform.jsdata import to_js
from roost.platform.omemo_crypto import WebCrypto
from roost.platform.omemo_store import OmemoIndexedDB
window.results = to_js({})
def publish(key, value):
    window.results[key] = to_js(value)
PEER = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
"""

WRITE = COMMON + """
async def main():
    crypto = WebCrypto()
    identity = await crypto.identity_generate()
    x = await crypto.x25519_generate()
    record = {
        "id": 123456, "name": "device", "none": None, "flag": True,
        "ik": identity.ed25519.public, "x_pub": x.public,
        "x_priv": x.private, "ed_priv": identity.ed25519.private,
        "prekeys": [[1, x.public], [2, b"\\x00\\xff"]], "nested": {"a": {"b": b"xyz"}},
    }
    shared = await crypto.x25519(x, PEER)
    sig = await crypto.ed25519_sign(identity.ed25519, b"msg")
    store = OmemoIndexedDB("omemo-test@localhost")
    def written(ok):
        publish("written", {"ok": ok, "shared": shared.hex(), "sig": sig.hex(),
                            "ed_pub": identity.ed25519.public.hex()})
    def again(ok):
        store.write({}, ["gone"], written)
    store.write({"own": record, "gone": {"x": 1}}, [], again)
try:
    aio.run(main())
except Exception as exc:
    publish("error", str(exc))
"""

READ = COMMON + """
from roost.platform.omemo_crypto import X25519KeyPair, Ed25519KeyPair
def loaded(records):
    async def check():
        own = records["own"]
        x = X25519KeyPair(own["x_priv"], own["x_pub"])
        crypto = WebCrypto()
        shared = await crypto.x25519(x, PEER)
        ed = Ed25519KeyPair(own["ed_priv"], own["ik"])
        sig = await crypto.ed25519_sign(ed, b"msg")
        exportable = True
        try:
            await window.crypto.subtle.exportKey("pkcs8", own["x_priv"])
        except Exception:
            exportable = False
        publish("read", {
            "keys": sorted(records), "id": own["id"], "name": own["name"],
            "none": own["none"] is None, "flag": own["flag"] is True,
            "prekeys": [[p[0], p[1].hex()] for p in own["prekeys"]],
            "nested": own["nested"]["a"]["b"].hex(), "bytes_type": type(own["ik"]).__name__,
            "shared": shared.hex(), "sig": sig.hex(), "exportable": exportable,
        })
    aio.run(check())
OmemoIndexedDB("omemo-test@localhost").load(loaded, lambda text: publish("error", text))
"""


def _result(pg: Any, log: PageLog, key: str) -> Any:
    try:
        return _wait_result(pg, key)
    except Exception:
        error = pg.evaluate("() => window.results && window.results.error")
        raise AssertionError((error, log.console)) from None


def test_records_and_private_keys_survive_a_reload(
    make_page: Callable[[str, str], str], page: Page
) -> None:
    pg, log = page
    pg.goto(make_page("t-omemo-store-write", WRITE))
    written = _result(pg, log, "written")
    assert written["ok"] is True, log.console
    pg.goto(make_page("t-omemo-store-read", READ))
    read = _result(pg, log, "read")
    assert read["keys"] == ["own"]  # "gone" was deleted
    assert (read["id"], read["name"], read["none"], read["flag"]) == (123456, "device", True, True)
    assert read["bytes_type"] == "bytes"
    assert read["prekeys"][1] == [2, "00ff"] and read["nested"] == b"xyz".hex()
    # The reloaded private keys are the same keys, and still not extractable.
    assert read["shared"] == written["shared"]
    assert read["sig"] == written["sig"]  # Ed25519 is deterministic
    assert read["exportable"] is False
    assert not [e for e in log.errors if "favicon" not in e], log.errors
