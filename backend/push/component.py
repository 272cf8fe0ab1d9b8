"""The XMPP side: `urn:roost:push:0` registrations and XEP-0357 publications.

Who may do what (SECURITY.md, Web Push):

* `<register/>` / `<unregister/>` / `<rooms/>` only from a *full JID of an account* on one
  of the served domains. The user's own server stamps `from` on everything
  its clients send, so a stanza from `alice@example.org/phone` comes from
  Alice's authenticated client; anything else (a server or component
  domain, a bare JID, a domain we don't serve) gets `not-allowed`.
* A publication only from the owner's server (`from` = the owner's domain),
  with the node's secret in the publish-options (compared in constant time).
  Unknown node, or someone else's node: `item-not-found` — Prosody counts
  such errors and disables the registration after `push_max_errors`. Wrong
  secret: `not-authorized`, and nothing is sent.

Replies go out at once; the Web Push itself is sent afterwards
(`PushHandler.deliver`), so the XMPP server never waits for a push service.
Error replies are built by hand in the component namespace (slixmpp's error
plugin uses `jabber:client` when clients share the interpreter).
"""

from __future__ import annotations

import hmac
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from slixmpp import JID
from slixmpp.componentxmpp import ComponentXMPP
from slixmpp.jid import InvalidJID
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

from backend.push.payload import PRIVACY_MODES, SUMMARY_FORM, Summary, parse_summary
from backend.push.store import Subscription, SubscriptionStore
from backend.push.webpush import check_keys, endpoint_problem

logger = logging.getLogger("roost.push")

ROOST_PUSH_NS: Final = "urn:roost:push:0"
PUBSUB_NS: Final = "http://jabber.org/protocol/pubsub"
PUSH_NS: Final = "urn:xmpp:push:0"
DATA_NS: Final = "jabber:x:data"
STANZAS_NS: Final = "urn:ietf:params:xml:ns:xmpp-stanzas"
COMPONENT_NS: Final = "jabber:component:accept"
PUBLISH_OPTIONS: Final = "http://jabber.org/protocol/pubsub#publish-options"
MAX_DEVICE_LENGTH: Final = 128
# `<rooms/>`: how many rooms one browser may list, and a nick's length (Prosody's limit).
MAX_ROOMS: Final = 1000
MAX_NICK_LENGTH: Final = 1023


class StanzaError(Exception):
    """An error reply: `condition` (RFC 6120 §8.3.3) of `type`."""

    def __init__(self, type_: str, condition: str, text: str = "") -> None:
        super().__init__(condition)
        self.type = type_
        self.condition = condition
        self.text = text


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def form_values(form: ET.Element | None) -> dict[str, str]:
    """A data form's fields (var → first value; "" when empty)."""
    values: dict[str, str] = {}
    if form is None:
        return values
    for field in form.iter(_q(DATA_NS, "field")):
        var = field.get("var")
        if var and var not in values:
            values[var] = field.findtext(_q(DATA_NS, "value")) or ""
    return values


def _sender(iq: ET.Element) -> JID:
    try:
        return JID(iq.get("from") or "")
    except InvalidJID:
        raise StanzaError("cancel", "jid-malformed") from None


