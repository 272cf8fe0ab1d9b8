"""The demo/test bots against a real Prosody (tests/conftest.py fixtures)."""

from __future__ import annotations

import asyncio

import pytest

from backend.devserver.bots import BotError, EchoBot, Peer
from backend.devserver.prosody import ProsodyServer
from tests.support.aio import run

pytestmark = pytest.mark.integration


def test_echo_bot_echoes_a_peer_message(prosody: ProsodyServer) -> None:
    async def scenario() -> None:
        async with (
            EchoBot("echo@localhost", "echo", port=prosody.c2s_port) as bot,
            Peer("alice@localhost", "alice", port=prosody.c2s_port) as alice,
        ):
            sent_id = alice.send_chat("echo@localhost", "hello, bot")
            reply = await alice.next_message(from_jid="echo@localhost", timeout=10)
            assert reply.body == "echo: hello, bot"
            assert reply.type == "chat"
            assert reply.id and reply.id != sent_id
            assert bot.echoed == 1

    run(scenario())


def test_echo_bot_accepts_a_strangers_subscription(fresh_prosody: ProsodyServer) -> None:
    # A server of its own: the subscription changes "stranger"'s roster.
    port = fresh_prosody.c2s_port

    async def scenario() -> None:
        async with (
            EchoBot("echo@localhost", "echo", port=port),
            Peer("stranger@localhost", "stranger", port=port) as stranger,
        ):
            assert "echo@localhost" not in stranger.client.client_roster
            stranger.subscribe("echo@localhost")
            await stranger.next_presence("echo@localhost", type="subscribed")
            # The bot asks back, so both sides end up seeing each other.
            await stranger.next_presence("echo@localhost", type="subscribe")
            stranger.approve("echo@localhost")
            for _ in range(100):  # the roster push follows the approval
                if stranger.subscription("echo@localhost") == "both":
                    break
                await asyncio.sleep(0.05)
            assert stranger.subscription("echo@localhost") == "both"

            stranger.send_chat("echo@localhost", "still there?")
            reply = await stranger.next_message(from_jid="echo@localhost")
            assert reply.body == "echo: still there?"

    run(scenario())


def test_peer_reports_a_wrong_password(prosody: ProsodyServer) -> None:
    async def scenario() -> None:
        with pytest.raises(BotError, match="could not log in"):
            await Peer("bob@localhost", "not-bobs-password", port=prosody.c2s_port).connect(10)

    run(scenario())


def test_peer_waits_for_presence_and_times_out(prosody: ProsodyServer) -> None:
    async def scenario() -> None:
        async with (
            Peer("bob@localhost", "bob", port=prosody.c2s_port) as bob,
            Peer("carol@localhost", "carol", port=prosody.c2s_port) as carol,
        ):
            carol.set_presence("away", "lunch")
            seen = await bob.next_presence("carol@localhost", type="available")
            while seen.show != "away":  # carol's initial presence may come first
                seen = await bob.next_presence("carol@localhost", type="available")
            assert seen.status == "lunch"
            with pytest.raises(TimeoutError):
                await bob.next_message(timeout=0.3)

    run(scenario())
