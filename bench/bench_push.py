"""Push benchmark: the XMPP server publishes → the Web Push request is sent.

    .venv/bin/python bench/bench_push.py [--pushes 100] [--out bench/results/push.json]

Starts its own Prosody (temp dir, `mod_cloud_notify`), Roost's push gateway
in this process exactly as `roost serve`'s lifespan starts it
(`PushGateway.start`), and the test Web Push receiver (HTTPS on loopback,
VAPID checked, payload decrypted). alice registers one subscription
(privacy "text") and enables XEP-0357, then goes offline; bob sends
`--pushes` messages one at a time, each after the previous push arrived.

Figures (milliseconds, one clock: everything runs in this process):

* `publish_to_request_ms` — from the component's handler seeing Prosody's
  publication to the push request reaching the receiver: store lookup,
  result reply, payload, RFC 8291 encryption, VAPID header, HTTPS POST
  (connection kept alive after the first). Target: p50 < 100 ms.
* `message_to_request_ms` — from bob's `send_message` to the request:
  adds Prosody's routing, offline storage and mod_cloud_notify.

Prints one JSON object (and writes it to --out). A benchmark: asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import slixmpp  # noqa: E402

from backend.devserver.prosody import ProsodyServer  # noqa: E402
from backend.push.gateway import PushGateway  # noqa: E402
from backend.settings import build_settings  # noqa: E402
from bench.common import cpus, emit  # noqa: E402
from tests.support.webpush_receiver import WebPushReceiver  # noqa: E402

USERS = {"alice": "alice", "bob": "bob"}


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


async def login(user: str, port: int) -> Any:
    xmpp = slixmpp.ClientXMPP(f"{user}@localhost/bench", USERS[user])
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = False
    xmpp.enable_plaintext = True
    xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
    started = asyncio.Event()
    xmpp.add_event_handler("session_start", lambda _e: started.set())
    xmpp.connect("127.0.0.1", port)
    await asyncio.wait_for(started.wait(), 15)
    return xmpp


async def iq_set(xmpp: Any, to: str | None, child: ET.Element) -> ET.Element:
    iq = xmpp.Iq()
    iq["type"] = "set"
    if to:
        iq["to"] = to
    iq.append(child)
    return (await iq.send(timeout=10)).xml  # type: ignore[no-any-return]


async def scenario(prosody: ProsodyServer, receiver: WebPushReceiver, data: Path,
                   pushes: int) -> dict[str, Any]:
    settings = build_settings({
        "xmpp": {"servers": [{"domain": "localhost", "host": "127.0.0.1",
                              "port": prosody.c2s_port, "tls": "none"}]},
        "push": prosody.push_settings(data, allow_private_endpoints=True,
                                      ca_file=receiver.ca_file),
    })
    gateway = PushGateway(settings.push)
    published: list[float] = []
    gateway.on_publication = published.append
    await gateway.start()
    await asyncio.wait_for(gateway.connected.wait(), 20)
    sub = receiver.new_subscription(vapid_key=gateway.signer.public_key)
    alice = await login("alice", prosody.c2s_port)
    reply = await iq_set(alice, "push.localhost", ET.Element(
        "{urn:roost:push:0}register", sub.register_attrs("bench", "text")))
    reg = reply.find("{urn:roost:push:0}registered")
    assert reg is not None
    enable = ET.Element("{urn:xmpp:push:0}enable", jid="push.localhost", node=reg.get("node", ""))
    form = ET.SubElement(enable, "{jabber:x:data}x", type="submit")
    for var, value in (("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"),
                       ("secret", reg.get("secret", ""))):
        field = ET.SubElement(form, "{jabber:x:data}field", var=var)
        ET.SubElement(field, "{jabber:x:data}value").text = value
    await iq_set(alice, None, enable)
    await alice.disconnect()
    bob = await login("bob", prosody.c2s_port)
    sent: list[float] = []
    for i in range(pushes + 1):  # the first one warms the connection up: not counted
        sent.append(time.monotonic())
        bob.send_message(mto="alice@localhost", mbody=f"bench message {i}", mtype="chat")
        await asyncio.to_thread(receiver.wait_for, i + 1, 15.0, sub)
    await bob.disconnect()
    await gateway.stop()
    arrived = [r.t for r in receiver.received]
    return {
        "publish_to_request_ms": summary(
            [(a - p) * 1000 for p, a in zip(published[1:], arrived[1:], strict=True)]),
        "message_to_request_ms": summary(
            [(a - s) * 1000 for s, a in zip(sent[1:], arrived[1:], strict=True)]),
        "first_push_ms": round((arrived[0] - published[0]) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roost-bench-push-") as tmp:
        root = Path(tmp)
        prosody = ProsodyServer(root / "prosody", users=USERS).start()
        receiver = WebPushReceiver(root / "receiver").start()
        try:
            figures = asyncio.run(scenario(prosody, receiver, root / "push", args.pushes))
        finally:
            receiver.stop()
            prosody.stop()
    return emit({
        "benchmark": "push",
        "pushes": args.pushes,
        **figures,
        "target": {"publish_to_request_ms_p50": 100},
        "machine": {"cpus": cpus(), "python": platform.python_version()},
    }, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
