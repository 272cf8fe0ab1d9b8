"""The WebCrypto OMEMO backend (roost/platform/omemo_crypto.py) in real Chromium.

Each page is the built index.html whose Python entry runs under `browser.aio`:
- the vectors page pastes tests/omemo/vectors.py (the runner the CPython tests
  use) and vectors.json into the page and runs them through `WebCrypto`;
- the cross-check page verifies signatures made by the `xeddsa` package,
  rebuilds an identity from a seed (must equal the CPython backend's, byte
  for byte), generates one, signs and agrees keys with a `cryptography` peer;
  CPython then checks those results with `xeddsa` and `cryptography`;
- the timing page measures what the OMEMO bootstrap and messages will cost.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xeddsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tests.omemo.test_crypto_vectors import load_vectors
from tests.omemo.vectors import SECTIONS, run_vectors
from tests.platform.conftest import wait_result
from tests.support.aio import run
from tests.support.omemo_crypto import CPythonCrypto
from tests.support.pagelog import PageLog

Page = tuple[Any, PageLog]
FUTURE = "from __future__ import annotations\n"
RUNNER = (Path(__file__).resolve().parent.parent / "omemo" / "vectors.py").read_text("utf-8")

PUBLISH = """
from browser import window, aio
from roost.platform.jsdata import to_js
from roost.platform.omemo_crypto import WebCrypto
window.results = to_js({})
def publish(key, value):
    window.results[key] = to_js(value)
def run_main(coro_fn):
    async def wrapped():
        try:
            await coro_fn()
        except Exception as exc:
            publish("error", type(exc).__name__ + ": " + str(exc))
    aio.run(wrapped())
"""


def _page(make_page: Callable[..., str], name: str, body: str) -> str:
    # `from __future__` must open the script; the runner's own copy is dropped.
    return make_page(name, FUTURE + PUBLISH + body)


def _result(pg: Any, log: PageLog, key: str, timeout: float = 120_000) -> Any:
    pg.wait_for_function(
        f"() => window.results && (window.results[{key!r}] !== undefined"
        " || window.results.error !== undefined)",
        timeout=timeout,
    )
    error = pg.evaluate("() => window.results.error")
    assert error is None, (error, log.console)
    return wait_result(pg, key)


def test_published_vectors_pass_in_webcrypto(make_page: Callable[..., str], page: Page) -> None:
    """RFC 7748/8032/5869/4231, FIPS 180, Wycheproof X25519/Ed25519/AES-GCM/
    AES-CBC/HKDF subsets and the Protocol's refusals, through WebCrypto."""
    pg, log = page
    data = {k: v for k, v in load_vectors().items() if k != "source"}
    runner = RUNNER.replace(FUTURE, "", 1)
    url = _page(
        make_page,
        "t-omemo-vectors",
        runner
        + f"""
VECTORS = {data!r}
async def main():
    started = window.performance.now()
    report = await run_vectors(WebCrypto(), VECTORS)
    report["elapsed_ms"] = window.performance.now() - started
    publish("report", report)
run_main(main)
""",
    )
    pg.goto(url)
    report = _result(pg, log, "report")
    for name, _ in SECTIONS:
        assert report[name]["failures"] == [], name
        assert report[name]["count"] > 0, name
    cpython = run(run_vectors(CPythonCrypto(), load_vectors()))
    assert {name: report[name]["count"] for name, _ in SECTIONS} == {
        name: cpython[name]["count"] for name, _ in SECTIONS
    }
    # Wycheproof's "acceptable" Ed25519 cases (small/mixed-order public keys):
    # Chromium answers as OpenSSL does, so both backends agree on every case.
    assert report["wycheproof_ed25519"]["acceptable"] == cpython["wycheproof_ed25519"]["acceptable"]
    print(f"\nvectors in Chromium: {report['elapsed_ms']:.0f} ms")
    assert log.errors == [], log.console


def _clamp(raw: bytes) -> bytes:
    return bytes([raw[0] & 248]) + raw[1:31] + bytes([(raw[31] & 127) | 64])


def _xeddsa_cases() -> list[dict[str, Any]]:
    cases = []
    for i in range(8):
        priv = _clamp(secrets.token_bytes(32))  # ref10 signing wants a clamped scalar
        curve = xeddsa.priv_to_curve25519_pub(priv)
        msg = b"\x05" + secrets.token_bytes(32)
        sig = xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(priv, False), msg)
        cases.append({"curve": curve.hex(), "msg": msg.hex(), "sig": sig.hex(), "ok": True})
        cases.append({"curve": curve.hex(), "msg": msg.hex() + "00", "sig": sig.hex(), "ok": False})
        if i < 4:  # libsignal curve_sigs: the key's own sign bit, carried in the signature
            natural = xeddsa.ed25519_priv_sign(priv, msg)
            sign = xeddsa.priv_to_ed25519_pub(priv)[31] & 0x80
            marked = natural[:63] + bytes([natural[63] | sign])
            cases.append({"curve": curve.hex(), "msg": msg.hex(), "sig": marked.hex(), "ok": True})
    return cases


def _seed_with_sign_zero() -> bytes:
    while True:
        seed = secrets.token_bytes(32)
        if not xeddsa.seed_to_ed25519_pub(seed)[31] >> 7:
            return seed


