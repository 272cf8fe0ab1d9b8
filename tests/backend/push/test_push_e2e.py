"""End to end with real parts: Prosody + mod_cloud_notify → Roost's push
component inside a real `roost serve` (debug logging) → the test Web Push
receiver (HTTPS, VAPID verified, payload decrypted independently).

slixmpp clients play the browser's XMPP side: `<register/>` with the push
component (`urn:roost:push:0`), XEP-0357 `<enable/>` on Prosody, then offline;
a slixmpp peer writes to them and the receiver must get what each privacy
choice allows. At the end of each test `roost serve`'s log is searched for
every secret, key, endpoint token and message body of the test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import slixmpp
from slixmpp.exceptions import IqError

from backend.devserver.prosody import ProsodyServer, free_port
from backend.push.gateway import STORE_FILE
from backend.push.store import SqliteStore
from tests.conftest import ROOT, make_prosody
from tests.support.aio import run
from tests.support.webpush_receiver import PushSubscription, WebPushReceiver

pytestmark = pytest.mark.integration

ROOST_PUSH = "urn:roost:push:0"
PUSH = "urn:xmpp:push:0"
DATA = "jabber:x:data"
EVIL = "evil.localhost"
EVIL_SECRET = "evil-component-secret"


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.prosody: ProsodyServer = make_prosody(
            root / "prosody", extra_components={EVIL: EVIL_SECRET})
        self.receiver = WebPushReceiver(root / "receiver").start()
        self.data_dir = root / "push-data"
        self.port = free_port()
        self.log = root / "roost.log"
        config = root / "roost.toml"
        config.write_text(
            f'[server]\nport = {self.port}\nstatic_dir = "{root / "dist"}"\n'
            f'[[xmpp.servers]]\ndomain = "localhost"\nhost = "127.0.0.1"\n'
            f'port = {self.prosody.c2s_port}\ntls = "none"\n'
            + self.prosody.push_toml(self.data_dir, allow_private_endpoints=True,
                                     ca_file=self.receiver.ca_file, retry_attempts=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROOST_")}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "serve", "--config", str(config),
                 "--log-level", "debug"],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz",
                             trust_env=False).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)
        self.config_json = httpx.get(f"http://127.0.0.1:{self.port}/config.json",
                                     trust_env=False).json()

    def stored(self, node: str) -> bool:
        store = SqliteStore(self.data_dir / STORE_FILE)
        try:
            return store.get_sync(node) is not None
        finally:
            store._db.close()

    def assert_log_clean(self, *secrets: str) -> None:
        text = self.log.read_text(errors="replace")
        for secret in (self.prosody.push_secret, *secrets):
            assert secret not in text, f"{secret[:6]}… is in the roost serve log"
        key = (self.data_dir / "vapid-private-key.pem").read_text().splitlines()[1]
        assert key not in text
        # slixmpp's stanza dumps and httpx's request URLs are filtered out.
        assert "SEND:" not in text and "RECV:" not in text and "HTTP Request" not in text
        assert "slixmpp" in text  # ... while the debug level is really on

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.receiver.stop()
        self.prosody.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(tmp_path_factory.mktemp("push-e2e"))
    yield s
    s.close()


# -- the XMPP side -------------------------------------------------------------------


def _plain(xmpp: Any) -> None:
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = True


@asynccontextmanager
async def client(setup: Setup, user: str, resource: str = "phone") -> AsyncIterator[Any]:
    xmpp = slixmpp.ClientXMPP(f"{user}@localhost/{resource}", user)
    _plain(xmpp)
    xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
    started = asyncio.Event()
    xmpp.add_event_handler("session_start", lambda _e: started.set())
    xmpp.connect("127.0.0.1", setup.prosody.c2s_port)
    await asyncio.wait_for(started.wait(), 15)
    try:
        yield xmpp
    finally:
        await asyncio.wait_for(xmpp.disconnect(), 5)


@asynccontextmanager
async def evil_component(setup: Setup) -> AsyncIterator[Any]:
    comp = slixmpp.ComponentXMPP(EVIL, EVIL_SECRET)
    started = asyncio.Event()
    comp.add_event_handler("session_start", lambda _e: started.set())
    comp.connect("127.0.0.1", setup.prosody.component_port)
    await asyncio.wait_for(started.wait(), 15)
    try:
        yield comp
    finally:
        await asyncio.wait_for(comp.disconnect(), 5)


async def iq_set(xmpp: Any, to: str | None, child: ET.Element,
                 sender: str | None = None) -> ET.Element:
    """Send an IQ set (`to=None`: to the own account, as XEP-0357 enable goes)."""
    iq = xmpp.Iq()
    iq["type"] = "set"
    if to:
        iq["to"] = to
    if sender:
        iq["from"] = sender
    iq.append(child)
    reply = await iq.send(timeout=10)
    return reply.xml  # type: ignore[no-any-return]


async def register(xmpp: Any, setup: Setup, sub: PushSubscription, device: str,
                   privacy: str) -> tuple[str, str]:
    """Register `sub`; retries while the component is still connecting."""
    jid = setup.config_json["push"]["jid"]
    deadline = time.monotonic() + 20
    while True:
        try:
            reply = await iq_set(xmpp, jid, ET.Element(f"{{{ROOST_PUSH}}}register",
                                                       sub.register_attrs(device, privacy)))
            break
        except IqError as exc:
            # Prosody answers for a component that is not connected (yet).
            if exc.condition != "service-unavailable" or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    registered = reply.find(f"{{{ROOST_PUSH}}}registered")
    assert registered is not None, ET.tostring(reply)
    return registered.get("node") or "", registered.get("secret") or ""


def condition(error: IqError) -> str:
    """The error condition, read from the XML: slixmpp's `condition` looks in the
    jabber:client namespace only, and a component's errors are in its own."""
    for child in error.iq.xml:
        if child.tag.endswith("}error"):
            for cond in child:
                if cond.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not \
                        cond.tag.endswith("}text"):
                    return cond.tag.rpartition("}")[2]
    return "?"


