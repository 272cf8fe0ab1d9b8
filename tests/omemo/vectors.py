"""Published test vectors run against any `OmemoCrypto` backend, in either runtime.

`run_vectors(crypto, vectors)` is plain async Python with no imports beyond
`roost.omemo`: the CPython tests call it under asyncio with `CPythonCrypto`,
and tests/platform/test_omemo_crypto_browser.py pastes this file's source into
a page where Brython runs it under `browser.aio` with `WebCrypto`. The data is
tests/data/omemo/vectors.json (its "source" entry says where each set comes
from). The report maps a section to `{"count", "failures", "acceptable"}`:
`failures` must be empty; `acceptable` records what the backend did with
Wycheproof's "acceptable" cases (either answer is allowed).
"""

from __future__ import annotations

from roost.omemo.curve import edwards_to_montgomery, montgomery_to_edwards
from roost.omemo.errors import CryptoError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from roost.omemo.crypto import OmemoCrypto


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


class _Section:
    __slots__ = ("acceptable", "count", "failures")

    def __init__(self) -> None:
        self.count = 0
        self.failures: list[str] = []
        self.acceptable: dict[str, int] = {}

    def check(self, ok: bool, what: str) -> None:
        self.count += 1
        if not ok:
            self.failures.append(what)

    def report(self) -> dict[str, Any]:
        return {"count": self.count, "failures": self.failures, "acceptable": self.acceptable}


async def _raises(coro: Any) -> bool:
    """True when awaiting `coro` raises CryptoError (and nothing else)."""
    try:
        await coro
    except CryptoError:
        return True
    return False


