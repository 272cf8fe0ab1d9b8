"""The chat app's end-to-end encryption: `E2E` ties `OmemoManager` to `ChatApp`.

`ChatApp` calls it at a few points (login, logout, online, each received
message that carries OMEMO, each outgoing message with the padlock on) and
passes it the core's answers to its PEP requests. It is created with the app
but imports nothing of OMEMO until a trusted login needs it, so an untrusted
session (no OMEMO at all: PRODUCT.md) and the boot path don't pay for it.

Events (on the app's emitter): "omemo" (bare JID or None: padlock, devices
or trust changed; None: this device's state), "notice".
"""

from __future__ import annotations

from roost.xmpp.events import AffiliationList, ChatMessage, IqFailed, IqResult, OmemoDeviceList

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.app.chat import ChatApp
    from roost.app.omemo import OmemoManager, Sealed
    from roost.app.store import StoredMessage
    from roost.xmpp.client import XmppClient
    from roost.xmpp.element import Element

E2E_EVENTS = (IqResult, IqFailed, OmemoDeviceList, AffiliationList)
# An answer not in after this long is given up on (the condition passed is LOST).
ANSWER_TIMEOUT = 30.0
LOST = "lost"
# A room's member lists (for OMEMO to every member, present or not) are asked
# again after this long.
MEMBERS_FRESH = 60.0

# What this browser is, for the UI.
OFF_UNTRUSTED = "untrusted"  # not a trusted device: no OMEMO at all
SETTING_UP = "setting-up"
READY = "ready"
FAILED = "failed"


def _b64(data: bytes | None) -> str | None:
    import base64

    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes | None:
    import base64

    return base64.b64decode(text) if isinstance(text, str) else None


def sealed_record(sealed: Sealed) -> dict[str, object]:
    """A pending message's `sealed` field: JSON-like, kept with the message."""
    return {
        "sender": sealed.sender,
        "sid": sealed.sid,
        "key": _b64(sealed.key),
        "prekey": sealed.prekey,
        "iv": _b64(sealed.iv),
        "payload": _b64(sealed.payload),
        "ns": sealed.ns,
    }


def sealed_from(record: dict[str, object]) -> Sealed | None:
    from roost.app.omemo import Sealed

    key, iv = _unb64(record.get("key")), _unb64(record.get("iv"))
    sid = record.get("sid")
    if key is None or iv is None or not isinstance(sid, int):
        return None
    return Sealed(
        str(record.get("sender") or ""), sid, key, bool(record.get("prekey")), iv,
        _unb64(record.get("payload")), str(record.get("ns") or "legacy"),
    )


