"""Opening Roost at a conversation: `xmpp:` links and things shared to it.

Links arrive in the location hash, `<page>#xmpp:bob@example.org`:
- from the manifest's protocol handler (`./#%s`: the browser hands over the
  whole URI percent-encoded, `#xmpp%3Abob%40example.org%3Fmessage`),
- from a notification click (service_worker/push.js navigates a window to
  `./#xmpp:<sender>`),
- from any page linking to `…/#xmpp:…`.
The hash, not a query: it never reaches the server, and the service
worker's cached page still matches.

What a link does (RFC 5122 URIs, XEP-0147 actions):
- `xmpp:bob@example.org`, `?message` (`;body=…` goes into the composer, never
  sent by itself), `?roster`, `?subscribe` or only parameters
  (`?omemo-sid-…=…`): open the chat with bob (a room's JID opens the room);
- `xmpp:room@muc.example.org?join` (`;password=…`): join the room and open it
  (ui/rooms.py);
- anything else, or an address that isn't one: a notice saying so.

Things shared to the installed app (the manifest's `share_target`, a GET to
`./?share-title=…&share-text=…&share-url=…`) open the chat picker
(ui/share.py, imported only then); the chosen chat's composer gets the text.

A link or share that arrives before the account is ready is kept (the URL
too, so a reload before login keeps it) and acted on when the main screen
comes up; the URL is cleaned once it is acted on, so a reload doesn't repeat
it. The parsing below is pure Python (tested in CPython); `LinkView` is the
browser part.
"""

from __future__ import annotations

from roost.xmpp.errors import JidError
from roost.xmpp.jid import JID
from roost.xmpp.uri import percent_decode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEME = "xmpp:"
CHAT = "chat"
JOIN = "join"
# XEP-0147 actions that mean "talk to this address": they open the chat
# (nothing is added to the roster or sent without the user).
CHAT_ACTIONS = frozenset({"", "message", "roster", "subscribe"})
SHARE_PARAMS = {"share-title": "title", "share-text": "text", "share-url": "url"}
# Longer shared texts are cut: a composer is not a file transfer.
SHARE_MAX = 10_000
# After login with no contacts yet, a link waits this long for the roster
# (the chat's title and the picker's list come from it), at most.
ROSTER_WAIT_MS = 3000


class LinkError(ValueError):
    """An `xmpp:` link Roost can't follow; str(e) says why, for the user."""


class XmppLink:
    """A parsed `xmpp:` link: what to do (`CHAT` or `JOIN`) with which bare JID."""

    __slots__ = ("action", "body", "jid", "password", "uri")

    def __init__(
        self, action: str, jid: str, body: str = "", password: str | None = None
    ) -> None:
        self.action = action
        self.jid = jid
        self.body = body
        self.password = password
        # The canonical URI (ui/rooms.py joins with it).
        self.uri = SCHEME + jid + ("?join" if action == JOIN else "")

    def __repr__(self) -> str:
        return f"XmppLink({self.action!r}, {self.jid!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XmppLink):
            return NotImplemented
        return (self.action, self.jid, self.body, self.password) == (
            other.action, other.jid, other.body, other.password
        )


class Share:
    """Text shared to Roost (the share target's title, text and url)."""

    __slots__ = ("text", "title", "url")

    def __init__(self, title: str = "", text: str = "", url: str = "") -> None:
        self.title = title
        self.text = text
        self.url = url

    def message(self) -> str:
        """What goes into the composer: the text, then the link unless the
        text holds it already; the title only when there is nothing else."""
        text = self.text.strip()
        url = self.url.strip()
        if url and url not in text:
            text = f"{text} {url}" if text else url
        if not text:
            text = self.title.strip()
        return text[:SHARE_MAX]

    def __repr__(self) -> str:
        return "Share(…)"  # shared text is private: never in logs