def enable_element(jid: str, node: str, secret: str) -> ET.Element:
    enable = ET.Element(f"{{{PUSH}}}enable", jid=jid, node=node)
    form = ET.SubElement(enable, f"{{{DATA}}}x", type="submit")
    for var, value in (("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"),
                       ("secret", secret)):
        field = ET.SubElement(form, f"{{{DATA}}}field", var=var)
        ET.SubElement(field, f"{{{DATA}}}value").text = value
    return enable


async def send_chat(setup: Setup, sender: str, to: str, body: str) -> None:
    async with client(setup, sender, "pc") as peer:
        peer.send_message(mto=to, mbody=body, mtype="chat")
        await asyncio.sleep(0.2)  # let it leave before the clean disconnect


# -- tests ---------------------------------------------------------------------------------


def test_config_json_offers_push(setup: Setup) -> None:
    push = setup.config_json["push"]
    assert push["jid"] == "push.localhost"
    assert len(push["vapid_public_key"]) == 87


def test_message_while_offline_pushes_what_each_privacy_mode_allows(setup: Setup) -> None:
    key = setup.config_json["push"]["vapid_public_key"]
    subs = {mode: setup.receiver.new_subscription(vapid_key=key)
            for mode in ("text", "sender", "none")}
    secrets: list[str] = []

    async def scenario() -> None:
        async with client(setup, "alice") as alice:
            for mode, sub in subs.items():
                node, secret = await register(alice, setup, sub, f"browser-{mode}", mode)
                secrets.extend([node, secret])
                await iq_set(alice, None, enable_element("push.localhost", node, secret))
        await send_chat(setup, "bob", "alice@localhost", "Dinner at 8?")

    run(scenario())
    for mode, sub in subs.items():
        (push,) = setup.receiver.wait_for(1, subscription=sub)
        expected: dict[str, Any] = {"v": 1, "account": "alice@localhost", "count": 1}
        if mode in ("text", "sender"):
            expected["sender"] = "bob@localhost"
        if mode == "text":
            expected["body"] = "Dinner at 8?"
        assert push.json == expected, mode
        assert push.headers["Urgency"] == "high"
        assert push.headers["TTL"] == "86400"
        assert push.claims["sub"] == "mailto:roost-dev@example.org"
    setup.assert_log_clean("Dinner at 8?", *secrets,
                           *(s.id for s in subs.values()), *(s.auth for s in subs.values()),
                           *(s.p256dh for s in subs.values()))


def test_gone_subscription_is_deleted(setup: Setup) -> None:
    sub = setup.receiver.new_subscription()
    nodes: list[str] = []

    async def scenario() -> None:
        async with client(setup, "carol") as carol:
            node, secret = await register(carol, setup, sub, "old-browser", "none")
            nodes.append(node)
            await iq_set(carol, None, enable_element("push.localhost", node, secret))
        setup.receiver.expire(sub)  # the user revoked notifications in the browser
        await send_chat(setup, "bob", "carol@localhost", "are you there?")

    run(scenario())
    deadline = time.monotonic() + 10
    while setup.stored(nodes[0]):
        assert time.monotonic() < deadline, "the subscription was not deleted after 410"
        time.sleep(0.05)
    assert [status for sid, status, _ in setup.receiver.requests if sid == sub.id] == [410]
    assert setup.receiver.wait_for(0, subscription=sub) == []
    setup.assert_log_clean(nodes[0], sub.id, "are you there?")


def test_wrong_secret_sends_nothing(setup: Setup) -> None:
    sub = setup.receiver.new_subscription()

    async def scenario() -> None:
        async with client(setup, "dave") as dave:
            node, _secret = await register(dave, setup, sub, "browser", "text")
            await iq_set(dave, None, enable_element("push.localhost", node, "guessed"))
        await send_chat(setup, "bob", "dave@localhost", "secret plans")

    run(scenario())
    deadline = time.monotonic() + 10
    log = setup.prosody.log_path
    while "not-authorized" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "Prosody never got the component's refusal"
        time.sleep(0.05)
    time.sleep(0.3)
    assert not any(sid == sub.id for sid, _, _ in setup.receiver.requests)
    setup.assert_log_clean("secret plans", sub.id)


