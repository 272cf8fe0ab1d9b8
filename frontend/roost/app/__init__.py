"""Headless application: state and orchestration, no browser (docs/architecture.md)."""

from __future__ import annotations

from roost.app.chat import ChatApp

__all__ = ["ChatApp"]