def unquote(text: str, plus_is_space: bool = False) -> str:
    """Percent-decode UTF-8 `text`; raises LinkError on a broken escape."""
    try:
        return percent_decode(text, plus_is_space)
    except ValueError as exc:
        raise LinkError(f"the link is garbled ({exc}).") from None


def link_in_hash(hash_: str) -> str | None:
    """The `xmpp:` URI a location hash holds (the `#` optional), else None.

    A protocol handler's `%s` is the whole URI percent-encoded: it is decoded
    once here, and its parts once more by `parse_link`, as RFC 5122 says. A
    hash that is not an xmpp: link at all is None; one that is garbled raises
    LinkError.
    """
    text = (hash_[1:] if hash_.startswith("#") else hash_).strip()
    head = text[:7].lower()
    if head.startswith("xmpp%3a"):
        return unquote(text)
    if head.startswith(SCHEME):
        return text
    return None


def parse_link(uri: str) -> XmppLink:
    """What an `xmpp:` URI asks for; raises LinkError with a reason a person understands."""
    text = uri.strip()
    if text[:5].lower() != SCHEME:
        raise LinkError("it is not an xmpp: link.")
    rest = text[5:]
    hash_at = rest.find("#")  # an xmpp: URI's own fragment means nothing here
    if hash_at >= 0:
        rest = rest[:hash_at]
    query = ""
    question = rest.find("?")
    if question >= 0:
        query = rest[question + 1 :]
        rest = rest[:question]
    if rest.startswith("//"):
        # xmpp://account@host/target: which account to use; Roost has one.
        slash = rest.find("/", 2)
        rest = rest[slash + 1 :] if slash >= 0 else ""
    address = unquote(rest)
    if not address:
        raise LinkError("it names no address.")
    try:
        jid = JID.parse(address)
    except JidError:
        raise LinkError(f"“{address[:100]}” is not a valid address.") from None
    if jid.local is None:
        raise LinkError(f"“{jid.domain}” is a server, not a person or a room.")
    bare = str(jid.bare)

    action = ""
    params: dict[str, str] = {}
    for i, item in enumerate(query.split(";") if query else []):
        if i == 0 and "=" not in item:
            action = unquote(item).lower()
            continue
        eq = item.find("=")
        if eq > 0:
            params[unquote(item[:eq]).lower()] = unquote(item[eq + 1 :])
    if action == JOIN:
        return XmppLink(JOIN, bare, password=params.get("password") or None)
    if action in CHAT_ACTIONS:
        body = params.get("body", "") if action in ("", "message") else ""
        return XmppLink(CHAT, bare, body=body[:SHARE_MAX])
    raise LinkError(f"Roost can't do “{action[:40]}” links yet.")


def share_in_query(search: str) -> Share | None:
    """The shared text a location query holds (`?share-text=…`), else None."""
    text = search[1:] if search.startswith("?") else search
    if not text:
        return None
    found: dict[str, str] = {}
    for item in text.split("&"):
        eq = item.find("=")
        key = item[:eq] if eq >= 0 else item
        if key not in SHARE_PARAMS:
            continue
        name = SHARE_PARAMS[key]
        try:
            found[name] = unquote(item[eq + 1 :] if eq >= 0 else "", plus_is_space=True)
        except LinkError:
            found[name] = ""
    if not found:
        return None
    return Share(found.get("title", ""), found.get("text", ""), found.get("url", ""))


def _param_name(item: str) -> str:
    eq = item.find("=")
    return item[:eq] if eq >= 0 else item


