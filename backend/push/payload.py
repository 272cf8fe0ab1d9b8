"""What the service worker receives: the push payload, with privacy applied.

Built here, before encryption, so the push vendor never sees more than the
user allowed (shared interface)::

    {"v": 1, "account": "alice@example.org",
     "sender": "bob@example.org",   # privacy "text"/"sender", if the server sent one
     "body": "text",                # privacy "text", if the server sent a real body
     "count": 3}                    # message-count, if given
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Privacy = Literal["text", "sender", "none"]
PRIVACY_MODES: Final[tuple[Privacy, ...]] = ("text", "sender", "none")
PAYLOAD_VERSION: Final = 1
# Push services accept ~4 KB of payload; a notification shows a few lines.
MAX_BODY_CHARS: Final = 200
ELLIPSIS: Final = "\u2026"
# Prosody mod_cloud_notify's `push_notification_important_body` default: a
# marker that the message was important, not the message.
PLACEHOLDER_BODIES: Final = frozenset({"New Message!"})


def is_encryption_fallback(body: str) -> bool:
    """The plaintext an OMEMO (or OpenPGP) message carries for clients without
    it ("I sent you an OMEMO encrypted message but…", Conversations', Roost's,
    Dino's and Gajim's wording): a sign of a message, not its text."""
    lowered = body.lower()
    return ("omemo" in lowered or "openpgp" in lowered) and "encrypt" in lowered
SUMMARY_FORM: Final = "urn:xmpp:push:summary"


@dataclass(frozen=True, slots=True)
class Summary:
    """The XEP-0357 `urn:xmpp:push:summary` fields a server sent (all optional)."""

    message_count: int | None = None
    sender: str | None = None
    body: str | None = None
    # mod_cloud_notify fills the body field (real text or its placeholder) only
    # for "important" stanzas (messages with a body, encrypted messages); a
    # push without one was caused by e.g. a chat state during hibernation.
    important: bool = False


def parse_summary(fields: Mapping[str, str]) -> Summary:
    """A `Summary` from the summary form's field values (var → first value).

    Empty fields are absent (Prosody always sends all four, empty when it has
    no value); a `message-count` that is not a non-negative integer is ignored.
    """
    count: int | None = None
    raw = fields.get("message-count", "").strip()
    if raw.isdecimal():
        count = min(int(raw), 1_000_000)
    sender = fields.get("last-message-sender", "").strip() or None
    body = fields.get("last-message-body", "")
    text = body.strip()
    real = text and text not in PLACEHOLDER_BODIES and not is_encryption_fallback(text)
    real_body = body if real else None
    return Summary(count, sender, real_body, bool(body.strip()))


def bare_jid(jid: str) -> str | None:
    """`jid` without its resource, or None if it does not look like a JID."""
    bare = jid.split("/", 1)[0].strip()
    domain = bare.rpartition("@")[2]
    if not domain or any(c.isspace() for c in bare) or len(bare) > 3071:
        return None
    return bare


def truncate(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def build_payload(account: str, privacy: Privacy, summary: Summary,
                  quiet: bool = False) -> dict[str, Any]:
    """The payload for `account` under its `privacy` choice (`quiet`: shown
    without sound or vibration, see `is_quiet`).

    The sender is sent bare (a full JID names the device; for a room message
    the bare JID is the room, the conversation to open).
    """
    payload: dict[str, Any] = {"v": PAYLOAD_VERSION, "account": account}
    if quiet:
        payload["quiet"] = True
    if privacy in ("text", "sender") and summary.sender:
        sender = bare_jid(summary.sender)
        if sender:
            payload["sender"] = sender
    if privacy == "text" and summary.body:
        payload["body"] = truncate(summary.body)
    if summary.message_count is not None:
        payload["count"] = summary.message_count
    return payload


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (the plaintext that gets encrypted)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def mentions(body: str, nick: str) -> bool:
    """`body` names `nick` as a word (any case): "@Alice, look", "alice:"."""
    if not nick:
        return False
    pattern = r"(?<!\w)" + re.escape(nick) + r"(?!\w)"
    return re.search(pattern, body, re.IGNORECASE) is not None


def is_quiet(rooms: Mapping[str, str], summary: Summary) -> bool:
    """A message from one of `rooms` (room bare JID → our nick) that doesn't
    mention our nick there (or whose text the server doesn't send): it is
    notified without sound or vibration. A session left hibernating when
    Roost closes stays in its rooms, and mod_cloud_notify (0.12) pushes only
    the first important stanza of a hibernation: dropping a room message
    would leave a 1:1 message after it unannounced, so it is shown, quietly."""
    room = bare_jid(summary.sender or "")
    if room is None or room.lower() not in rooms:
        return False
    return summary.body is None or not mentions(summary.body, rooms[room.lower()])
