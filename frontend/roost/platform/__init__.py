"""The browser platform: the only code that imports `browser` / `javascript`.

Kept empty on purpose: `main.py` imports `roost.platform.errors` before
anything else, and importing this package must not pull in the adapters
(`BrowserPlatform` is in `roost.platform.browser`).
"""