class PushHandler:
    """Decides on registrations and publications; the component only carries stanzas.

    `deliver(subscription, summary)` is called after a publication is
    accepted (and its result reply sent); it must not block.
    """

    def __init__(self, domains: Iterable[str], store: SubscriptionStore,
                 deliver: Callable[[Subscription, Summary], None],
                 allow_private_endpoints: bool = False) -> None:
        self.domains = frozenset(d.lower() for d in domains)
        self.store = store
        self.deliver = deliver
        self.allow_private_endpoints = allow_private_endpoints

    def _account(self, iq: ET.Element) -> JID:
        """The authenticated account behind a registration IQ, or not-allowed."""
        jid = _sender(iq)
        if not (jid.user and jid.resource) or jid.domain.lower() not in self.domains:
            raise StanzaError("cancel", "not-allowed",
                              "only clients of accounts on this service's domains")
        return jid

    async def register(self, iq: ET.Element, child: ET.Element) -> ET.Element:
        """`<register/>` → `<registered node secret/>` (the same node for the same device)."""
        account = self._account(iq)
        device = child.get("device") or ""
        endpoint = child.get("endpoint") or ""
        p256dh = child.get("p256dh") or ""
        auth = child.get("auth") or ""
        privacy = child.get("privacy") or "none"
        if not 0 < len(device) <= MAX_DEVICE_LENGTH or not device.isprintable():
            raise StanzaError("modify", "bad-request", "device: 1-128 printable characters")
        problem = endpoint_problem(endpoint, self.allow_private_endpoints)
        if problem:
            raise StanzaError("modify", "bad-request", f"endpoint is {problem}")
        try:
            check_keys(p256dh, auth)
        except ValueError:
            raise StanzaError("modify", "bad-request", "p256dh/auth are not subscription keys"
                              ) from None
        if privacy not in PRIVACY_MODES:
            raise StanzaError("modify", "bad-request", "privacy: text, sender or none")
        sub = await self.store.register(
            account.bare, device, endpoint, p256dh, auth, privacy)
        logger.info("push registered for %s (%s privacy)", account.bare, privacy)
        return ET.Element(_q(ROOST_PUSH_NS, "registered"), node=sub.node, secret=sub.secret)

    async def unregister(self, iq: ET.Element, child: ET.Element) -> None:
        """`<unregister node/>` from the node's owner deletes it."""
        account = self._account(iq)
        if not await self.store.unregister(account.bare, child.get("node") or ""):
            raise StanzaError("cancel", "item-not-found")
        logger.info("push unregistered for %s", account.bare)

    async def rooms(self, iq: ET.Element, child: ET.Element) -> None:
        """`<rooms node><room jid nick/>…</rooms>` from the node's owner: the
        rooms whose messages notify quietly unless they mention the nick."""
        account = self._account(iq)
        rooms: dict[str, str] = {}
        for room in child.findall(_q(ROOST_PUSH_NS, "room")):
            jid, nick = (room.get("jid") or "").lower(), room.get("nick") or ""
            if "@" not in jid or "/" in jid or not 0 < len(nick) <= MAX_NICK_LENGTH:
                raise StanzaError("modify", "bad-request", "room: a bare jid and a nick")
            rooms[jid] = nick
        if len(rooms) > MAX_ROOMS:
            raise StanzaError("modify", "not-acceptable", f"at most {MAX_ROOMS} rooms")
        if not await self.store.set_rooms(account.bare, child.get("node") or "", rooms):
            raise StanzaError("cancel", "item-not-found")

    async def publish(self, iq: ET.Element, pubsub: ET.Element) -> tuple[Subscription, Summary]:
        """Check an XEP-0357 publication; the subscription and summary to push."""
        publish = pubsub.find(_q(PUBSUB_NS, "publish"))
        node = publish.get("node") if publish is not None else None
        if not node:
            raise StanzaError("modify", "bad-request", "no publish node")
        sub = await self.store.get(node)
        server = iq.get("from") or ""
        if sub is None or server.lower() != sub.owner.rpartition("@")[2].lower():
            # Someone else's node looks exactly like no node.
            raise StanzaError("cancel", "item-not-found")
        options = form_values(pubsub.find(f"{_q(PUBSUB_NS, 'publish-options')}/{_q(DATA_NS, 'x')}"))
        secret = options.get("secret", "")
        if not hmac.compare_digest(secret.encode(), sub.secret.encode()):
            logger.warning("push publication for %s with a wrong secret refused", sub.owner)
            raise StanzaError("auth", "not-authorized")
        notification = publish.find(  # type: ignore[union-attr]
            f"{_q(PUBSUB_NS, 'item')}/{_q(PUSH_NS, 'notification')}")
        fields: dict[str, str] = {}
        if notification is not None:
            for form in notification.findall(_q(DATA_NS, "x")):
                values = form_values(form)
                if values.get("FORM_TYPE") == SUMMARY_FORM:
                    fields = values
        return sub, parse_summary(fields)


