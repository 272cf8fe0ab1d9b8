"""`PushGateway`: the push service's lifecycle inside `roost serve`.

`start()` returns at once: the component connects to the XMPP server in the
background and reconnects with exponential backoff (1 s … 60 s) whenever the
link drops or the server is down, so Roost serves the web client whatever
state the XMPP server is in. `stop()` closes the link, waits briefly for
pushes in flight, and closes the store and the HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

from backend.push.component import PushComponent, PushHandler
from backend.push.payload import Summary, build_payload, encode_payload, is_quiet
from backend.push.store import SqliteStore, Subscription, SubscriptionStore
from backend.push.vapid import DEFAULT_KEY_NAME, VapidSigner, load_or_create_key
from backend.push.webpush import PushResult, RetryPolicy, Target, WebPushSender
from backend.settings import PushSettings

logger = logging.getLogger("roost.push")

STORE_FILE: Final = "push.sqlite3"
CONNECT_TIMEOUT: Final = 10.0
MAX_BACKOFF: Final = 60.0
MAX_IN_FLIGHT: Final = 256
STOP_GRACE: Final = 2.0


def open_store(settings: PushSettings) -> SubscriptionStore:
    """The configured store (SQLite in the data dir; PostgreSQL: issue 9)."""
    return SqliteStore(settings.data_dir / STORE_FILE)


class PushGateway:
    """The XEP-0357 app server: component + store + Web Push sender."""

    def __init__(self, settings: PushSettings, *, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        key_path = settings.vapid_private_key or settings.data_dir / DEFAULT_KEY_NAME
        # Made (or read) now, so /config.json has the public key from the start.
        self.signer = VapidSigner(load_or_create_key(key_path), settings.vapid_subject)
        self._retry = retry or RetryPolicy(attempts=settings.retry_attempts)
        self.store: SubscriptionStore | None = None
        self.sender: WebPushSender | None = None
        self.component: PushComponent | None = None
        self.connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._pushes: set[asyncio.Task[None]] = set()
        # Called with time.monotonic() when a publication arrives (bench/bench_push.py).
        self.on_publication: Callable[[float], None] | None = None

    def client_config(self) -> dict[str, Any]:
        """The `push` object of `/config.json`."""
        return {"jid": self.settings.jid, "vapid_public_key": self.signer.public_key}

    async def start(self) -> None:
        """Open the store and start connecting (in the background)."""
        self.store = await asyncio.to_thread(open_store, self.settings)
        self.sender = WebPushSender(
            self.signer, ttl=self.settings.ttl, retry=self._retry,
            allow_private=self.settings.allow_private_endpoints, ca_file=self.settings.ca_file)
        self._supervisor = asyncio.create_task(self._supervise(), name="roost-push-link")

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        component, self.component = self.component, None
        self.connected.clear()
        if component is not None:
            await _close(component)
        if self._pushes:
            _done, pending = await asyncio.wait(set(self._pushes), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.sender is not None:
            await self.sender.aclose()
        if self.store is not None:
            await self.store.close()

    # -- the link to the XMPP server ---------------------------------------------
    async def _supervise(self) -> None:
        where = f"{self.settings.component_host}:{self.settings.component_port}"
        failures = 0
        while True:
            component = await self._connect_once()
            if component is None:
                failures += 1
                delay = min(MAX_BACKOFF, 2.0 ** (failures - 1))
                if failures in (1, 2) or failures % 10 == 0:
                    logger.warning("push component %s cannot connect to %s; retrying in %.0f s",
                                   self.settings.jid, where, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            logger.info("push component %s connected to %s", self.settings.jid, where)
            self.component = component
            self.connected.set()
            try:
                await component.disconnected
            finally:
                self.connected.clear()
                self.component = None
            logger.warning("push component %s lost its link to %s; reconnecting",
                           self.settings.jid, where)
            await asyncio.sleep(1.0)

    async def _connect_once(self) -> PushComponent | None:
        assert self.store is not None
        handler = PushHandler(self.settings.domains, self.store, self._deliver,
                              self.settings.allow_private_endpoints)
        component = PushComponent(self.settings.jid, self.settings.component_secret, handler)
        component.on_publication = self.on_publication
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def settle(ok: bool) -> None:
            if not outcome.done():
                outcome.set_result(ok)

        def stream_error(error: Any) -> None:
            condition = error["condition"] if error is not None else "?"
            logger.warning("the XMPP server refused push component %s: %s%s", self.settings.jid,
                           condition, " (check [push] secret and jid)"
                           if condition == "not-authorized" else "")

        component.add_event_handler("session_start", lambda _e: settle(True))
        component.add_event_handler("connection_failed", lambda _e: settle(False))
        component.add_event_handler("disconnected", lambda _e: settle(False))
        component.add_event_handler("stream_error", stream_error)
        component.connect(self.settings.component_host, self.settings.component_port)
        try:
            ok = await asyncio.wait_for(outcome, CONNECT_TIMEOUT)
        except TimeoutError:
            ok = False
        except asyncio.CancelledError:
            await _close(component)
            raise
        if not ok:
            await _close(component)
            return None
        return component

    # -- pushes ----------------------------------------------------------------------
    def _deliver(self, sub: Subscription, summary: Summary) -> None:
        if not summary.important:
            # A chat state, an OMEMO key exchange, a receipt while the session
            # hibernates (Prosody pushes those too, with an empty body
            # field): a "New message" notification would be a false alarm.
            logger.debug("unimportant push for %s: no notification", sub.owner)
            return
        if len(self._pushes) >= MAX_IN_FLIGHT:
            logger.warning("too many pushes in flight; one for %s dropped", sub.owner)
            return
        task = asyncio.create_task(self._push(sub, summary))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _push(self, sub: Subscription, summary: Summary) -> None:
        assert self.sender is not None and self.store is not None
        quiet = is_quiet(sub.rooms, summary)
        plaintext = encode_payload(build_payload(sub.owner, sub.privacy, summary, quiet))
        try:
            result = await self.sender.send(
                Target(sub.endpoint, sub.p256dh, sub.auth), plaintext,
                urgency="normal" if quiet else "high")
        except Exception:
            logger.exception("push for %s failed", sub.owner)
            return
        if result is PushResult.GONE:
            await self.store.delete(sub.node)
            logger.info("push subscription of %s removed: the push service says it is gone",
                        sub.owner)


async def _close(component: PushComponent) -> None:
    """End a component's connection and its connection attempts, whatever its state."""
    component.cancel_connection_attempt()
    if component.transport is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(component.disconnect(wait=0.5), 2.0)
    component.abort()
    filters = getattr(component, "_run_out_filters", None)
    if filters is not None:
        filters.cancel()
