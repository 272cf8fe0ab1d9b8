"""`config.json`, fetched once before the app starts."""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js, to_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CONFIG_URL = "config.json"


def defaults() -> dict[str, object]:
    return {"websocket_url": "/xmpp-websocket", "default_domain": str(window.location.hostname)}


def load_config(on_done: Callable[[dict[str, object]], None]) -> None:
    """Fetch config.json and call `on_done(config)`; defaults fill what is missing.

    A missing or broken config.json is logged and the defaults are used, so
    the login form still works against the same-origin proxy.
    """
    config = defaults()

    def got_json(data: object) -> None:
        value = to_py(data)
        if isinstance(value, dict):
            config.update(value)
        else:
            window.console.warn("Roost: config.json is not a JSON object; using defaults")
        on_done(config)

    def got_response(response: object) -> object:
        if not response.ok:  # type: ignore[attr-defined]
            raise RuntimeError(f"config.json: HTTP {response.status}")  # type: ignore[attr-defined]
        return response.json()  # type: ignore[attr-defined]

    def failed(err: object) -> None:
        window.console.warn("Roost: could not load config.json; using defaults", err)
        on_done(config)

    window.fetch(CONFIG_URL, to_js({"cache": "no-cache", "credentials": "same-origin"})).then(
        got_response
    ).then(got_json).catch(failed)