class PushComponent(ComponentXMPP):  # type: ignore[misc]
    """The slixmpp component: routes IQs to `PushHandler`, sends its replies."""

    def __init__(self, jid: str, secret: str, handler: PushHandler) -> None:
        super().__init__(jid, secret)  # type: ignore[no-untyped-call]
        # XEP-0114 is plain TCP: keep the component port on loopback or a private network.
        self.enable_direct_tls = False
        self.handler = handler
        # Stanzas that arrived, for the benchmark's clock (monotonic time).
        self.on_publication: Callable[[float], None] | None = None
        iq = _q(COMPONENT_NS, "iq")
        self.register_handler(CoroutineCallback(
            "roost-push-register", MatchXPath(f"{iq}/{_q(ROOST_PUSH_NS, 'register')}"),
            self._on_register))
        self.register_handler(CoroutineCallback(
            "roost-push-unregister", MatchXPath(f"{iq}/{_q(ROOST_PUSH_NS, 'unregister')}"),
            self._on_unregister))
        self.register_handler(CoroutineCallback(
            "roost-push-rooms", MatchXPath(f"{iq}/{_q(ROOST_PUSH_NS, 'rooms')}"),
            self._on_rooms))
        self.register_handler(CoroutineCallback(
            "roost-push-publish", MatchXPath(f"{iq}/{_q(PUBSUB_NS, 'pubsub')}"),
            self._on_publish))

    def _reply(self, iq: ET.Element, child: ET.Element | None = None,
               error: StanzaError | None = None) -> None:
        reply = ET.Element(_q(COMPONENT_NS, "iq"), {
            "type": "error" if error else "result", "id": iq.get("id") or "",
            "from": iq.get("to") or self.boundjid.full, "to": iq.get("from") or ""})
        if child is not None:
            reply.append(child)
        if error is not None:
            err = ET.SubElement(reply, _q(COMPONENT_NS, "error"), type=error.type)
            ET.SubElement(err, _q(STANZAS_NS, error.condition))
            if error.text:
                ET.SubElement(err, _q(STANZAS_NS, "text")).text = error.text
        self.send_xml(reply)

    async def _answer(
        self, stanza: Any, name: str,
        handle: Callable[[ET.Element, ET.Element], Awaitable[ET.Element | None]],
    ) -> None:
        """A `urn:roost:push:0` request (`name`): `handle`'s child in the result,
        or its StanzaError."""
        iq: ET.Element = stanza.xml
        child = iq.find(_q(ROOST_PUSH_NS, name))
        if iq.get("type") != "set" or child is None:
            return self._reply(iq, error=StanzaError("cancel", "bad-request"))
        try:
            result = await handle(iq, child)
        except StanzaError as exc:
            return self._reply(iq, error=exc)
        self._reply(iq, result)

    async def _on_register(self, stanza: Any) -> None:
        await self._answer(stanza, "register", self.handler.register)

    async def _on_unregister(self, stanza: Any) -> None:
        await self._answer(stanza, "unregister", self.handler.unregister)

    async def _on_rooms(self, stanza: Any) -> None:
        await self._answer(stanza, "rooms", self.handler.rooms)

    async def _on_publish(self, stanza: Any) -> None:
        iq: ET.Element = stanza.xml
        if iq.get("type") != "set":
            return  # results/errors to us need no answer
        if self.on_publication is not None:
            self.on_publication(time.monotonic())
        try:
            sub, summary = await self.handler.publish(iq, iq.find(_q(PUBSUB_NS, "pubsub")))  # type: ignore[arg-type]
        except StanzaError as exc:
            return self._reply(iq, error=exc)
        self._reply(iq)
        self.handler.deliver(sub, summary)