async def hashes(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["sha"]:
        fn = crypto.sha256 if v["alg"] == "sha256" else crypto.sha512
        s.check((await fn(_h(v["msg"]))).hex() == v["md"], v["alg"] + " " + v["msg"][:16])
    for v in data["hmac"] + data["hmac_empty_key"]:
        mac = await crypto.hmac_sha256(_h(v["key"]), _h(v["data"]))
        s.check(mac.hex() == v["mac"], "hmac " + str(v.get("case", "empty key")))


async def hkdf(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["hkdf_rfc5869"]:
        okm = await crypto.hkdf_sha256(_h(v["ikm"]), _h(v["salt"]), _h(v["info"]), v["length"])
        s.check(okm.hex() == v["okm"], "RFC 5869 " + v["case"])
    for v in data["wycheproof_hkdf_sha256"]:
        args = (_h(v["ikm"]), _h(v["salt"]), _h(v["info"]), v["size"])
        name = "tcId " + str(v["tcId"])
        if v["result"] == "valid":
            s.check((await crypto.hkdf_sha256(*args)).hex() == v["okm"], name)
        else:
            s.check(await _raises(crypto.hkdf_sha256(*args)), name + " accepted")


async def x25519_rfc7748(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    rfc = data["x25519_rfc7748"]
    for v in rfc["scalarmult"]:
        own = await crypto.x25519_import(_h(v["scalar"]))
        s.check((await crypto.x25519(own, _h(v["u"]))).hex() == v["out"], "§5.2 " + v["u"][:8])
    # §5.2 iteration: k, u = X25519(k, u), k, starting from k = u = 9.
    k = u = bytes([9]) + bytes(31)
    done = 0
    for v in rfc["iterated"]:
        while done < v["iterations"]:
            k, u = await crypto.x25519(await crypto.x25519_import(k), u), k
            done += 1
        s.check(k.hex() == v["k"], "§5.2 after " + str(v["iterations"]) + " iterations")
    dh = rfc["dh"]
    alice = await crypto.x25519_import(_h(dh["alice_private"]))
    bob = await crypto.x25519_import(_h(dh["bob_private"]))
    s.check(alice.public.hex() == dh["alice_public"], "§6.1 Alice's public key")
    s.check(bob.public.hex() == dh["bob_public"], "§6.1 Bob's public key")
    s.check((await crypto.x25519(alice, bob.public)).hex() == dh["shared"], "§6.1 Alice's K")
    s.check((await crypto.x25519(bob, alice.public)).hex() == dh["shared"], "§6.1 Bob's K")


async def ed25519_rfc8032(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["ed25519_rfc8032"]:
        name = "test " + str(v["test"])
        key = await crypto.ed25519_import(_h(v["seed"]))
        msg, sig = _h(v["msg"]), _h(v["sig"])
        s.check(key.public.hex() == v["public"], name + " public key")
        s.check((await crypto.ed25519_sign(key, msg)).hex() == v["sig"], name + " signature")
        s.check(await crypto.ed25519_verify(key.public, msg, sig), name + " verify")
        bad = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
        s.check(not await crypto.ed25519_verify(key.public, msg, bad), name + " flipped bit")
        s.check(not await crypto.ed25519_verify(key.public, msg + b"x", sig), name + " other msg")


async def wycheproof_x25519(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["wycheproof_x25519"]:
        name = "tcId " + str(v["tcId"])
        own = await crypto.x25519_import(_h(v["private"]))
        if v["shared"] == "00" * 32:  # low-order peer: refused, never a zero key
            s.check(await _raises(crypto.x25519(own, _h(v["public"]))), name + " zero accepted")
            continue
        try:
            shared = (await crypto.x25519(own, _h(v["public"]))).hex()
        except CryptoError as exc:
            shared = "CryptoError: " + str(exc)
        # Every non-zero case, "acceptable" (twist, non-canonical u) included,
        # has one right answer, and both backends must give it.
        s.check(shared == v["shared"], name + " " + ",".join(v["flags"]) + " " + shared)


async def wycheproof_ed25519(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["wycheproof_ed25519"]:
        ok = await crypto.ed25519_verify(_h(v["pk"]), _h(v["msg"]), _h(v["sig"]))
        if v["result"] == "acceptable":
            key = ",".join(v["flags"]) + (" accepted" if ok else " refused")
            s.acceptable[key] = s.acceptable.get(key, 0) + 1
            continue
        s.check(ok == (v["result"] == "valid"), "tcId " + str(v["tcId"]) + " " + v["flags"][0])


async def wycheproof_aes_gcm(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["wycheproof_aes_gcm"]:
        name = "tcId " + str(v["tcId"])
        key, iv, aad, msg = _h(v["key"]), _h(v["iv"]), _h(v["aad"]), _h(v["msg"])
        sealed = _h(v["ct"] + v["tag"])
        if v["result"] == "valid":
            s.check((await crypto.aes_gcm_encrypt(key, iv, msg, aad)) == sealed, name + " encrypt")
            try:
                opened = await crypto.aes_gcm_decrypt(key, iv, sealed, aad)
            except CryptoError as exc:
                opened = str(exc).encode()
            s.check(opened == msg, name + " decrypt")
        else:
            s.check(await _raises(crypto.aes_gcm_decrypt(key, iv, sealed, aad)), name + " opened")
            if not iv:
                s.check(await _raises(crypto.aes_gcm_encrypt(key, iv, msg, aad)), name + " sealed")


async def wycheproof_aes_cbc(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    for v in data["wycheproof_aes_cbc"]:
        name = "tcId " + str(v["tcId"])
        key, iv, msg, ct = _h(v["key"]), _h(v["iv"]), _h(v["msg"]), _h(v["ct"])
        if v["result"] == "valid":
            s.check((await crypto.aes_cbc_encrypt(key, iv, msg)) == ct, name + " encrypt")
            s.check((await crypto.aes_cbc_decrypt(key, iv, ct)) == msg, name + " decrypt")
        else:
            s.check(await _raises(crypto.aes_cbc_decrypt(key, iv, ct)), name + " decrypted")


async def conversions(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    """The pure curve.py maps (no backend) against values libsodium computed."""
    for v in data["conversions"]:
        if "ed25519" in v:
            got = edwards_to_montgomery(_h(v["ed25519"])).hex()
            s.check(got == v["curve25519"], "ed→mont " + v["ed25519"][:8])
        else:
            for sign in (0, 1):
                got = montgomery_to_edwards(_h(v["curve25519"]), sign).hex()
                s.check(got == v["ed25519_sign" + str(sign)], "mont→ed " + str(sign))


async def _seed_with_sign(crypto: OmemoCrypto, sign: int) -> bytes:
    for i in range(256):  # half of all seeds have each sign: found in ~2 tries
        seed = bytes([i]) * 32
        if (await crypto.ed25519_import(seed)).public[31] >> 7 == sign:
            return seed
    raise AssertionError("no seed with sign bit " + str(sign))


async def contract(crypto: OmemoCrypto, data: dict[str, Any], s: _Section) -> None:
    """What the Protocol promises beyond the vectors: refusals, round trips, the identity."""
    k16, k32, iv12, iv16 = bytes(16), bytes(range(32)), bytes(12), bytes(16)
    s.check(await _raises(crypto.aes_gcm_encrypt(bytes(24), iv12, b"x")), "AES-192 key")
    s.check(await _raises(crypto.aes_gcm_encrypt(k16, bytes(8), b"x")), "8-byte GCM IV")
    s.check(await _raises(crypto.aes_gcm_decrypt(k16, iv12, bytes(15))), "GCM without a tag")
    sealed = await crypto.aes_gcm_encrypt(k32, iv16, b"legacy IV", b"aad")
    s.check(len(sealed) == 9 + 16, "GCM output is ciphertext + 16-byte tag")
    s.check(await crypto.aes_gcm_decrypt(k32, iv16, sealed, b"aad") == b"legacy IV", "GCM open")
    s.check(await _raises(crypto.aes_gcm_decrypt(k32, iv16, sealed, b"AAD")), "GCM other aad")
    s.check(await _raises(crypto.aes_cbc_encrypt(k32, iv12, b"x")), "12-byte CBC IV")
    s.check(await _raises(crypto.aes_cbc_decrypt(k32, iv16, bytes(17))), "CBC partial block")
    s.check(await _raises(crypto.aes_cbc_decrypt(k32, iv16, b"")), "CBC empty")
    block = await crypto.aes_cbc_encrypt(k32, iv16, bytes(16))
    s.check(len(block) == 32, "CBC pads a whole block with a whole block")
    s.check(await _raises(crypto.hkdf_sha256(b"k", b"", b"", 0)), "HKDF length 0")
    s.check(await _raises(crypto.hkdf_sha256(b"k", b"", b"", 8161)), "HKDF length 8161")
    pair = await crypto.x25519_generate()
    s.check(await _raises(crypto.x25519(pair, bytes(31))), "31-byte X25519 key")
    s.check(await _raises(crypto.x25519(pair, bytes(32))), "X25519 with u = 0")
    s.check(await _raises(crypto.x25519_import(bytes(33))), "33-byte X25519 scalar")
    s.check(await _raises(crypto.ed25519_import(bytes(31))), "31-byte Ed25519 seed")
    s.check(await _raises(crypto.ed25519_verify(bytes(31), b"", bytes(64))), "31-byte Ed key")
    s.check(not await crypto.ed25519_verify(bytes(32), b"", bytes(63)), "63-byte signature")
    minus_one = ((1 << 255) - 20).to_bytes(32, "little")  # u = p - 1
    s.check(not await crypto.xeddsa_verify(minus_one, b"", bytes(64)), "XEdDSA u = -1")
    s.check(not await crypto.xeddsa_verify(bytes(32), b"", bytes(65)), "65-byte XEdDSA sig")
    r1, r2 = await crypto.random_bytes(32), await crypto.random_bytes(32)
    s.check(len(r1) == 32 and r1 != r2, "random bytes")
    s.check(await _raises(crypto.identity_import(await _seed_with_sign(crypto, 1))), "sign 1")
    for ident in (
        await crypto.identity_import(await _seed_with_sign(crypto, 0)),
        await crypto.identity_generate(),
    ):
        ed, curve = ident.ed25519_public, ident.curve25519_public
        s.check(ed[31] >> 7 == 0, "identity sign bit 0")
        s.check(edwards_to_montgomery(ed) == curve, "identity X25519 = Montgomery form")
        sig = await crypto.ed25519_sign(ident.ed25519, b"bundle")
        s.check(await crypto.ed25519_verify(ed, b"bundle", sig), "identity Ed25519 signature")
        s.check(await crypto.xeddsa_verify(curve, b"bundle", sig), "identity signs as XEdDSA")
        s.check(not await crypto.xeddsa_verify(curve, b"bundle!", sig), "XEdDSA other msg")
        peer = await crypto.x25519_generate()
        mine = await crypto.x25519(ident.x25519, peer.public)
        s.check(mine == await crypto.x25519(peer, curve), "identity X25519 agrees")


SECTIONS = [
    ("hashes", hashes),
    ("hkdf", hkdf),
    ("x25519_rfc7748", x25519_rfc7748),
    ("ed25519_rfc8032", ed25519_rfc8032),
    ("wycheproof_x25519", wycheproof_x25519),
    ("wycheproof_ed25519", wycheproof_ed25519),
    ("wycheproof_aes_gcm", wycheproof_aes_gcm),
    ("wycheproof_aes_cbc", wycheproof_aes_cbc),
    ("conversions", conversions),
    ("contract", contract),
]


async def run_vectors(
    crypto: OmemoCrypto, data: dict[str, Any], only: list[str] | None = None
) -> dict[str, Any]:
    """Run every section (or those in `only`); an unexpected exception is a failure."""
    report: dict[str, Any] = {}
    for name, fn in SECTIONS:
        if only is not None and name not in only:
            continue
        section = _Section()
        try:
            await fn(crypto, data, section)
        except Exception as exc:
            section.failures.append("raised " + type(exc).__name__ + ": " + str(exc))
        report[name] = section.report()
    return report