def test_register_only_from_accounts_of_served_domains(setup: Setup) -> None:
    sub = setup.receiver.new_subscription()
    attrs = sub.register_attrs("d", "text")

    async def refused(xmpp: Any, sender: str | None, **changes: str) -> str:
        element = ET.Element(f"{{{ROOST_PUSH}}}register", {**attrs, **changes})
        with pytest.raises(IqError) as info:
            await iq_set(xmpp, "push.localhost", element, sender)
        return condition(info.value)

    async def scenario() -> None:
        async with client(setup, "bob", "laptop") as bob:
            await register(bob, setup, sub, "laptop", "text")  # the component is up
            assert await refused(bob, None, privacy="everything") == "bad-request"
            assert await refused(bob, None, p256dh="AAAA") == "bad-request"
            assert await refused(bob, None, endpoint="http://127.0.0.1/x") == "bad-request"
            assert await refused(bob, None, device="") == "bad-request"
            with pytest.raises(IqError) as info:
                await iq_set(bob, "push.localhost",
                             ET.Element(f"{{{ROOST_PUSH}}}unregister", node="no-such-node"))
            assert info.value.condition == "item-not-found"
        # Another service on the same server: neither its own domain nor a
        # user-looking JID of its domain is an authenticated account here.
        async with evil_component(setup) as evil:
            assert await refused(evil, EVIL) == "not-allowed"
            assert await refused(evil, f"alice@{EVIL}/phone") == "not-allowed"

    run(scenario())


def test_unregister_by_the_owner_only(setup: Setup) -> None:
    sub = setup.receiver.new_subscription()

    async def scenario() -> str:
        async with client(setup, "stranger") as stranger:
            node, _ = await register(stranger, setup, sub, "b", "none")
        async with client(setup, "bob", "tablet") as bob:
            with pytest.raises(IqError) as info:
                await iq_set(bob, "push.localhost",
                             ET.Element(f"{{{ROOST_PUSH}}}unregister", node=node))
            assert info.value.condition == "item-not-found"
        assert setup.stored(node)
        async with client(setup, "stranger") as stranger:
            await iq_set(stranger, "push.localhost",
                         ET.Element(f"{{{ROOST_PUSH}}}unregister", node=node))
        return node

    node = run(scenario())
    assert not setup.stored(node)


def test_chat_states_while_away_notify_nothing(setup: Setup) -> None:
    """Prosody pushes bodyless stanzas too (as "unimportant"): a contact typing
    while the user is away must not buzz their phone with "New message"."""
    key = setup.config_json["push"]["vapid_public_key"]
    sub = setup.receiver.new_subscription(vapid_key=key)

    async def scenario() -> None:
        async with client(setup, "alice", "tablet") as alice:
            node, secret = await register(alice, setup, sub, "browser-states", "text")
            await iq_set(alice, None, enable_element("push.localhost", node, secret))
        async with client(setup, "bob", "pc") as bob:
            typing = bob.make_message(mto="alice@localhost", mtype="chat")
            typing.append(ET.Element("{http://jabber.org/protocol/chatstates}composing"))
            typing.send()
            await asyncio.sleep(1.0)  # pushed (if at all) before the message below
            bob.send_message(mto="alice@localhost", mbody="typed it", mtype="chat")
            await asyncio.sleep(0.2)

    run(scenario())
    (push,) = setup.receiver.wait_for(1, subscription=sub)
    assert push.json.get("body") == "typed it"
    time.sleep(0.5)
    assert len([r for r in setup.receiver.requests if r[0] == sub.id]) == 1


def test_rooms_are_told_by_the_nodes_owner_only(setup: Setup) -> None:
    """`<rooms/>`: the rooms whose messages notify only when they mention us."""
    sub = setup.receiver.new_subscription()
    jid = setup.config_json["push"]["jid"]
    nodes: list[str] = []

    def rooms_element(node: str, room_jid: str) -> ET.Element:
        rooms = ET.Element(f"{{{ROOST_PUSH}}}rooms", node=node)
        ET.SubElement(rooms, f"{{{ROOST_PUSH}}}room", jid=room_jid, nick="Carol")
        return rooms

    async def scenario() -> None:
        async with client(setup, "carol", "pad") as carol:
            node, _secret = await register(carol, setup, sub, "rooms-browser", "text")
            nodes.append(node)
            await iq_set(carol, jid, rooms_element(node, "Chess@muc.localhost"))
            with pytest.raises(IqError) as bad:
                await iq_set(carol, jid, rooms_element(node, "chess@muc.localhost/Carol"))
            assert condition(bad.value) == "bad-request"
            async with client(setup, "dave", "pad") as dave:
                with pytest.raises(IqError) as other:
                    await iq_set(dave, jid, rooms_element(node, "spam@muc.localhost"))
                assert condition(other.value) == "item-not-found"

    run(scenario())
    store = SqliteStore(setup.data_dir / STORE_FILE)
    try:
        got = store.get_sync(nodes[0])
        assert got is not None and dict(got.rooms) == {"chess@muc.localhost": "Carol"}
    finally:
        store._db.close()