class LinkView:
    """Acts on links and shares once the account is ready (browser only)."""

    def __init__(self, view: Any, app: Any, rooms: Any) -> None:
        from browser import window  # type: ignore[import-not-found]

        from roost.ui.handlers import logged

        self.window = window
        self.view = view
        self.app = app
        self.rooms = rooms
        self._link: XmppLink | None = None
        self._error: str | None = None  # why the last link can't be followed
        self._share: Share | None = None
        self._picker: Any = None  # ui/share.py's SharePicker, made on first share
        self._roster_wait: Any = None  # the timer while a link waits for the roster
        self._read_hash()
        self._share = share_in_query(str(window.location.search))
        window.addEventListener("hashchange", logged("links hash", self._on_hashchange))
        app.on("state", logged("links state", self.on_state))
        app.on("roster", logged("links roster", self.on_roster))

    def _read_hash(self) -> bool:
        """Take a link from the location hash; True when there was one."""
        try:
            uri = link_in_hash(str(self.window.location.hash))
            if uri is None:
                return False
            self._link, self._error = parse_link(uri), None
        except LinkError as exc:
            self._link, self._error = None, f"This link can't be opened: {exc}"
        return True

    def _ready(self) -> bool:
        return str(self.view.screen) == "main"

    def on_state(self, state: str, *_args: object) -> None:
        if state == "online":
            if self.app.contacts or not self._pending():
                self._act()
            elif self._roster_wait is None:
                # Just logged in, the roster not here yet: a chat opened now
                # would be titled with the bare address and the picker list
                # no contacts. Wait for it ("roster"), not for long.
                self._roster_wait = self.window.setTimeout(self._roster_waited, ROSTER_WAIT_MS)
        elif state == "offline" and self._picker is not None:
            self._picker.close()  # logged out: nothing is shared into a closed session

    def on_roster(self, *_args: object) -> None:
        if self._roster_wait is not None:
            self._roster_waited()
        elif self._picker is not None:
            self._picker.refresh()

    def _roster_waited(self) -> None:
        if self._roster_wait is not None:
            self.window.clearTimeout(self._roster_wait)
            self._roster_wait = None
        if str(self.app.state) == "online":
            self._act()

    def _pending(self) -> bool:
        return self._link is not None or self._error is not None or self._share is not None

    def _on_hashchange(self, _ev: Any) -> None:
        if self._read_hash():
            self._act()

    def _act(self) -> None:
        if not self._ready() or self._roster_wait is not None:
            return
        link, error, share = self._link, self._error, self._share
        self._link = self._error = self._share = None
        if link is None and error is None and share is None:
            return
        self._clean_url(link is not None or error is not None, share is not None)
        if error is not None:
            self.view.on_notice(error)
        if link is not None:
            self._open(link)
        if share is not None:
            self._pick(share)

    def _clean_url(self, drop_hash: bool, drop_share: bool) -> None:
        """The URL without what was acted on: a reload doesn't repeat it."""
        from roost.platform.jsdata import to_js

        location = self.window.location
        search = str(location.search)
        if drop_share:
            kept = [
                item for item in search.lstrip("?").split("&")
                if item and _param_name(item) not in SHARE_PARAMS
            ]
            search = "?" + "&".join(kept) if kept else ""
        hash_ = "" if drop_hash else str(location.hash)
        self.window.history.replaceState(
            to_js(None), "", str(location.pathname) + search + hash_
        )

    def _open(self, link: XmppLink) -> None:
        own = str(self.app.own_jid or "")
        if link.action == JOIN:
            self.rooms.join_from_link(link.uri, link.password)
            return
        if link.jid == own.split("/", 1)[0].lower():
            return  # a notification for the account itself: the main screen is it
        self.open_conversation(link.jid, link.body)

    def open_conversation(self, jid: str, text: str = "") -> None:
        """Open the chat (or room) `jid`; `text` goes into its composer, unsent."""
        if self.app.is_room(jid):
            self.rooms.open_room(jid)
        else:
            self.view.open_chat(jid)
        if text:
            field = self.view.text
            field.value = text
            field.focus()
            end = len(text)
            field.setSelectionRange(end, end)

    def _pick(self, share: Share) -> None:
        if not share.message():
            self.view.on_notice("Nothing to share: the app sent no text.")
            return
        if self._picker is None:
            from roost.ui.share import SharePicker  # the picker is rare: loaded when used

            self._picker = SharePicker(self)
        self._picker.show(share)