class _Net:
    """`OmemoNet` over the app's XMPP client: PEP requests by id, answers via `handle`."""

    __slots__ = ("_app", "_pending", "_timers")

    def __init__(self, app: ChatApp) -> None:
        self._app = app
        self._timers: dict[str, object] = {}
        # query id → callback(result iq or None, error text or None, condition)
        self._pending: dict[str, Callable[[Element | None, str | None, str], None]] = {}

    def _client(self) -> XmppClient | None:
        client = self._app._client
        return client if client is not None and client.online else None

    def _ask(
        self,
        iq_type: str,
        payload: Element,
        to: str | None,
        cb: Callable[[Element | None, str | None, str], None],
    ) -> None:
        client = self._client()
        if client is None:
            self._app.platform.call_later(0, lambda: cb(None, "You're not connected.", LOST))
            return
        qid = client.request(iq_type, payload, to)
        self._track(qid, cb)
        self._app._flush()  # asked from a callback or the UI: out now, not with the next frame

    def _track(self, qid: str, cb: Callable[[Element | None, str | None, str], None]) -> None:
        """Wait for the answer to `qid`, but not forever: what waits on it (a
        message in the outbox) must go on even if the answer never comes."""
        platform = self._app.platform
        self._pending[qid] = cb
        self._timers[qid] = platform.call_later(ANSWER_TIMEOUT, lambda: self._give_up(qid))

    def _take(self, qid: str) -> Callable[[Element | None, str | None, str], None] | None:
        cb = self._pending.pop(qid, None)
        timer = self._timers.pop(qid, None)
        if timer is not None:
            self._app.platform.cancel(timer)
        return cb

    def _give_up(self, qid: str) -> None:
        self._timers.pop(qid, None)
        cb = self._pending.pop(qid, None)
        if cb is not None:
            cb(None, "The server didn't answer.", LOST)

    def fail_all(self) -> None:
        """A new session: the answers to what the old one asked will never come."""
        for qid in list(self._pending):
            cb = self._take(qid)
            if cb is not None:
                cb(None, "The connection was lost.", LOST)

    def handle(self, event: object) -> bool:
        if isinstance(event, AffiliationList):
            cb = self._take(event.query_id)
            if cb is None:
                return False
            cb(None, None, "members:" + " ".join(str(jid) for jid, _nick in event.items))
            return True
        if isinstance(event, IqResult):
            cb = self._take(event.query_id)
            if cb is None:
                return False
            cb(event.iq, None, "")
            return True
        if isinstance(event, IqFailed):
            cb = self._take(event.query_id)
            if cb is None:
                return False
            cb(None, event.text or event.condition.replace("-", " "), event.condition)
            return True
        return False

    def fetch_devices(
        self, jid: str, cb: Callable[[list[int] | None, str | None], None], ns: str = "legacy"
    ) -> None:
        from roost.xmpp.xeps import xep_0384

        v2 = ns == "v2"

        def answered(iq: Element | None, error: str | None, condition: str) -> None:
            if iq is None:
                # No node: no OMEMO devices (not an error to show). Prosody
                # answers a stranger `forbidden` for a node that doesn't exist.
                cb([] if condition in ("item-not-found", "forbidden") else None, error)
                return
            if v2:
                devices = xep_0384.parse_omemo2_devices_items(iq)
            else:
                devices = xep_0384.parse_devicelist_items(iq)
            cb(None if devices is None else [d.id for d in devices], None)

        own = self._app.own_jid
        fetch = xep_0384.build_omemo2_devices_fetch() if v2 else xep_0384.build_devicelist_fetch()
        self._ask("get", fetch, None if jid == own else jid, answered)

    def publish_devices(
        self, ids: list[int], cb: Callable[[str | None], None], ns: str = "legacy"
    ) -> None:
        from roost.xmpp.xeps import xep_0384

        if ns == "v2":
            self._publish(xep_0384.build_omemo2_devices_publish(ids),
                          xep_0384.OMEMO2_DEVICES_NODE, cb)
        else:
            self._publish(xep_0384.build_devicelist_publish(ids), xep_0384.DEVICELIST_NODE, cb)

    def fetch_bundle(
        self, jid: str, device_id: int, cb: Callable[[object, str | None], None],
        ns: str = "legacy",
    ) -> None:
        from roost.xmpp.xeps import xep_0384

        v2 = ns == "v2"

        def answered(iq: Element | None, error: str | None, condition: str) -> None:
            if iq is None:
                cb(None, error)
                return
            # One random prekey is all a session start needs (faster in Brython).
            pick = int.from_bytes(self._app.platform.random_bytes(2), "big")
            bundle: object
            if v2:
                bundle = xep_0384.parse_omemo2_bundle_items(iq, device_id, pick)
            else:
                bundle = xep_0384.parse_bundle_items(iq, None, pick)
            cb(bundle, None if bundle is not None else "their published keys are unreadable")

        own = self._app.own_jid
        to = None if jid == own else jid
        if v2:
            self._ask("get", xep_0384.build_omemo2_bundle_fetch(device_id), to, answered)
        else:
            self._ask("get", xep_0384.build_bundle_fetch(device_id), to, answered)

    def publish_bundle(
        self, device_id: int, bundle: object, cb: Callable[[str | None], None],
        ns: str = "legacy",
    ) -> None:
        from roost.xmpp.xeps import xep_0384

        if ns == "v2":
            self._publish(
                xep_0384.build_omemo2_bundle_publish(device_id, bundle),  # type: ignore[arg-type]
                xep_0384.OMEMO2_BUNDLES_NODE, cb, xep_0384.OMEMO2_BUNDLES_OPTIONS,
            )
        else:
            self._publish(xep_0384.build_bundle_publish(device_id, bundle),  # type: ignore[arg-type]
                          xep_0384.bundle_node(device_id), cb)

    def _publish(
        self, payload: Element, node: str, cb: Callable[[str | None], None],
        options: dict[str, str | list[str] | tuple[str, ...] | bool] | None = None,
    ) -> None:
        """Publish with open access; a node made earlier with other options is
        reconfigured once (precondition-not-met), then the publish is repeated."""
        from roost.xmpp.xeps import xep_0384

        def published(iq: Element | None, error: str | None, condition: str) -> None:
            if iq is not None:
                cb(None)
            elif condition in ("precondition-not-met", "conflict"):
                # Prosody: <conflict/> with pubsub#errors <precondition-not-met/>.
                self._ask("set", xep_0384.build_node_config(node, options), None, configured)
            else:
                cb(error)

        def configured(iq: Element | None, error: str | None, condition: str) -> None:
            if iq is None:
                cb(error)
                return
            self._ask("set", payload, None, retried)

        def retried(iq: Element | None, error: str | None, condition: str) -> None:
            cb(None if iq is not None else error)

        self._ask("set", payload, None, published)

    def room_members(self, room: str, cb: Callable[[list[str]], None]) -> None:
        """cb(bare JIDs with an affiliation in `room`: owners, admins, members);
        what a list we may not read gives: nothing."""
        client = self._client()
        if client is None:
            self._app.platform.call_later(0, lambda: cb([]))
            return
        found: list[str] = []
        left = [3]

        def one(iq: Element | None, error: str | None, condition: str) -> None:
            if condition.startswith("members:"):
                for jid in condition[8:].split():
                    if jid not in found:
                        found.append(jid)
            left[0] -= 1
            if left[0] == 0:
                cb(found)

        for affiliation in ("owner", "admin", "member"):
            self._track(client.get_affiliations(room, affiliation), one)
        self._app._flush()

    def send_encrypted(
        self, to: str, msg_id: str | None, encrypted: object, encrypted2: object = None
    ) -> None:
        client = self._client()
        if client is None:
            return  # a heartbeat or repair: the next one will do
        client.send_encrypted(to, encrypted, id=msg_id, encrypted2=encrypted2)
        self._app._flush()


