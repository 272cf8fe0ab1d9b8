"""Web Push setup (app/push.py) with the real ChatApp, XmppClient and store,
against the scripted server of tests/app/fakes.py: the account's disco#info,
XEP-0357 enable/disable and Roost's push component (`urn:roost:push:0`) are
answered by `PushServer` below. The browser's side is `FakeWebPush`: the one
part that only exists in a browser (its own test is tests/browser/test_push.py).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from roost.app import ChatApp
from roost.app.push import (
    ASK,
    DENIED,
    IDLE,
    INSTALL,
    NOT_CONFIGURED,
    OFF,
    SERVER_LACKS_PUSH,
    SETTING_UP,
    SUBSCRIBE_TIMEOUT,
    UNREACHABLE,
    UNSUPPORTED,
    UNTRUSTED,
    WORKING,
)
from roost.xmpp.element import Element
from roost.xmpp.xeps import xep_0357

from tests.app.fake_muc import MUC_DOMAIN
from tests.app.fakes import DOMAIN, ROSTER, USERS, FakePlatform, FakeServer, Recorder

PUSH_JID = "push.example.org"
PUSH_CONFIG = {"jid": PUSH_JID, "vapid_public_key": "BVapidKey"}
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
SUBSCRIPTION = {"endpoint": "https://push.example.net/s/1", "p256dh": "BKeys", "auth": "AuTh"}


class PushServer(FakeServer):
    """The fake server plus what push needs: the account's disco#info (with
    `urn:xmpp:push:0` unless `push=False`), XEP-0357 enable/disable (kept in
    `enabled`: jid<node → options) and the push component at PUSH_JID
    (`registrations`: device → Registration; `component_error`: answer every
    request with that condition; `component_silent`: never answer)."""

    def __init__(self, push: bool = True) -> None:
        super().__init__(dict(USERS), ROSTER)
        self.push = push
        self.enabled: dict[str, dict[str, str]] = {}
        self.registrations: dict[str, xep_0357.Registration] = {}
        self.unregistered: list[str] = []
        self.rooms_told: list[dict[str, str]] = []  # each <rooms/> the component got
        self.component_error: str | None = None
        self.component_silent = False
        self.enable_error: str | None = None

    def _reply(self, iq: Element, inner: str = "", sender: str | None = None) -> None:
        frm = f' from="{sender}"' if sender else ""
        self.send(f'<iq xmlns="jabber:client" type="result" id="{iq.get("id")}"{frm} '
                  f'to="{self.full}">{inner}</iq>')

    def _error(self, iq: Element, condition: str, sender: str | None = None) -> None:
        frm = f' from="{sender}"' if sender else ""
        self.send(f'<iq xmlns="jabber:client" type="error" id="{iq.get("id")}"{frm} '
                  f'to="{self.full}"><error type="cancel"><{condition} xmlns="{STANZAS}"/>'
                  "</error></iq>")

    def _iq(self, iq: Element) -> None:
        own = f"{self.user}@{DOMAIN}"
        to = iq.get("to")
        query = iq.find("query", DISCO_INFO)
        if query is not None and to == own:
            features = '<feature var="urn:xmpp:push:0"/>' if self.push else ""
            self._reply(iq, f'<query xmlns="{DISCO_INFO}">'
                            f'<identity category="account" type="registered"/>{features}</query>',
                        own)
            return
        if to == PUSH_JID:
            self._component(iq)
            return
        enable = iq.find("enable", xep_0357.NS)
        if enable is not None and to is None:
            if self.enable_error:
                self._error(iq, self.enable_error)
                return
            parsed = xep_0357.parse_enable(enable)
            self.enabled[f"{parsed.jid}<{parsed.node}"] = parsed.options
            self._reply(iq)
            return
        disable = iq.find("disable", xep_0357.NS)
        if disable is not None and to is None:
            jid, node = xep_0357.parse_disable(disable)
            self.enabled.pop(f"{jid}<{node}", None)
            self._reply(iq)
            return
        super()._iq(iq)

    def _component(self, iq: Element) -> None:
        if self.component_silent:
            return
        if self.component_error:
            self._error(iq, self.component_error, PUSH_JID)
            return
        register = iq.find("register", xep_0357.REGISTER_NS)
        if register is not None:
            reg = xep_0357.parse_register(register)
            self.registrations[reg.device] = reg
            node = "node-" + reg.device[:8]
            self._reply(iq, xep_0357.build_registered(node, "secret-" + node).to_xml(), PUSH_JID)
            return
        rooms = iq.find("rooms", xep_0357.REGISTER_NS)
        if rooms is not None:
            self.rooms_told.append(xep_0357.parse_rooms(rooms)[1])
            self._reply(iq, "", PUSH_JID)
            return
        unregister = iq.find("unregister", xep_0357.REGISTER_NS)
        if unregister is not None:
            self.unregistered.append(xep_0357.parse_unregister(unregister))
            self._reply(iq, "", PUSH_JID)
            return
        self._error(iq, "bad-request", PUSH_JID)


class FakeWebPush:
    """The browser's side of push: permission and subscription as set here.
    `subscribe` answers with `subscription` at once unless `hang` (a browser
    that can't reach its push service never answers)."""

    def __init__(self, permission: str = "granted", support: str = "ok") -> None:
        self.state = permission
        self.supported = support
        self.subscription: dict[str, str] | None = dict(SUBSCRIPTION)
        self.error: str | None = None
        self.hang = False
        self.subscribes = 0
        self.asked: list[Callable[[str], None]] = []
        self.changed: list[Callable[[str], None]] = []

    def support(self) -> str:
        return self.supported

    def permission(self) -> str:
        return self.state

    def request_permission(self, cb: Callable[[str], None]) -> None:
        self.asked.append(cb)

    def answer_permission(self, permission: str) -> None:
        self.state = permission
        for cb in self.asked:
            cb(permission)
        self.asked.clear()

    def subscribe(
        self, vapid_key: str, cb: Callable[[dict[str, str] | None, str | None], None]
    ) -> None:
        assert vapid_key == PUSH_CONFIG["vapid_public_key"]
        self.subscribes += 1
        if not self.hang:
            cb(None if self.subscription is None else dict(self.subscription), self.error)

    def on_change(self, cb: Callable[[str], None]) -> None:
        self.changed.append(cb)

    def change(self, what: str) -> None:
        for cb in self.changed:
            cb(what)


def make(
    push: bool = True, permission: str = "granted", config: object = PUSH_CONFIG,
    support: str = "ok",
) -> tuple[PushServer, FakePlatform, ChatApp, FakeWebPush, Recorder]:
    server = PushServer(push)
    platform = FakePlatform(server, {"push": config})
    app = ChatApp(platform)
    port = FakeWebPush(permission, support)
    app.push.attach(port)
    rec = Recorder(app)
    app.on("push", lambda: rec.events.append(("push", app.push.status)))
    return server, platform, app, port, rec


def login(app: ChatApp, platform: FakePlatform, trusted: bool = True) -> None:
    app.login("alice", "s3cret", trusted)
    platform.run()
    assert app.state == "online"


def prefs(platform: FakePlatform) -> dict[str, object]:
    value = platform.databases["alice@example.org"].data["meta"].get("push")
    assert isinstance(value, dict)
    return value


def test_trusted_login_registers_then_enables() -> None:
    server, platform, app, _port, _rec = make()
    login(app, platform)
    assert app.push.status == WORKING, app.push.reason()
    (device,) = server.registrations
    reg = server.registrations[device]
    assert (reg.endpoint, reg.p256dh, reg.auth, reg.privacy) == (
        SUBSCRIPTION["endpoint"], "BKeys", "AuTh", "none")  # private until chosen
    node = "node-" + device[:8]
    assert server.enabled == {f"{PUSH_JID}<{node}": {"secret": "secret-" + node}}
    # The register went to the component before the enable went to the server.
    sent = [e for e in server.stanzas("iq") if e.find("register", xep_0357.REGISTER_NS)
            or e.find("enable", xep_0357.NS)]
    assert [e.children[0].name for e in sent] == ["register", "enable"]
    assert prefs(platform)["device"] == device and prefs(platform)["node"] == node


def test_the_device_id_stays_across_logins() -> None:
    server, platform, app, _port, _rec = make()
    login(app, platform)
    first = set(server.registrations)
    app.logout()
    platform.run()
    login(app, platform)
    assert set(server.registrations) == first
    assert app.push.status == WORKING


def test_logout_disables_and_unregisters() -> None:
    server, platform, app, _port, _rec = make()
    login(app, platform)
    node = str(prefs(platform)["node"])
    app.logout()
    platform.run()
    assert server.enabled == {}
    assert server.unregistered == [node]
    assert app.push.status == IDLE
    assert "node" not in prefs(platform)  # nothing left to withdraw later
    # The withdrawal went out before the stream's end.
    names = [e.children[0].name for e in server.stanzas("iq") if e.children]
    assert names[-2:] == ["disable", "unregister"]


def test_untrusted_login_has_no_push_and_stores_nothing() -> None:
    server, platform, app, port, _rec = make()
    login(app, platform, trusted=False)
    assert app.push.status == UNTRUSTED
    assert port.subscribes == 0
    assert server.registrations == {} and server.enabled == {}
    assert "alice@example.org" not in platform.databases
    app.push.turn_on()  # not offered; does nothing
    platform.run()
    assert port.subscribes == 0 and app.push.status == UNTRUSTED


def test_privacy_change_registers_again_with_the_same_device() -> None:
    server, platform, app, port, _rec = make()
    login(app, platform)
    (device,) = server.registrations
    app.push.set_privacy("text")
    platform.run()
    assert server.registrations[device].privacy == "text"
    assert len(server.registrations) == 1
    assert app.push.status == WORKING
    assert prefs(platform)["privacy"] == "text"
    assert port.subscribes == 2
    app.push.set_privacy("bogus")  # refused
    assert app.push.privacy == "text"


def test_a_new_subscription_registers_again() -> None:
    server, platform, app, port, _rec = make()
    login(app, platform)
    (device,) = server.registrations
    port.subscription = {"endpoint": "https://push.example.net/s/2", "p256dh": "B2", "auth": "A2"}
    port.change("subscription")
    platform.run()
    assert server.registrations[device].endpoint == "https://push.example.net/s/2"
    assert app.push.status == WORKING


def test_permission_not_asked_yet_offers_and_turn_on_asks() -> None:
    server, platform, app, port, _rec = make(permission="default")
    login(app, platform)
    assert app.push.status == ASK and app.push.offer
    assert port.subscribes == 0 and server.registrations == {}
    app.push.turn_on()
    assert len(port.asked) == 1  # asked from the click, nothing else yet
    port.answer_permission("granted")
    platform.run()
    assert app.push.status == WORKING and server.enabled


def test_dismissed_offer_stays_dismissed() -> None:
    _server, platform, app, _port, _rec = make(permission="default")
    login(app, platform)
    app.push.dismiss()
    assert not app.push.offer and app.push.status == ASK
    app.logout()
    platform.run()
    login(app, platform)
    assert not app.push.offer


def test_permission_refused_at_the_prompt() -> None:
    _server, platform, app, port, _rec = make(permission="default")
    login(app, platform)
    app.push.turn_on()
    port.answer_permission("denied")
    platform.run()
    assert app.push.status == DENIED
    assert "blocked" in app.push.reason()


def test_denied_permission_is_the_reason() -> None:
    server, platform, app, port, _rec = make(permission="denied")
    login(app, platform)
    assert app.push.status == DENIED and not app.push.offer
    assert port.subscribes == 0 and server.registrations == {}


def test_server_without_push() -> None:
    server, platform, app, port, _rec = make(push=False)
    login(app, platform)
    assert app.push.status == SERVER_LACKS_PUSH
    assert "XEP-0357" in app.push.reason()
    assert port.subscribes == 0 and server.registrations == {}


@pytest.mark.parametrize("config", [None, {}, {"jid": PUSH_JID}, {"vapid_public_key": "k"}])
def test_not_configured_by_the_operator(config: object) -> None:
    server, platform, app, port, _rec = make(config=config)
    login(app, platform)
    assert app.push.status == NOT_CONFIGURED
    assert "operator" in app.push.reason()
    assert port.subscribes == 0 and server.registrations == {}


@pytest.mark.parametrize(("support", "status"), [("install", INSTALL), ("no", UNSUPPORTED)])
def test_browser_support(support: str, status: str) -> None:
    _server, platform, app, port, _rec = make(support=support)
    login(app, platform)
    assert app.push.status == status
    assert port.subscribes == 0
    if status == INSTALL:
        assert "Home Screen" in app.push.reason()


def test_push_service_that_never_answers_is_given_up_on() -> None:
    server, platform, app, port, _rec = make()
    port.hang = True
    app.login("alice", "s3cret", True)
    platform.run(timers=False)
    assert app.push.status == SETTING_UP
    platform.advance(SUBSCRIBE_TIMEOUT + 1)
    assert app.push.status == UNREACHABLE
    assert "can't be reached" in app.push.reason()
    assert server.registrations == {}


def test_subscribe_refused_for_permission() -> None:
    _server, platform, app, port, _rec = make()
    port.subscription = None
    port.error = "NotAllowedError"
    login(app, platform)
    assert app.push.status == DENIED


@pytest.mark.parametrize("condition", ["service-unavailable", "not-allowed"])
def test_component_refusal(condition: str) -> None:
    server, platform, app, _port, _rec = make()
    server.component_error = condition
    login(app, platform)
    assert app.push.status == UNREACHABLE
    assert "push service" in app.push.reason()
    assert server.enabled == {}


def test_component_silent_is_given_up_on() -> None:
    server, platform, app, _port, _rec = make()
    server.component_silent = True
    app.login("alice", "s3cret", True)
    platform.run(timers=False)
    assert app.push.status == SETTING_UP
    platform.advance(31)
    assert app.push.status == UNREACHABLE
    assert "didn't answer" in app.push.reason()


def test_server_refuses_enable() -> None:
    server, platform, app, _port, _rec = make()
    server.enable_error = "not-allowed"
    login(app, platform)
    assert app.push.status == UNREACHABLE
    assert "refused" in app.push.reason()


def test_turn_off_withdraws_and_is_remembered() -> None:
    server, platform, app, port, _rec = make()
    login(app, platform)
    app.push.turn_off()
    platform.run()
    assert app.push.status == OFF and server.enabled == {} and len(server.unregistered) == 1
    app.logout()
    platform.run()
    subscribes = port.subscribes
    login(app, platform)
    assert app.push.status == OFF and port.subscribes == subscribes
    app.push.turn_on()
    platform.run()
    assert app.push.status == WORKING and server.enabled


def test_turned_off_while_offline_is_withdrawn_at_the_next_login() -> None:
    server, platform, app, _port, _rec = make()
    login(app, platform)
    assert server.enabled
    # Off while the connection is down: nothing can be sent; the node stays
    # stored and is withdrawn once online.
    assert server.connection is not None
    server.connection.stall()
    app.set_network(False)
    platform.run(timers=False)
    app.push.turn_off()
    assert prefs(platform).get("node")
    app.set_network(True)
    platform.run()
    assert app.state == "online"
    assert server.enabled == {} and server.unregistered
    assert app.push.status == OFF


def test_the_component_is_told_the_rooms_we_are_in_and_our_nicks() -> None:
    """A session hibernating after the app closed stays in its rooms: the push
    component needs our nick in each to tell mentions from the rest."""
    server, platform, app, _port, _rec = make()
    login(app, platform)
    assert app.push.status == WORKING and server.rooms_told == [{}]
    room = f"chess@{MUC_DOMAIN}"
    assert app.join_room(room, "Al") == room
    platform.run()
    assert server.rooms_told[-1] == {room: "Al"}
    told = len(server.rooms_told)
    app.open_chat(room)  # room events without a change: nothing new to tell
    platform.run()
    assert len(server.rooms_told) == told
    app.leave_room(room)
    platform.run()
    assert server.rooms_told[-1] == {}
