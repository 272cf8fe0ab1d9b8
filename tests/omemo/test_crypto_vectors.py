"""The CPython backend against the published vectors (tests/omemo/vectors.py).

The same runner and data run in Chromium through the WebCrypto backend
(tests/platform/test_omemo_crypto_browser.py): passing both proves the two
backends compute the same primitives, and the right ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.omemo.vectors import SECTIONS, run_vectors
from tests.support.aio import run
from tests.support.omemo_crypto import CPythonCrypto

VECTORS_FILE = Path(__file__).resolve().parent.parent / "data" / "omemo" / "vectors.json"


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run(run_vectors(CPythonCrypto(), load_vectors()))


@pytest.mark.parametrize("section", [name for name, _ in SECTIONS])
def test_section_passes(report: dict[str, Any], section: str) -> None:
    assert report[section]["failures"] == []
    assert report[section]["count"] > 0


def test_every_vector_is_checked() -> None:
    """No vector in vectors.json is skipped by the runner (checks per vector counted)."""
    data = load_vectors()

    def checks(tests: list[dict[str, Any]], invalid: int = 1) -> int:
        return sum(2 if t["result"] == "valid" else invalid for t in tests)

    gcm = data["wycheproof_aes_gcm"]
    expected = {
        "hashes": len(data["sha"]) + len(data["hmac"]) + len(data["hmac_empty_key"]),
        "hkdf": len(data["hkdf_rfc5869"]) + len(data["wycheproof_hkdf_sha256"]),
        "wycheproof_x25519": len(data["wycheproof_x25519"]),
        "wycheproof_ed25519": sum(t["result"] != "acceptable" for t in data["wycheproof_ed25519"]),
        "wycheproof_aes_gcm": checks(gcm) + sum(t["iv"] == "" for t in gcm),
        "wycheproof_aes_cbc": checks(data["wycheproof_aes_cbc"]),
    }
    report = run(run_vectors(CPythonCrypto(), data, only=list(expected)))
    assert {name: report[name]["count"] for name in expected} == expected
    used = {
        "sha", "hmac", "hmac_empty_key", "hkdf_rfc5869", "wycheproof_hkdf_sha256",
        "x25519_rfc7748", "ed25519_rfc8032", "wycheproof_x25519", "wycheproof_ed25519",
        "wycheproof_aes_gcm", "wycheproof_aes_cbc", "conversions",
    }  # fmt: skip
    assert set(data) - {"source"} == used


def test_wycheproof_acceptable_ed25519_cases_are_recorded(report: dict[str, Any]) -> None:
    """Small- and mixed-order public keys: OpenSSL accepts these signatures
    (cofactorless verification); either answer is allowed, but it is counted."""
    acceptable = report["wycheproof_ed25519"]["acceptable"]
    assert sum(acceptable.values()) == 29


def test_a_wrong_answer_is_reported_not_hidden() -> None:
    """The runner itself: a backend that lies fails, it doesn't pass silently."""

    class Liar(CPythonCrypto):
        async def sha256(self, data: bytes) -> bytes:
            return bytes(32)

    report = run(run_vectors(Liar(), load_vectors(), only=["hashes"]))
    assert len(report["hashes"]["failures"]) == 3
