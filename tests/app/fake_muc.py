"""A scripted MUC service (XEP-0045) for `FakeServer`: conference.example.org.

Enough of Prosody's mod_muc + mod_muc_mam for ChatApp's room tests: joins
(occupant presences, then ours with 110 and 201 for a new room, then the
subject), nick conflicts, passwords, members-only, groupchat reflection with
the room's stanza-id, the room archive (RSM after/before/max), disco#info /
disco#items for the directory, kick (role none), self-ping (XEP-0410), and
occupants the test drives (`say`, `enter`, `leave`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.xmpp.element import Element

if TYPE_CHECKING:
    from tests.app.fakes import FakeServer

MUC_DOMAIN = "conference.example.org"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FORWARD = "urn:xmpp:forward:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PING = "urn:xmpp:ping"
SID = "urn:xmpp:sid:0"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;"
    )


class FakeRoom:
    def __init__(self, jid: str, name: str = "", subject: str = "") -> None:
        self.jid = jid
        self.name = name
        self.subject = subject
        self.password: str | None = None
        self.members_only = False
        self.non_anonymous = False  # muc_nonanonymous: real JIDs shown (OMEMO can work)
        self.members: set[str] = set()
        self.banned: set[str] = set()
        # nick → (real bare JID, role, affiliation); the user's own entry too
        self.occupants: dict[str, tuple[str, str, str]] = {}
        # (archive id, stamp, nick, body, origin id)
        self.archive: list[tuple[str, float, str, str, str | None]] = []
        self.seq = 0
        self.created = True  # the next join creates it (201)
        # Its configuration (muc#roomconfig_* → value) as submitted; admin
        # lists by affiliation (bare JIDs); invitations relayed (mediated).
        self.config: dict[str, str] = {}
        self.affiliations: dict[str, set[str]] = {}
        self.invited: list[tuple[str, str | None]] = []
        # Private messages (XEP-0045 §7.5) the user sent to occupants:
        # (nick, body, message id, marked with muc#user <x/>).
        self.privates: list[tuple[str, str, str, bool]] = []
        # Removed by a moderator (XEP-0425): archive id → reason.
        self.moderated: dict[str, str | None] = {}


class FakeMuc:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.rooms: dict[str, FakeRoom] = {}
        self.joined: dict[str, str] = {}  # room → our nick (the user's)
        self.answer = True  # False: the service is gone (no answers at all)

    # -- the test's side -------------------------------------------------------------
    def room(self, local: str, name: str = "", subject: str = "") -> FakeRoom:
        jid = f"{local}@{MUC_DOMAIN}"
        room = self.rooms.get(jid)
        if room is None:
            room = self.rooms[jid] = FakeRoom(jid, name, subject)
            room.created = False
        return room

    def enter(self, room: FakeRoom, nick: str, real: str, role: str = "participant",
              affiliation: str = "none") -> None:
        room.occupants[nick] = (real, role, affiliation)
        if room.jid in self.joined:
            self._send(self._presence(room, nick, None))

    def leave(self, room: FakeRoom, nick: str) -> None:
        room.occupants.pop(nick, None)
        if room.jid in self.joined:
            self._send(self._presence(room, nick, None, unavailable=True))

    def say(self, room: FakeRoom, nick: str, body: str, msg_id: str = "") -> str:
        archive_id = self._archive(room, nick, body, None)
        if room.jid in self.joined:
            self._send(
                f'<message xmlns="jabber:client" type="groupchat" from="{room.jid}/{_esc(nick)}" '
                f'to="{self.server.full}" id="{msg_id or archive_id}"><body>{_esc(body)}</body>'
                f'<stanza-id xmlns="{SID}" by="{room.jid}" id="{archive_id}"/></message>'
            )
        return archive_id

    def private(self, room: FakeRoom, nick: str, body: str, msg_id: str = "",
                marked: bool = True, archive: bool = True) -> str:
        """Occupant `nick` writes to the user privately (through the room, as
        Prosody relays it: from room/nick, with a muc#user <x/> unless
        `marked` is False). The user's server archives it (`archive`) and
        stamps its stanza-id; returns that id."""
        server = self.server
        own = f"{server.user}@example.org"
        mark = f'<x xmlns="{MUC_USER}"/>' if marked else ""
        inner = (
            f'<message xmlns="jabber:client" type="chat" from="{room.jid}/{_esc(nick)}" '
            f'to="{server.full}" id="{msg_id or "pm-" + str(len(server.archive or []))}">'
            f"<body>{_esc(body)}</body>{mark}</message>"
        )
        archive_id = ""
        if archive and server.archive is not None:
            archive_id = f"own-pm-{len(server.archive) + 1}"
            server.archive.append((archive_id, self.server_clock(), inner))
        stanza_id = f'<stanza-id xmlns="{SID}" by="{own}" id="{archive_id}"/>' if archive_id else ""
        self._send(inner.replace("</message>", stanza_id + "</message>"))
        return archive_id

    def announce_moderation(self, room: FakeRoom, archive_id: str, by_nick: str,
                            reason: str | None = None) -> None:
        """The room tells everyone that a moderator removed a message (XEP-0425 0.2)."""
        room.moderated[archive_id] = reason
        why = f"<reason>{_esc(reason)}</reason>" if reason else ""
        self._send(
            f'<message xmlns="jabber:client" type="groupchat" from="{room.jid}" '
            f'to="{self.server.full}" id="mod-{archive_id}">'
            f'<apply-to xmlns="urn:xmpp:fasten:0" id="{archive_id}">'
            f'<moderated xmlns="urn:xmpp:message-moderate:0" by="{room.jid}/{_esc(by_nick)}">'
            f'<retract xmlns="urn:xmpp:message-retract:0"/>{why}</moderated></apply-to>'
            "</message>"
        )

    def _on_private(self, message: Element, bare: str, nick: str) -> None:
        """A private message from the user to occupant `nick` (Prosody's
        rules: only from an occupant, only to one who is there)."""
        room = self.rooms.get(bare)
        if room is None or bare not in self.joined:
            self._error(message, "not-acceptable")
            return
        if nick not in room.occupants:
            self._error(message, "item-not-found")
            return
        marked = message.find("x", MUC_USER) is not None
        room.privates.append(
            (nick, message.find_text("body") or "", message.get("id") or "", marked)
        )

    def _on_moderate(self, iq: Element, room: FakeRoom, apply_to: Element) -> None:
        """XEP-0425 0.2, as Prosody's mod_muc_moderation: moderators only."""
        nick = self.joined.get(room.jid)
        role = room.occupants.get(nick or "", ("", "none", "none"))[1]
        if nick is None or role != "moderator":
            self._error(iq, "forbidden", "auth")
            return
        archive_id = apply_to.get("id") or ""
        if archive_id not in [a for a, *_ in room.archive]:
            self._error(iq, "item-not-found", "modify")
            return
        moderate = apply_to.find("moderate", "urn:xmpp:message-moderate:0")
        reason = None if moderate is None else moderate.find_text(
            "reason", "urn:xmpp:message-moderate:0")
        self._result(iq)
        self.announce_moderation(room, archive_id, nick, reason)

    def drop_user(self, room: FakeRoom) -> None:
        """The service forgot us (a restart): self-pings now say not joined."""
        nick = self.joined.pop(room.jid, None)
        if nick is not None:
            room.occupants.pop(nick, None)

    # -- helpers ---------------------------------------------------------------------
    def _send(self, frame: str) -> None:
        if self.answer:
            self.server.send(frame)

    def _archive(self, room: FakeRoom, nick: str, body: str, origin: str | None) -> str:
        room.seq += 1
        archive_id = f"{room.jid.split('@')[0]}-{room.seq}"
        room.archive.append((archive_id, self.server_clock(), nick, body, origin))
        return archive_id

    def server_clock(self) -> float:
        clock = getattr(self.server, "clock", None)
        return float(clock() if callable(clock) else 1_700_000_000.0)

    def _presence(self, room: FakeRoom, nick: str, codes: list[int] | None,
                  unavailable: bool = False) -> str:
        real, role, affiliation = room.occupants.get(nick, ("", "none", "none"))
        kind = ' type="unavailable"' if unavailable else ""
        status = "".join(f'<status code="{c}"/>' for c in codes or [])
        jid_attr = f' jid="{real}"' if real else ""
        return (
            f'<presence xmlns="jabber:client" from="{room.jid}/{_esc(nick)}" '
            f'to="{self.server.full}"{kind}><x xmlns="{MUC_USER}">'
            f'<item affiliation="{affiliation}" role="{role if not unavailable else "none"}"'
            f'{jid_attr}/>{status}</x></presence>'
        )

    def _error(self, stanza: Element, condition: str, kind: str = "cancel") -> None:
        name = stanza.name
        to = stanza.get("to") or ""
        extra = f' id="{stanza.get("id")}"' if stanza.get("id") else ""
        self._send(
            f'<{name} xmlns="jabber:client" type="error" from="{_esc(to)}" '
            f'to="{self.server.full}"{extra}><error type="{kind}">'
            f'<{condition} xmlns="{STANZAS}"/></error></{name}>'
        )

    def _result(self, iq: Element, payload: str = "") -> None:
        self._send(
            f'<iq xmlns="jabber:client" type="result" id="{iq.get("id")}" '
            f'from="{_esc(iq.get("to") or "")}" to="{self.server.full}">{payload}</iq>'
        )

    # -- stanzas from the client -------------------------------------------------------
    def handle(self, stanza: Element) -> bool:
        """Handle a stanza addressed to the MUC service; False when it isn't."""
        to = stanza.get("to") or ""
        bare, _, resource = to.partition("/")
        if bare != MUC_DOMAIN and not bare.endswith("@" + MUC_DOMAIN):
            return False
        if stanza.name == "presence":
            self._on_presence(stanza, bare, resource)
        elif stanza.name == "message" and resource and stanza.get("type") != "groupchat":
            self._on_private(stanza, bare, resource)
        elif stanza.name == "message":
            self._on_message(stanza, bare)
        elif stanza.name == "iq":
            self._on_iq(stanza, bare, resource)
        return True

    def _on_presence(self, presence: Element, bare: str, nick: str) -> None:
        own = f"{self.server.user}@example.org"
        room = self.rooms.get(bare)
        if presence.get("type") == "unavailable":
            if room is not None and self.joined.get(bare) == nick:
                self._send(self._presence(room, nick, [110], unavailable=True))
                room.occupants.pop(nick, None)
                del self.joined[bare]
            return
        if room is None:
            room = self.rooms[bare] = FakeRoom(bare)
        if own in room.banned:
            self._error(presence, "forbidden", "auth")
            return
        if room.members_only and own not in room.members:
            self._error(presence, "registration-required", "auth")
            return
        if room.password is not None:
            x = presence.find("x", MUC)
            given = None if x is None else x.find_text("password", MUC)
            if given != room.password:
                self._error(presence, "not-authorized", "auth")
                return
        taken = room.occupants.get(nick)
        if taken is not None and taken[0] != own:
            self._error(presence, "conflict")
            return
        created = room.created
        room.created = False
        owners = room.affiliations.get("owner", set())
        affiliation = (
            "owner" if created or own in owners else ("member" if own in room.members else "none")
        )
        if created:
            room.affiliations.setdefault("owner", set()).add(own)
        role = "moderator" if created else "participant"
        for other in list(room.occupants):
            if other != nick:
                self._send(self._presence(room, other, None))
        room.occupants[nick] = (own, role, affiliation)
        self.joined[bare] = nick
        self._send(self._presence(room, nick, [110, 201] if created else [110]))
        self._send(
            f'<message xmlns="jabber:client" type="groupchat" from="{room.jid}" '
            f'to="{self.server.full}"><subject>{_esc(room.subject)}</subject></message>'
        )

    def _on_message(self, message: Element, bare: str) -> None:
        room = self.rooms.get(bare)
        nick = self.joined.get(bare)
        x = message.find("x", MUC_USER)
        invite = None if x is None else x.find("invite", MUC_USER)
        if invite is not None and room is not None:
            room.invited.append((invite.get("to") or "", invite.find_text("reason", MUC_USER)))
            if room.members_only:
                room.members.add(invite.get("to") or "")
            return
        if message.get("type") != "groupchat" or room is None or nick is None:
            self._error(message, "not-acceptable")
            return
        subject = message.find_text("subject")
        if subject is not None and message.find_text("body") is None:
            room.subject = subject
            self._send(
                f'<message xmlns="jabber:client" type="groupchat" from="{room.jid}/{_esc(nick)}" '
                f'to="{self.server.full}"><subject>{_esc(subject)}</subject></message>'
            )
            return
        body = message.find_text("body") or ""
        origin = message.find("origin-id", SID)
        origin_id = None if origin is None else origin.get("id")
        archive_id = self._archive(room, nick, body, origin_id)
        origin_xml = f'<origin-id xmlns="{SID}" id="{origin_id}"/>' if origin_id else ""
        self._send(
            f'<message xmlns="jabber:client" type="groupchat" from="{room.jid}/{_esc(nick)}" '
            f'to="{self.server.full}" id="{message.get("id")}"><body>{_esc(body)}</body>'
            f'{origin_xml}<stanza-id xmlns="{SID}" by="{room.jid}" id="{archive_id}"/></message>'
        )

    def _on_iq(self, iq: Element, bare: str, resource: str) -> None:
        room = self.rooms.get(bare)
        apply_to = iq.find("apply-to", "urn:xmpp:fasten:0")
        if apply_to is not None and room is not None:
            self._on_moderate(iq, room, apply_to)
            return
        if iq.find("ping", PING) is not None:
            if room is not None and self.joined.get(bare) == resource:
                self._result(iq)
            else:
                self._error(iq, "not-acceptable", "modify")
            return
        if iq.find("query", DISCO_ITEMS) is not None:
            if bare == MUC_DOMAIN:
                items = "".join(
                    f'<item jid="{r.jid}" name="{_esc(r.name)}"/>' for r in self.rooms.values()
                )
                self._result(iq, f'<query xmlns="{DISCO_ITEMS}">{items}</query>')
            else:
                self._result(iq, f'<query xmlns="{DISCO_ITEMS}"/>')
            return
        if iq.find("query", DISCO_INFO) is not None:
            if bare == MUC_DOMAIN:
                self._result(
                    iq,
                    f'<query xmlns="{DISCO_INFO}"><identity category="conference" type="text" '
                    f'name="Chatrooms"/><feature var="{MUC}"/></query>',
                )
            elif room is not None:
                form = (
                    '<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden">'
                    "<value>http://jabber.org/protocol/muc#roominfo</value></field>"
                    f'<field var="muc#roominfo_occupants"><value>{len(room.occupants)}</value>'
                    "</field></x>"
                )
                features = "".join(
                    f'<feature var="{f}"/>'
                    for f, on in (("muc_membersonly", room.members_only),
                                  ("muc_nonanonymous", room.non_anonymous),
                                  ("muc_passwordprotected", room.password is not None))
                    if on
                )
                self._result(
                    iq,
                    f'<query xmlns="{DISCO_INFO}"><identity category="conference" type="text" '
                    f'name="{_esc(room.name)}"/><feature var="{MUC}"/>{features}{form}</query>',
                )
            else:
                self._error(iq, "item-not-found")
            return
        owner = iq.find("query", MUC_OWNER)
        if owner is not None:
            if room is not None and iq.get("type") == "get":
                self._result(iq, f'<query xmlns="{MUC_OWNER}">{self._config_form(room)}</query>')
                return
            form = owner.find("x", "jabber:x:data")
            if room is not None and form is not None:
                for field in form.children:
                    var = field.get("var")
                    if var and var != "FORM_TYPE":
                        room.config[var] = field.find_text("value", "jabber:x:data") or ""
                self._apply_config(room)
            self._result(iq)
            return
        admin = iq.find("query", MUC_ADMIN)
        if admin is not None and room is not None:
            item = admin.find("item", MUC_ADMIN)
            if iq.get("type") == "get" and item is not None:
                wanted = item.get("affiliation") or ""
                if self.joined.get(bare) is None or room.occupants.get(
                    self.joined[bare], ("", "", "none")
                )[2] not in ("owner", "admin"):
                    self._error(iq, "forbidden", "auth")
                    return
                listed = "".join(
                    f'<item affiliation="{wanted}" jid="{_esc(j)}"/>'
                    for j in sorted(room.affiliations.get(wanted, set()))
                )
                self._result(iq, f'<query xmlns="{MUC_ADMIN}">{listed}</query>')
                return
            if item is not None and item.get("jid") and item.get("affiliation"):
                who, what = item.get("jid") or "", item.get("affiliation") or ""
                for members in room.affiliations.values():
                    members.discard(who)
                if what != "none":
                    room.affiliations.setdefault(what, set()).add(who)
                (room.members.add if what == "member" else room.members.discard)(who)
                (room.banned.add if what == "outcast" else room.banned.discard)(who)
                self._result(iq)
                return
            if item is not None and item.get("role") == "none":
                nick = item.get("nick") or ""
                if nick in room.occupants:
                    self._send(self._presence(room, nick, [307], unavailable=True))
                    room.occupants.pop(nick, None)
            self._result(iq)
            return
        mam = iq.find("query", MAM)
        if mam is not None and room is not None:
            self._archive_query(iq, room, mam)
            return
        self._error(iq, "service-unavailable")

    @staticmethod
    def _config_form(room: FakeRoom) -> str:
        """Prosody's form, in short: the standard fields with the room's values."""
        def field(var: str, kind: str, value: str, options: str = "") -> str:
            return (f'<field var="{var}" type="{kind}">{options}'
                    f"<value>{_esc(value)}</value></field>")

        c = room.config
        whois = "".join(f'<option label="{v}"><value>{v}</value></option>'
                        for v in ("moderators", "anyone"))
        return (
            '<x xmlns="jabber:x:data" type="form">'
            '<field var="FORM_TYPE" type="hidden">'
            "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
            + field("muc#roomconfig_roomname", "text-single", c.get(
                "muc#roomconfig_roomname", room.name))
            + field("muc#roomconfig_roomdesc", "text-single", c.get("muc#roomconfig_roomdesc", ""))
            + field("muc#roomconfig_persistentroom", "boolean", c.get(
                "muc#roomconfig_persistentroom", "0"))
            + field("muc#roomconfig_publicroom", "boolean", c.get(
                "muc#roomconfig_publicroom", "1"))
            + field("muc#roomconfig_membersonly", "boolean",
                    "1" if room.members_only else "0")
            + field("muc#roomconfig_whois", "list-single", c.get(
                "muc#roomconfig_whois", "moderators"), whois)
            + field("muc#roomconfig_passwordprotectedroom", "boolean",
                    "1" if room.password is not None else "0")
            + field("muc#roomconfig_roomsecret", "text-private", room.password or "")
            + "</x>"
        )

    @staticmethod
    def _apply_config(room: FakeRoom) -> None:
        c = room.config
        if "muc#roomconfig_roomname" in c:
            room.name = c["muc#roomconfig_roomname"]
        if "muc#roomconfig_membersonly" in c:
            room.members_only = c["muc#roomconfig_membersonly"] in ("1", "true")
        if "muc#roomconfig_passwordprotectedroom" in c:
            protected = c["muc#roomconfig_passwordprotectedroom"] in ("1", "true")
            room.password = c.get("muc#roomconfig_roomsecret") or None if protected else None

    def _archive_query(self, iq: Element, room: FakeRoom, query: Element) -> None:
        from roost.xmpp.stamps import format_datetime

        rsm = query.find("set", RSM)
        limit = int((rsm.find_text("max", RSM) if rsm is not None else None) or "100")
        after = None if rsm is None else rsm.find("after", RSM)
        before = None if rsm is None else rsm.find("before", RSM)
        ids = [a for a, *_ in room.archive]
        for anchor in (after, before):
            if anchor is not None and anchor.text and anchor.text not in ids:
                self._error(iq, "item-not-found")
                return
        items = list(room.archive)
        if after is not None and after.text:
            items = items[ids.index(after.text) + 1 :]
        elif before is not None and before.text:
            items = items[: ids.index(before.text)]
        if before is not None and not (after is not None and after.text):
            page, complete = (items[-limit:] if limit else []), len(items) <= limit
        else:
            page, complete = items[:limit], len(items) <= limit
        qid = query.get("queryid")
        for archive_id, stamp, nick, body, origin in page:
            origin_xml = f'<origin-id xmlns="{SID}" id="{origin}"/>' if origin else ""
            self._send(
                f'<message xmlns="jabber:client" from="{room.jid}" to="{self.server.full}">'
                f'<result xmlns="{MAM}" queryid="{qid}" id="{archive_id}">'
                f'<forwarded xmlns="{FORWARD}">'
                f'<delay xmlns="urn:xmpp:delay" stamp="{format_datetime(stamp)}"/>'
                f'<message xmlns="jabber:client" type="groupchat" from="{room.jid}/{_esc(nick)}">'
                f"<body>{_esc(body)}</body>{origin_xml}</message>"
                "</forwarded></result></message>"
            )
        first_last = f"<first>{page[0][0]}</first><last>{page[-1][0]}</last>" if page else ""
        self._send(
            f'<iq xmlns="jabber:client" type="result" id="{iq.get("id")}" from="{room.jid}" '
            f'to="{self.server.full}">'
            f'<fin xmlns="{MAM}" complete="{"true" if complete else "false"}">'
            f'<set xmlns="{RSM}">{first_last}<count>{len(room.archive)}</count></set></fin></iq>'
        )
