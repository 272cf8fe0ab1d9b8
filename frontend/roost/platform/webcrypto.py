"""WebCrypto: PBKDF2 for SCRAM and random bytes (`crypto.getRandomValues`)."""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# SCRAM hash names (RFC 5802/7677 style and hashlib style) -> WebCrypto name, output bits.
_HASHES = {
    "sha-1": ("SHA-1", 160),
    "sha1": ("SHA-1", 160),
    "sha-256": ("SHA-256", 256),
    "sha256": ("SHA-256", 256),
    "sha-512": ("SHA-512", 512),
    "sha512": ("SHA-512", 512),
}


def to_uint8(data: bytes) -> object:
    return window.Uint8Array.new(list(data))


def from_buffer(buffer: object) -> bytes:
    return bytes(window.Uint8Array.new(buffer))


def random_bytes(n: int) -> bytes:
    """`n` bytes from the browser's CSPRNG."""
    out = b""
    while n > 0:
        chunk = min(n, 65536)  # getRandomValues' per-call limit
        arr = window.Uint8Array.new(chunk)
        window.crypto.getRandomValues(arr)
        out += bytes(arr)
        n -= chunk
    return out


def pbkdf2(
    hash_name: str,
    password: bytes,
    salt: bytes,
    iterations: int,
    on_done: Callable[[bytes], None],
    on_error: Callable[[Exception], None],
) -> None:
    """Derive the SCRAM salted password; calls `on_done(bytes)` or `on_error(exc)`."""
    spec = _HASHES.get(hash_name.lower())
    if spec is None:
        on_error(ValueError("unsupported hash: " + hash_name))
        return
    if iterations < 1:
        on_error(ValueError("iterations must be positive"))
        return
    algo, bits = spec
    subtle = window.crypto.subtle

    def failed(err: object) -> None:
        on_error(RuntimeError("PBKDF2 failed: " + str(err)))

    def derived(buffer: object) -> None:
        on_done(from_buffer(buffer))

    def imported(key: object) -> None:
        params = javascript.pyobj2jsobj(
            {"name": "PBKDF2", "hash": algo, "salt": to_uint8(salt), "iterations": iterations}
        )
        subtle.deriveBits(params, key, bits).then(derived, failed)

    try:
        subtle.importKey(
            "raw", to_uint8(password), "PBKDF2", False, javascript.pyobj2jsobj(["deriveBits"])
        ).then(imported, failed)
    except Exception as exc:  # no crypto.subtle outside a secure context
        on_error(exc)
