"""Verifying OMEMO fingerprints with a QR code / `xmpp:…?omemo-sid-…` code, in
Chromium against a real Prosody, two Roost pages.

Bob shows his QR code: the canvas has an accessible name, the code is also
given as text, and the modules drawn are exactly a standard QR encoding of
that text (checked against Python's `qrcode` package). Alice pastes Bob's
code: a tampered copy verifies nothing and says so; the real one verifies his
device.
"""

from __future__ import annotations

import re
from typing import Any

import qrcode
from playwright.sync_api import expect

from tests.browser.test_chat import TIMEOUT, contact, login, open_chat, send
from tests.browser.test_omemo import expect_encrypted_row, padlock

# ui/e2e.py draws 4 px per module inside a 4-module quiet zone.
CELL = 4
QUIET_ZONE = 4

READ_CANVAS = """(canvas) => {
  const n = Number(canvas.dataset.modules);
  const ctx = canvas.getContext('2d');
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const rows = [];
  for (let r = 0; r < n; r++) {
    let row = '';
    for (let c = 0; c < n; c++) {
      const x = (QZ + c) * CELL + CELL / 2, y = (QZ + r) * CELL + CELL / 2;
      row += px[(y * canvas.width + x) * 4] < 128 ? '1' : '0';
    }
    rows.push(row);
  }
  return {rows, width: canvas.width, height: canvas.height};
}""".replace("QZ", str(QUIET_ZONE)).replace("CELL", str(CELL))


def python_qr(text: str, mask: int) -> list[str]:
    code = qrcode.QRCode(
        version=None, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0,
        mask_pattern=mask,
    )
    code.add_data(text, optimize=0)  # one byte-mode segment, as the page encodes it
    code.make(fit=True)
    return ["".join("1" if dark else "0" for dark in row) for row in code.get_matrix()]


def open_encryption(page: Any) -> Any:
    page.get_by_role("button", name="Encryption").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Encryption"))
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    return dialog


def test_show_qr_code_and_verify_with_a_pasted_code(private: Any, new_page: Any) -> None:
    srv = private()
    alice, bob = new_page(), new_page()
    login(alice, srv.roost.url, "alice@localhost", "alice")
    login(bob, srv.roost.url, "bob@localhost", "bob")
    expect(contact(alice, "Bob")).to_be_visible(timeout=TIMEOUT)
    expect(contact(bob, "Alice")).to_be_visible(timeout=TIMEOUT)
    open_chat(alice, "Bob")
    expect(padlock(alice)).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
    send(alice, "hello bob")  # alice's Roost fetches bob's bundle: his key is known
    open_chat(bob, "Alice")
    expect_encrypted_row(bob, "hello bob")
    send(bob, "hello alice")
    expect_encrypted_row(alice, "hello alice")

    # The QR library is not part of the boot path: nothing loaded it yet.
    assert bob.evaluate("typeof window.qrcode") == "undefined"
    dialog = open_encryption(bob)
    # No BarcodeDetector in headless Chromium on Linux (and the camera is off by
    # Permissions-Policy): no Scan button, pasting works everywhere.
    expect(dialog.locator("#e2e-scan")).to_be_hidden()
    show = dialog.get_by_role("button", name="Show my QR code")
    expect(show).to_have_attribute("aria-expanded", "false")
    show.click()
    expect(show).to_have_attribute("aria-expanded", "true")
    image = dialog.get_by_role("img", name=re.compile("QR code of your OMEMO fingerprints"))
    expect(image).to_be_visible(timeout=TIMEOUT)
    expect(image).to_have_attribute("data-modules", re.compile(r"^\d+$"), timeout=TIMEOUT)
    uri_text = dialog.locator("#e2e-qr-uri")
    expect(uri_text).to_have_text(re.compile(r"^xmpp:bob@localhost\?omemo-sid-\d+=[0-9a-f]{64}$"))
    uri = uri_text.inner_text().strip()
    bob_device = int(uri.split("omemo-sid-")[1].split("=")[0])
    assert bob.evaluate("typeof window.qrcode") == "function"  # loaded on demand

    # What the page drew is a standard QR code (level M, byte mode) of exactly that
    # text: Python's encoder produces the same modules (for the mask the page chose).
    drawn = image.evaluate(READ_CANVAS)
    n = len(drawn["rows"])
    assert drawn["width"] == drawn["height"] == (n + 2 * QUIET_ZONE) * CELL
    matching = [mask for mask in range(8) if python_qr(uri, mask) == drawn["rows"]]
    assert len(matching) == 1, "the drawn QR code does not encode the URI"
    # Showing it again hides it (a toggle).
    show.click()
    expect(dialog.locator("#e2e-qr-panel")).to_be_hidden()

    # Alice verifies bob's device with his code.
    adialog = open_encryption(alice)
    select = adialog.locator(f"select[data-device='{bob_device}']")
    expect(select).to_have_value("blind", timeout=TIMEOUT)
    field = adialog.get_by_label(re.compile("^Verify with their code"))
    result = adialog.locator("#e2e-verify-result")
    # A tampered copy (one hex digit changed) verifies nothing and warns.
    last = uri[-1]
    tampered = uri[:-1] + ("0" if last != "0" else "1")
    field.fill(tampered)
    adialog.get_by_role("button", name="Verify", exact=True).click()
    expect(result).to_contain_text("does NOT match", timeout=TIMEOUT)
    expect(result).to_contain_text("don't trust")
    expect(select).to_have_value("blind")
    # Garbage is refused in words.
    field.fill("xmpp:bob@localhost?omemo-sid-1=zz")
    adialog.get_by_role("button", name="Verify", exact=True).click()
    expect(result).to_contain_text("not valid")
    expect(select).to_have_value("blind")
    # A code for someone else (even one with Bob's key) verifies nothing; markup in a
    # pasted code stays text.
    key_part = uri.split("?", 1)[1]
    field.fill("xmpp:mallory@evil.example?" + key_part)
    adialog.get_by_role("button", name="Verify", exact=True).click()
    expect(result).to_contain_text("mallory@evil.example, not for this chat")
    field.fill('xmpp:"><img src=x onerror=window.pwned=1>@localhost?' + key_part)
    adialog.get_by_role("button", name="Verify", exact=True).click()
    expect(result).to_contain_text("Nothing was verified")
    assert adialog.locator("img").count() == 0
    assert alice.evaluate("window.pwned") is None
    expect(select).to_have_value("blind")
    # The real code verifies his device, and the trust select shows it.
    field.fill(uri)
    adialog.get_by_role("button", name="Verify", exact=True).click()
    expect(result).to_have_text("1 device verified.", timeout=TIMEOUT)
    expect(adialog.locator(f"select[data-device='{bob_device}']")).to_have_value(
        "verified", timeout=TIMEOUT
    )
    expect(
        adialog.locator(f"select[data-device='{bob_device}'] option:checked")
    ).to_have_text("Verified")
    adialog.get_by_role("button", name="Close").click()
    dialog.get_by_role("button", name="Close").click()
    # No script errors and no CSP violations (they are console errors) on either page.
    for page in (alice, bob):
        assert page.errors.errors == [], page.errors.errors
