"""Runs under Brython in Chromium (tests/xmpp/test_brython_core.py), not in pytest.

Replays a transcript recorded with CPython (`steps_data.STEPS`) through the
same core and compares every frame and event, plus SCRAM/JID/error checks.
Results go to `#out` and `document.title` ("DONE PASS" / "DONE FAIL").
"""

from __future__ import annotations

from browser import document, window
from roost.app import ChatApp
from roost.app.chat import is_secure_url
from roost.xmpp.client import XmppClient
from roost.xmpp.element import Element
from roost.xmpp.errors import AuthError, JidError
from roost.xmpp.jid import JID
from roost.xmpp.sasl import Scram, hmac_digest
from steps_data import STEPS  # type: ignore[import-not-found]

RFC7677_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC7677_SALTED = "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"
RFC7677_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
results: list[str] = []


def check(name: str, ok: bool, detail: object = "") -> None:
    results.append(("ok  " if ok else "FAIL") + " " + name + ("" if ok else f" :: {detail}"))


def build(node: object) -> Element:
    """DOM node → Element, like roost.platform.dom (kept separate: this tests the core)."""
    attrs = {}
    for attr in node.attributes:  # type: ignore[attr-defined]
        name = attr.name
        if name == "xmlns" or name.startswith("xmlns:"):
            continue
        attrs["xml:" + attr.localName if attr.prefix == "xml" else name] = attr.value
    element = Element(node.localName, node.namespaceURI or "", attrs)  # type: ignore[attr-defined]
    texts = []
    for child in node.childNodes:  # type: ignore[attr-defined]
        if child.nodeType == 1:
            element.children.append(build(child))
        elif child.nodeType in (3, 4):
            texts.append(child.data)
    text = "".join(texts)
    if not (element.children and not text.strip()):
        element.text = text
    return element


def parse(text: str) -> Element:
    doc = window.DOMParser.new().parseFromString(text, "application/xml")
    return build(doc.documentElement)


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        return bytes([self.calls % 256]) * n


def main() -> None:
    scram = Scram("sha256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
    scram.challenge(RFC7677_FIRST)
    final = scram.finish(bytes.fromhex(RFC7677_SALTED))
    check("scram-sha-256 vector", final == RFC7677_FINAL, final)
    scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    check("scram verify", scram.verified)
    digest = hmac_digest("sha1", b"\x0b" * 20, b"Hi There").hex()
    check("hmac rfc2202", digest == "b617318655057264e28bc0b6fb378c8ef146be00", digest)
    jid = JID.parse("Alice@Example.ORG/Phone")
    bare_ok = jid.bare == JID.parse("alice@example.org")
    check("jid", str(jid) == "alice@example.org/Phone" and bare_ok, jid)
    try:
        JID.parse("bad address")
        check("jid error", False, "no raise")
    except JidError as exc:
        check("jid error", "doesn't look right" in exc.user_message, exc.user_message)
    check("auth message", AuthError("not-authorized").user_message == "Wrong address or password.")
    check("secure url", is_secure_url("ws://localhost/x") and not is_secure_url("ws://a.org/x"))
    check("app importable", ChatApp.__name__ == "ChatApp")
    # Characters XML 1.0 forbids become U+FFFD; \r (text), \t\n\r (attributes)
    # become references; an emoji (a surrogate pair in JS) is left alone.
    el = Element("message", "jabber:client", {"id": "a\tb\nc\rd\x01\ud800"})
    el.add("body", text="hi\x0b\x00 \r\n\ufffe\uffff \U0001f600 ok")
    xml = el.to_xml()
    expected = (
        '<message xmlns="jabber:client" id="a&#9;b&#10;c&#13;d\ufffd\ufffd">'
        "<body>hi\ufffd\ufffd &#13;\n\ufffd\ufffd \U0001f600 ok</body></message>"
    )
    check("escape forbidden characters", xml == expected, repr(xml))

    client = XmppClient("alice@example.org", "s3cret", False, random_bytes=Counting())
    for i, step in enumerate(STEPS):
        if step["op"] == "start":
            client.start()
            events = []
        elif step["op"] == "salted":
            events = client.provide_salted_password(bytes.fromhex(step["hex"]))
        elif step["op"] == "call":
            result = getattr(client, step["method"])(*step["args"], **step["kwargs"])
            check(f"step {i} result", repr(result) == step["result"], repr(result))
            events = []
        else:
            events = client.receive(parse(step["xml"]))
        out = client.take_output()
        check(f"step {i} frames", out == step["out"], f"{out!r} != {step['out']!r}")
        got = [repr(e) for e in events]
        check(f"step {i} events", got == step["events"], f"{got!r} != {step['events']!r}")


try:
    main()
except Exception as exc:
    check("exception", False, repr(exc))
    raise
finally:
    document["out"].text = "\n".join(results)
    failed = any(r.startswith("FAIL") for r in results)
    document.title = "DONE " + ("FAIL" if failed else "PASS")
