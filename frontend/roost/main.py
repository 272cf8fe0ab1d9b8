"""Composition root: error reporter, config, platform, `ChatApp`, UI.

index.html runs `import roost.main`. config.json is fetched, and a
remembered login (trusted device, platform/remembered.py) read, while the
rest of the app is imported. Then a login submitted before Python was ready
is picked up, else the remembered login starts without a prompt (the list
snapshot.js drew stays until the stored one is read).
"""

from __future__ import annotations

# The error reporter goes first: roost/platform/__init__.py imports nothing,
# so an error in any module imported after this line shows the clear message.
from roost.platform import errors

errors.install()

from roost.platform import boot  # noqa: E402

boot.mark("roost-python-start")


def start(config: dict[str, object], record: dict[str, object] | None = None) -> None:
    from roost.app import ChatApp
    from roost.platform.browser import BrowserPlatform
    from roost.platform.tabs import TabLock
    from roost.ui.view import ChatView

    platform = BrowserPlatform(config)
    app = ChatApp(platform)
    view = ChatView(app, TabLock())
    _debug_hook(app)
    boot.set_ready()
    boot.mark("roost-python-ready")
    from roost.platform import remembered

    remembered.on_forgotten(view.forgotten_elsewhere)
    pending = boot.take_pending_login()
    if pending is not None:
        view.login(*pending)
    elif record is not None:
        view.start_remembered(record)
    elif remembered.read_snapshot() is not None:
        # A list drawn for a login no longer remembered: the login screen.
        remembered.clear_snapshot()
        view.show_login()


def _debug_hook(app: object) -> None:
    """`window.RoostDebug`: read-only views of the app for tests and support
    (state, a whole conversation; the page draws only a window of it)."""
    from browser import window  # type: ignore[import-not-found]

    from roost.platform.jsdata import to_js

    def state() -> str:
        return str(getattr(app, "state", ""))

    def messages(bare: str) -> object:
        return to_js([
            {"id": m.id or "", "body": m.body, "outgoing": m.outgoing, "state": m.state,
             "stamp": m.stamp, "seq": m.seq}
            for m in app.messages(str(bare))  # type: ignore[attr-defined]
        ])

    hook = window.Object.new()
    hook.state = state
    hook.messages = messages
    window.RoostDebug = hook


def main() -> None:
    from roost.platform import remembered
    from roost.platform.config import load_config

    got: dict[str, object] = {}

    def ready(name: str, value: object) -> None:
        got[name] = value
        if "config" in got and "login" in got:
            start(got["config"], got["login"])  # type: ignore[arg-type]

    # Both run while the imports below compile.
    load_config(lambda config: ready("config", config))
    remembered.load(lambda record: ready("login", record))
    import roost.app
    import roost.platform.browser
    import roost.platform.tabs
    import roost.ui.view  # noqa: F401


main()