class E2E:
    """OMEMO for one ChatApp (see the module docstring)."""

    __slots__ = ("_app", "_encrypting", "_members", "_net", "manager", "state")

    def __init__(self, app: ChatApp) -> None:
        self._app = app
        self._net = _Net(app)
        self.manager: OmemoManager | None = None
        self.state = OFF_UNTRUSTED
        self._encrypting: set[str] = set()  # outbox ids being encrypted now
        # room → (when asked, its members' bare JIDs): OMEMO goes to absent members too.
        self._members: dict[str, tuple[float, list[str]]] = {}

    # -- session -------------------------------------------------------------------
    def login(self, account: str, trusted: bool) -> None:
        """A trusted login loads (or makes) this browser's device; an untrusted one has none.

        Read again from IndexedDB at every login, also of the same account:
        another tab of this browser may have had the stream meanwhile (ui/tabs.py)
        and moved the ratchets on; its writes come before our read (IndexedDB
        orders transactions on a store)."""
        self.manager = None
        if not trusted:
            self.state = OFF_UNTRUSTED
            self._app._emit("omemo", None)
            return
        from roost.app.omemo import OmemoManager

        platform = self._app.platform
        manager = OmemoManager(
            account,
            platform.omemo_crypto(),
            platform.open_omemo_storage(account),
            self._net,
            platform.run_async,
            platform.now,
        )
        self.manager = manager
        self.state = SETTING_UP
        manager.on("ready", self._ready)
        manager.on("failed", self._failed)
        manager.on("devices", lambda jid: self._app._emit("omemo", jid))
        manager.on("new_device", self._new_device)
        manager.on("notice", lambda text: self._app._emit("notice", text))
        manager.start()
        self._app._emit("omemo", None)

    def logout(self) -> None:
        """Keys stay in this browser (the device keeps its identity); memory is let go."""
        self.manager = None
        self.state = OFF_UNTRUSTED
        self._net.fail_all()

    def _ready(self) -> None:
        self.state = READY
        self._app._emit("omemo", None)
        self._retry_pending()
        self._app._send_outbox()

    def _failed(self, text: str) -> None:
        self.state = FAILED
        self._app._emit("notice", "End-to-end encryption isn't available here: " + text)
        self._app._emit("omemo", None)

    def _new_device(self, jid: str, device: object) -> None:
        if jid == self._app.own_jid:
            text = "A new device of yours can now read your encrypted messages."
        else:
            text = jid + " has a new device for encrypted messages."
        self._app._emit("notice", text)

    def online(self, resumed: bool) -> None:
        manager = self.manager
        if not resumed:
            self._net.fail_all()  # asked on a session that is gone
        if manager is not None and not resumed:
            manager.went_online()

    def handle(self, event: object) -> bool:
        """Answers to our PEP requests and device-list notifications: True if ours."""
        if isinstance(event, OmemoDeviceList):
            manager = self.manager
            if manager is not None:
                manager.device_list_pushed(str(event.jid), list(event.ids), event.namespace)
            return True
        return self._net.handle(event)

    # -- what the UI asks --------------------------------------------------------------
    def encryption_on(self, jid: str) -> bool:
        manager = self.manager
        return manager is not None and manager.encryption_on(jid)

    def outgoing_mode(self, jid: str) -> str | None:
        """How a new message to `jid` goes: "want" (encrypted), "check" (this
        page doesn't know the contact's devices yet: decided when it does),
        None (plaintext: no OMEMO here, or the padlock is off)."""
        manager = self.manager
        if manager is None:
            return None
        if not manager.ready:
            # Keys still being made or loaded: decided (never plaintext) once ready.
            return "check"
        if manager.encryption_on(jid):
            return "want"
        if jid not in manager.choices and jid not in manager.lists_known:
            return "check"
        return None

    def room_mode(self, room: str) -> str | None:
        """A new message to a room: "want" when the padlock is on (a members-only,
        non-anonymous room whose padlock the user left on), else None."""
        manager = self.manager
        if manager is None or not manager.ready or not self._app.rooms.omemo_ready(room):
            return None
        return "want" if manager.choices.get(room, True) else None

    def room_encryption_on(self, room: str) -> bool:
        return self.room_mode(room) == "want"

    def can_encrypt(self) -> bool:
        return self.manager is not None and self.manager.ready

    def conversation_opened(self, jid: str) -> None:
        manager = self.manager
        if manager is not None and manager.ready:
            manager.ensure_devices(jid)

    # -- receiving ---------------------------------------------------------------------
    def received(
        self,
        bare: str,
        sender: str,
        chat: ChatMessage,
        m: StoredMessage | None,
        live: bool,
    ) -> None:
        """A stored message (just created, `m`) or a key-transport message
        (`m` None, only handled `live`) that carried OMEMO from `sender`."""
        from roost.app.omemo import NO_KEYS, PENDING, Sealed

        manager = self.manager
        store = self._app.store
        if manager is None:
            if m is not None:
                self._set(m, NO_KEYS)
            return
        sealed = manager.sealed_for_me(sender, chat.encrypted, chat.encrypted2)
        if not isinstance(sealed, Sealed):
            if m is not None:
                # The sender's stamp (XEP-0203), not the place in the list it got.
                sent_at = chat.stamp if chat.stamp is not None else m.stamp
                self._set(m, manager.undecryptable_reason(sealed, sent_at))
            return
        if m is None:
            # A key-transport message (heartbeat, new session): the ratchet
            # takes it. One from the archive may be a copy already taken,
            # so its failure starts no repair.
            manager.decrypt(sealed, _nothing, repair=live)
            return
        m.omemo = PENDING
        m.omemo_device = sealed.sid
        m.sealed = sealed_record(sealed)
        if store is not None:
            store.changed(m)
        manager.decrypt(sealed, self._decrypted(m, sealed))

    def received_in_room(self, room: object, chat: object, m: StoredMessage, own: bool) -> None:
        """An OMEMO message in a room: the sender's real JID (ours, the archive's,
        or the occupant list's) finds the session."""
        from roost.app.omemo import UNKNOWN_SENDER

        bare = str(getattr(room, "jid", ""))
        author: str | None
        if own:
            author = self._app.own_jid
        else:
            real = getattr(chat, "real_jid", None)
            author = str(real) if real is not None else self._app.rooms.real_jid_of(
                bare, getattr(chat, "nick", None)
            )
        if author is None:
            self._set(m, UNKNOWN_SENDER)
            return
        self.received(bare, author, chat, m, True)  # type: ignore[arg-type]

    def _retry_pending(self) -> None:
        """Messages stored as pending (a reload came before they were decrypted)."""
        store, manager = self._app.store, self.manager
        if store is None or manager is None:
            return
        for m in store.pending_decryption():
            sealed = sealed_from(m.sealed or {})
            if sealed is not None:
                manager.decrypt(sealed, self._decrypted(m, sealed))

    def _decrypted(self, m: StoredMessage, sealed: Sealed) -> Callable[[object, str, int], None]:
        def done(plain: object, code: str, device_id: int) -> None:
            from roost.app.omemo import BROKEN

            m.omemo_device = device_id
            if isinstance(plain, bytes):  # OMEMO 2: the XEP-0420 envelope
                text = self._open_envelope(plain, sealed.sender)
                if text is None:
                    code = BROKEN
                else:
                    m.body = text
            elif isinstance(plain, str):
                m.body = plain
            self._set(m, code)

        return done

    def _open_envelope(self, data: bytes, sender: str) -> str | None:
        """The body inside a decrypted XEP-0420 envelope, if it says `sender`
        wrote it (SECURITY: else a contact could pass off another's content)."""
        from roost.xmpp.jid import JID
        from roost.xmpp.xeps import xep_0384

        try:
            element = self._app.platform.parse(data.decode("utf-8"))
            envelope = xep_0384.parse_envelope(element)
            if envelope is None or not envelope.is_from(JID.parse(sender)):
                return None
            return envelope.body()
        except Exception:  # not XML, not UTF-8, a bad JID: unreadable
            return None

    def _envelope(self, to: str, text: str) -> bytes:
        """The XEP-0420 envelope of `text` for the devices spoken to in OMEMO 2."""
        from roost.xmpp.jid import JID
        from roost.xmpp.stamps import format_datetime
        from roost.xmpp.xeps import xep_0384

        own = JID.parse(self._app.own_jid or "")
        envelope = xep_0384.body_envelope(
            text, own, JID.parse(to), xep_0384.make_rpad(self._app.platform.random_bytes),
            format_datetime(self._app.platform.now()),
        )
        return xep_0384.build_envelope(envelope).to_xml().encode("utf-8")

    def _set(self, m: StoredMessage, code: str) -> None:
        from roost.app.omemo import PENDING

        m.omemo = code
        if code != PENDING:
            m.sealed = None
        store = self._app.store
        if store is not None:
            store.changed(m)
        self._app._emit("message", m.conversation, m)

    # -- sending -------------------------------------------------------------------------
    def send(self, m: StoredMessage) -> None:
        """Encrypt an outbox message with the padlock on, then send it; or fail it
        with the reason (the user decides what then: never a silent plaintext)."""
        from roost.app.omemo import CANT_ENCRYPT, OK

        manager = self.manager
        to = m.conversation
        if m.omemo == CANT_ENCRYPT or m.id is None or m.id in self._encrypting:
            return  # failed (the user decides) or being encrypted
        if manager is None or not manager.ready:
            if manager is None:
                self._cant(m, "This browser has no encryption keys (it isn't a trusted device).")
            return  # setting up: sent once ready
        if m.omemo == "check":
            self._decide(m, manager)
            return
        rooms = self._app.rooms
        in_room = rooms.is_room(to)
        recipients: str | list[str] = to
        if in_room:
            room = rooms.rooms.get(to)
            if room is None or room.state != "joined":
                return  # sent once joined (the outbox keeps it)
            known = self._members.get(to)
            now = self._app.platform.now()
            if known is None or now - known[0] > MEMBERS_FRESH:
                self._encrypting.add(m.id)
                msg = m

                def listed(members: list[str]) -> None:
                    self._members[to] = (self._app.platform.now(), members)
                    self._encrypting.discard(msg.id or "")
                    self.send(msg)

                self._net.room_members(to, listed)
                return
            own = self._app.own_jid
            recipients = rooms.member_jids(to)
            for jid in known[1]:
                if jid != own and jid not in recipients:
                    recipients.append(jid)
            if not recipients:
                self._cant(m, "Nobody else is in this room to read it.")
                return
        msg_id = m.id
        self._encrypting.add(msg_id)

        def sent(encrypted: object) -> None:
            self._encrypting.discard(msg_id)
            client = self._app._client
            store = self._app.store
            if m.state not in ("queued", "sent") or store is None or self._app.store is not store:
                return
            if client is None or not client.online:
                return  # still in the outbox: encrypted again once we are back
            parts: tuple[object, object] = encrypted  # type: ignore[assignment]
            legacy, v2 = parts
            if in_room:
                if not rooms.send_encrypted(m, legacy, v2):
                    return  # left the room meanwhile: again once joined
            else:
                client.send_encrypted(to, legacy, id=msg_id, encrypted2=v2)
            m.omemo = OK
            store.mark_sent(msg_id)
            self._app._emit("message", to, m)
            if not client.request_ack() and not client.sm_active:
                for acked in store.acked([msg_id]):
                    store.set_state(acked, "sent")
            self._app._flush()

        def failed(text: str) -> None:
            self._encrypting.discard(msg_id)
            self._cant(m, text)

        def later() -> None:
            self._encrypting.discard(msg_id)  # still queued: the next outbox run tries again

        manager.encrypt(
            recipients, m.id, m.body, sent, failed, self._envelope(to, m.body), later
        )

    def _decide(self, m: StoredMessage, manager: OmemoManager) -> None:
        """Padlock on or off for a message written before the contact's devices
        were known: look, then encrypt it, or send it as it is (no OMEMO there)."""
        msg_id = m.id or ""
        self._encrypting.add(msg_id)

        def known() -> None:
            self._encrypting.discard(msg_id)
            if m.omemo != "check" or self._app.store is None or self.manager is not manager:
                return
            if m.conversation not in manager.lists_known:
                return  # couldn't look (connection lost): asked again with the next outbox run
            m.omemo = "want" if manager.encryption_on(m.conversation) else None
            self._app._send_outbox()

        manager.ensure_devices(m.conversation, known)

    def set_trust(self, jid: str, device_id: int, trust: str) -> None:
        """Change a device's trust; messages held back from it show once it is trusted."""
        from roost.app.omemo import FROM_UNTRUSTED, OK, TRUSTED

        manager, store = self.manager, self._app.store
        if manager is None:
            return
        manager.set_trust(jid, device_id, trust)
        if trust not in TRUSTED or store is None:
            return
        for m in store.messages_from_device(jid, device_id, FROM_UNTRUSTED):
            self._set(m, OK)

    def send_anyway(self, m: StoredMessage) -> None:
        """The user chose to send a message that couldn't be encrypted in plaintext."""
        store = self._app.store
        if store is None or not m.outgoing or m.state != "failed":
            return
        m.omemo = None
        m.omemo_note = None
        store.requeue(m)
        self._app._emit("message", m.conversation, m)
        self._app._send_outbox()

    def _cant(self, m: StoredMessage, text: str) -> None:
        from roost.app.omemo import CANT_ENCRYPT

        store = self._app.store
        m.omemo = CANT_ENCRYPT
        m.omemo_note = text
        if store is not None and m.id is not None:
            store.fail(m.id)
            store.changed(m)
        self._app._emit("message", m.conversation, m)
        self._app._emit("notice", "Not sent: " + text)


def _nothing(*_args: object) -> None:
    return None
