"""The minimal service worker keeps the app shell for offline starts."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import RoostServer


def test_offline_start_shows_the_shell_even_after_other_pages(
    roost: RoostServer, new_page: Any
) -> None:
    page = new_page()
    page.goto(roost.url)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=20_000)
    # Another page of the same origin must not replace the cached shell.
    page.goto(roost.url + "/healthz")
    page.context.set_offline(True)
    try:
        response = page.goto(roost.url + "/")
        assert response is not None and response.from_service_worker
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=20_000)
        expect(page.get_by_label("Address")).to_be_editable()
    finally:
        page.context.set_offline(False)