def test_webcrypto_agrees_with_xeddsa_and_cryptography(
    make_page: Callable[..., str], page: Page
) -> None:
    pg, log = page
    cases = _xeddsa_cases()
    seed = _seed_with_sign_zero()
    peer = X25519PrivateKey.generate()
    peer_public = peer.public_key().public_bytes_raw()
    url = _page(
        make_page,
        "t-omemo-cross",
        f"""
from roost.omemo.crypto import Ed25519KeyPair
CASES = {cases!r}
SEED = bytes.fromhex({seed.hex()!r})
PEER = bytes.fromhex({peer_public.hex()!r})
MESSAGES = [b"", b"bundle", bytes(range(256)) * 4]
async def main():
    c = WebCrypto()
    out = {{"verified": []}}
    for case in CASES:
        ok = await c.xeddsa_verify(bytes.fromhex(case["curve"]), bytes.fromhex(case["msg"]),
                                   bytes.fromhex(case["sig"]))
        out["verified"].append(ok)
    imported = await c.identity_import(SEED)
    out["imported"] = [imported.ed25519_public.hex(), imported.curve25519_public.hex(),
                       (await c.ed25519_sign(imported.ed25519, b"m")).hex()]
    ident = await c.identity_generate()
    out["ed"] = ident.ed25519_public.hex()
    out["curve"] = ident.curve25519_public.hex()
    out["sigs"] = []
    for m in MESSAGES:  # a loop: Brython 3.15 gets `await` inside a comprehension wrong
        out["sigs"].append((await c.ed25519_sign(ident.ed25519, m)).hex())
    out["dh"] = (await c.x25519(ident.x25519, PEER)).hex()
    pair = await c.x25519_generate()
    out["extractable"] = [ident.ed25519.private.extractable, ident.x25519.private.extractable,
                          pair.private.extractable, str(ident.ed25519.private.type)]
    # IndexedDB stores CryptoKeys by structured clone: a clone must still sign.
    clone = Ed25519KeyPair(window.structuredClone(ident.ed25519.private), ident.ed25519_public)
    out["clone_signs"] = await c.xeddsa_verify(ident.curve25519_public, b"c",
                                               await c.ed25519_sign(clone, b"c"))
    publish("cross", out)
run_main(main)
""",
    )
    pg.goto(url)
    out = _result(pg, log, "cross")

    # xeddsa-made XEdDSA (and libsignal sign-bit) signatures verify; altered ones don't.
    assert out["verified"] == [case["ok"] for case in cases]
    # The same seed gives the same identity and signature as the CPython backend.
    ident = run(CPythonCrypto().identity_import(seed))
    sig = run(CPythonCrypto().ed25519_sign(ident.ed25519, b"m"))
    assert out["imported"] == [ident.ed25519_public.hex(), ident.curve25519_public.hex(), sig.hex()]
    # A generated identity: sign bit 0, Montgomery form as libsodium converts it...
    ed, curve = bytes.fromhex(out["ed"]), bytes.fromhex(out["curve"])
    assert ed[31] >> 7 == 0
    assert xeddsa.ed25519_pub_to_curve25519_pub(ed) == curve
    # ...its Ed25519 signatures verify as XEdDSA for the Montgomery key...
    messages = [b"", b"bundle", bytes(range(256)) * 4]
    for msg, sig_hex in zip(messages, out["sigs"], strict=True):
        sig = bytes.fromhex(sig_hex)
        assert xeddsa.ed25519_verify(sig, xeddsa.curve25519_pub_to_ed25519_pub(curve, False), msg)
    # ...and X25519 with it agrees with the peer's side.
    assert bytes.fromhex(out["dh"]) == peer.exchange(X25519PublicKey.from_public_bytes(curve))
    assert out["extractable"] == [False, False, False, "private"]
    assert out["clone_signs"] is True
    assert log.errors == [], log.console


@pytest.mark.timeout(300)
def test_webcrypto_costs(make_page: Callable[..., str], page: Page) -> None:
    """Rough per-operation times in this Chromium (printed; loose bounds only)."""
    pg, log = page
    url = _page(
        make_page,
        "t-omemo-timing",
        """
from roost.omemo.curve import montgomery_to_edwards
async def timed(n, fn):
    started = window.performance.now()
    for _ in range(n):
        await fn()
    return (window.performance.now() - started) / n
async def main():
    c = WebCrypto()
    ident = await c.identity_generate()
    peer = await c.x25519_generate()
    sig = await c.ed25519_sign(ident.ed25519, b"signed prekey")
    key, iv, kb = await c.random_bytes(16), await c.random_bytes(12), bytes(range(256)) * 4
    sealed = await c.aes_gcm_encrypt(key, iv, kb)
    async def identity():
        await c.identity_generate()
    async def dh():
        await c.x25519(ident.x25519, peer.public)
    async def verify():
        assert await c.xeddsa_verify(ident.curve25519_public, b"signed prekey", sig)
    async def convert():
        montgomery_to_edwards(ident.curve25519_public)
    async def seal():
        await c.aes_gcm_encrypt(key, iv, kb)
    async def unseal():
        await c.aes_gcm_decrypt(key, iv, sealed)
    async def generate():
        await c.x25519_generate()
    async def hkdf():
        await c.hkdf_sha256(kb[:32], bytes(32), b"OMEMO", 80)
    out = {
        "identity_generate": await timed(10, identity),
        "x25519": await timed(50, dh),
        "xeddsa_verify": await timed(50, verify),
        "u_to_y_python": await timed(50, convert),
        "aes_gcm_encrypt_1k": await timed(50, seal),
        "aes_gcm_decrypt_1k": await timed(50, unseal),
        "x25519_generate": await timed(20, generate),
        "hkdf_80": await timed(50, hkdf),
    }
    publish("timing", out)
run_main(main)
""",
    )
    pg.goto(url)
    timing = _result(pg, log, "timing")
    print(
        "\nWebCrypto backend, ms per operation: "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in timing.items())
    )
    assert timing["identity_generate"] < 1000
    assert max(timing.values()) < 1000
    assert log.errors == [], log.console
