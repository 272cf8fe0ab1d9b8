"""The sans-I/O core under real Brython in Chromium: same frames, same events.

Loose .py files (no build.py bundle), so this checks the code itself runs
under Brython: records a full login transcript in CPython, replays it in the
browser with a DOMParser-built Element tree, compares byte for byte.
"""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from roost.xmpp.client import XmppClient
from roost.xmpp.xmlparse import parse_xml

from tests.conftest import ROOT, require
from tests.xmpp.support import (
    SERVER_OPEN,
    CountingRandom,
    ScramServer,
    b64,
    element_text,
    features,
    mechanisms,
)

pytestmark = pytest.mark.browser
BRYTHON = ROOT / ".venv" / "lib" / "python3.11" / "site-packages" / "brython" / "data"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>loading</title>
<script src="brython.js"></script><script src="brython_stdlib.js"></script></head>
<body onload="brython()"><pre id="out"></pre>
<script type="text/python">import brython_replay</script></body></html>"""


def record() -> list[dict[str, Any]]:
    """A login and a few stanzas, as (input, frames out, event reprs) steps."""
    steps: list[dict[str, Any]] = []
    client = XmppClient("alice@example.org", "s3cret", False, random_bytes=CountingRandom())
    server = ScramServer("alice", "s3cret")
    client.start()
    steps.append({"op": "start", "out": client.take_output(), "events": []})

    def feed(xml: str) -> list[str]:
        events = client.receive(parse_xml(xml))
        out = client.take_output()
        steps.append({"op": "feed", "xml": xml, "out": out, "events": [repr(e) for e in events]})
        return out

    feed(SERVER_OPEN)
    [auth] = feed(features(mechanisms("SCRAM-SHA-1", "SCRAM-SHA-256")))
    first = server.first(base64.b64decode(element_text(auth)))
    feed(f'<challenge xmlns="{SASL}">{b64(first)}</challenge>')
    events = client.provide_salted_password(server.salted)
    [response] = client.take_output()
    steps.append(
        {
            "op": "salted",
            "hex": server.salted.hex(),
            "out": [response],
            "events": [repr(e) for e in events],
        }
    )
    final = server.final(base64.b64decode(element_text(response)))
    feed(f'<success xmlns="{SASL}">{b64(final)}</success>')
    feed(SERVER_OPEN)
    feed(
        features(
            '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>', '<csi xmlns="urn:xmpp:csi:0"/>'
        )
    )
    feed(
        '<iq xmlns="jabber:client" type="result" id="0202020202020202">'
        '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
        "<jid>alice@example.org/roost-03030303</jid></bind></iq>"
    )
    feed(
        '<iq xmlns="jabber:client" type="result" id="0404040404040404">'
        '<query xmlns="jabber:iq:roster"><item jid="bob@example.org" name="Bob" '
        'subscription="both"><group>F</group></item></query></iq>'
    )
    feed(
        '<iq xmlns="jabber:client" type="set" id="evil" from="mallory@evil.example">'
        '<query xmlns="jabber:iq:roster"><item jid="m@evil.example"/></query></iq>'
    )
    feed(
        '<iq xmlns="jabber:client" type="get" id="p1" from="example.org">'
        '<ping xmlns="urn:xmpp:ping"/></iq>'
    )
    feed(
        '<presence xmlns="jabber:client" from="bob@example.org/x"><show>away</show>'
        "<priority>3</priority></presence>"
    )
    feed(
        '<message xmlns="jabber:client" type="chat" id="m1" from="bob@example.org/x">'
        '<body>hi &lt;b&gt;</body><delay xmlns="urn:xmpp:delay" '
        'stamp="2002-09-10T23:08:25.5+01:00"/></message>'
    )
    # Issue 3: origin-id and correction parsing, CSI, ping, sending a correction.
    feed(
        '<message xmlns="jabber:client" type="chat" id="m2" from="bob@example.org/x">'
        '<body>hi, fixed</body><origin-id xmlns="urn:xmpp:sid:0" id="o2"/>'
        '<replace xmlns="urn:xmpp:message-correct:0" id="m1"/></message>'
    )

    def call(method: str, *args: Any, **kwargs: Any) -> None:
        result = getattr(client, method)(*args, **kwargs)
        out = client.take_output()
        steps.append(
            {
                "op": "call",
                "method": method,
                "args": list(args),
                "kwargs": kwargs,
                "result": repr(result),
                "out": out,
                "events": [],
            }
        )

    call("set_active", False)
    call("set_active", False)
    call("ping")
    call("send_chat", "bob@example.org", "fixed", replaces="m0")
    call("unacked_ids")
    # Issue 4: group chats (every xeps module the client loads for them).
    room, user = "chess@conference.example.org", "http://jabber.org/protocol/muc#user"
    full = "alice@example.org/roost-03030303"

    def occupant(nick: str, codes: str = "", kind: str = "") -> str:
        return (
            f'<presence xmlns="jabber:client" from="{room}/{nick}"{kind}><x xmlns="{user}">'
            f'<item affiliation="none" role="participant"/>{codes}</x></presence>'
        )

    def answer(frame: str, payload: str = "", sender: str | None = None) -> None:
        iq = parse_xml(frame)
        to = iq.get("to") if sender is None else sender
        feed(f'<iq xmlns="jabber:client" type="result" id="{iq.get("id")}" from="{to}" '
             f'to="{full}">{payload}</iq>')

    call("join_room", room, "Alice")
    feed(occupant("Bob"))
    [disco] = feed(occupant("Alice", '<status code="110"/><status code="201"/>'))
    answer(disco, '<query xmlns="http://jabber.org/protocol/disco#info">'
                  '<feature var="urn:xmpp:occupant-id:0"/></query>')
    feed(
        f'<message xmlns="jabber:client" type="groupchat" from="{room}/Bob" id="g1">'
        '<body>e4</body><occupant-id xmlns="urn:xmpp:occupant-id:0" id="occ"/>'
        f'<stanza-id xmlns="urn:xmpp:sid:0" id="r1" by="{room}"/></message>'
    )
    feed(f'<message xmlns="jabber:client" type="groupchat" from="{room}/Bob">'
         "<subject>Openings</subject></message>")
    feed('<message xmlns="jabber:client" type="groupchat" from="x@conference.example.org/y">'
         "<body>forged</body></message>")
    feed(
        f'<message xmlns="jabber:client" type="groupchat" from="{room}">'
        '<apply-to xmlns="urn:xmpp:fasten:0" id="r1"><moderated by="r/a" '
        'xmlns="urn:xmpp:message-moderate:0"><retract xmlns="urn:xmpp:message-retract:0"/>'
        "</moderated></apply-to></message>"
    )
    feed(f'<message xmlns="jabber:client" from="{room}"><x xmlns="{user}">'
         f'<invite from="{room}/Bob"/></x></message>')
    call("send_groupchat", room, "e5")
    call("send_private", room, "Bob", "psst")
    call("set_role", room, "Bob", "none", "bye")
    call("self_ping", room)
    call("invite", room, "bob@example.org", "come")
    call("disco_items", "conference.example.org")
    call("query_archive", room=room, before_last=True, max=5)
    call("get_bookmarks")
    [account] = steps[-1]["out"]
    answer(account, '<query xmlns="http://jabber.org/protocol/disco#info">'
                    '<feature var="urn:xmpp:bookmarks:1#compat"/></query>', "alice@example.org")
    feed(
        '<message xmlns="jabber:client" from="alice@example.org" type="headline">'
        '<event xmlns="http://jabber.org/protocol/pubsub#event">'
        f'<items node="urn:xmpp:bookmarks:1"><item id="{room}">'
        '<conference xmlns="urn:xmpp:bookmarks:1" autojoin="true"><nick>Alice</nick>'
        "</conference></item></items></event></message>"
    )
    feed('<iq xmlns="jabber:client" type="get" id="caps" from="alice@example.org">'
         '<query xmlns="http://jabber.org/protocol/disco#info"/></iq>')
    call("leave_room", room)
    feed(occupant("Alice", '<status code="110"/>', ' type="unavailable"'))
    feed(
        '<stream:error xmlns:stream="http://etherx.jabber.org/streams">'
        '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>'
    )
    return steps


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_core_runs_identically_under_brython(tmp_path: Path, chromium: Any) -> None:
    require((BRYTHON / "brython.js").exists(), "brython (pip, dev extra)")
    for name in ("brython.js", "brython_stdlib.js"):
        shutil.copy(BRYTHON / name, tmp_path / name)
    package = tmp_path / "roost"
    src = ROOT / "frontend" / "roost"
    package.mkdir()
    shutil.copy(src / "__init__.py", package / "__init__.py")
    # Only what the browser bundle ships: no expat parser, no typing Protocols.
    ignore = shutil.ignore_patterns("__pycache__", "xmlparse.py", "ports.py")
    for sub in ("xmpp", "app", "omemo"):
        shutil.copytree(src / sub, package / sub, ignore=ignore)
    shutil.copy(Path(__file__).parent / "brython_replay.py", tmp_path / "brython_replay.py")
    (tmp_path / "steps_data.py").write_text(f"STEPS = {record()!r}\n", encoding="utf-8")
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")

    handler = functools.partial(_Quiet, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"http://localhost:{httpd.server_address[1]}/index.html")
        page.wait_for_function("document.title.startsWith('DONE')", timeout=90_000)
        title, report = page.title(), page.inner_text("#out")
        context.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert title == "DONE PASS", report
    assert report.count("ok ") >= 30
