"""Payload building: privacy applied before encryption, placeholders, truncation."""

from __future__ import annotations

import json

import pytest

from backend.push.payload import (
    MAX_BODY_CHARS,
    Summary,
    build_payload,
    encode_payload,
    is_quiet,
    mentions,
    parse_summary,
)

PROSODY_DEFAULT = {  # what mod_cloud_notify sends with its default settings
    "FORM_TYPE": "urn:xmpp:push:summary", "message-count": "1",
    "pending-subscription-count": "", "last-message-sender": "",
    "last-message-body": "New Message!",
}
PROSODY_VERBOSE = {**PROSODY_DEFAULT, "last-message-sender": "bob@localhost/pc",
                   "last-message-body": "Dinner at 8?"}


@pytest.mark.parametrize(("privacy", "expected"), [
    ("text", {"v": 1, "account": "alice@localhost", "sender": "bob@localhost",
              "body": "Dinner at 8?", "count": 1}),
    ("sender", {"v": 1, "account": "alice@localhost", "sender": "bob@localhost", "count": 1}),
    ("none", {"v": 1, "account": "alice@localhost", "count": 1}),
])
def test_privacy_modes(privacy: str, expected: dict[str, object]) -> None:
    summary = parse_summary(PROSODY_VERBOSE)
    assert build_payload("alice@localhost", privacy, summary) == expected  # type: ignore[arg-type]


def test_placeholder_body_and_empty_fields_are_not_content() -> None:
    summary = parse_summary(PROSODY_DEFAULT)
    assert summary == Summary(1, None, None, important=True)
    assert build_payload("alice@localhost", "text", summary) == {
        "v": 1, "account": "alice@localhost", "count": 1}
    assert parse_summary({"last-message-body": "   "}) == Summary()  # not important either


def test_bad_count_is_ignored() -> None:
    assert parse_summary({"message-count": "-3"}).message_count is None
    assert parse_summary({"message-count": "lots"}).message_count is None
    assert parse_summary({}) == Summary()


def test_long_body_is_truncated_with_an_ellipsis() -> None:
    payload = build_payload("a@x", "text", Summary(None, "b@x", "ä" * 5000))
    assert len(payload["body"]) == MAX_BODY_CHARS
    assert payload["body"].endswith("\u2026")
    assert len(encode_payload(payload)) < 3000


def test_room_sender_is_the_room() -> None:
    summary = Summary(2, "room@conference.localhost/Bob", "hi all")
    assert build_payload("a@localhost", "sender", summary)["sender"] == "room@conference.localhost"


def test_encoding_is_compact_utf8_json() -> None:
    data = encode_payload({"v": 1, "account": "a@x", "body": "héllo <b>"})
    assert data == '{"v":1,"account":"a@x","body":"héllo <b>"}'.encode()
    assert json.loads(data)["body"] == "héllo <b>"


def test_encryption_fallbacks_are_not_message_text() -> None:
    """OMEMO messages' plaintext for other clients says only that one came."""
    for body in (
        "I sent you an OMEMO encrypted message but your client doesn\u2019t seem to support "
        "that. Find more information on https://conversations.im/omemo",
        "[This message is *encrypted* with OMEMO, but could not be decrypted]",
    ):
        summary = parse_summary({"last-message-body": body})
        assert summary.important and summary.body is None
    assert parse_summary({"last-message-body": "see you at 8"}).body == "see you at 8"


ROOMS = {"chess@muc.example.org": "Alice"}


def room_says(body: str | None, room: str = "chess@muc.example.org") -> Summary:
    return Summary(1, f"{room}/bob", body, important=True)


def test_room_messages_that_dont_mention_our_nick_are_quiet() -> None:
    assert not is_quiet(ROOMS, room_says("alice: your move"))
    assert not is_quiet(ROOMS, room_says("well played, @ALICE!"))
    assert is_quiet(ROOMS, room_says("anyone for a game?"))
    assert is_quiet(ROOMS, room_says("alicebot is down"))  # a word, not a part
    # The text withheld (the server's placeholder, an OMEMO fallback): can't tell.
    assert is_quiet(ROOMS, room_says(None))
    # Another room, or a 1:1 chat: as loud as ever.
    assert not is_quiet(ROOMS, room_says("hi", room="other@muc.example.org"))
    assert not is_quiet(ROOMS, Summary(1, "bob@example.org/phone", None, important=True))
    payload = build_payload("alice@example.org", "text", room_says("hi"), quiet=True)
    assert payload["quiet"] is True and payload["sender"] == "chess@muc.example.org"
    assert "quiet" not in build_payload("alice@example.org", "text", room_says("alice!"))


def test_mentions_match_whole_words_in_any_case() -> None:
    assert mentions("ping Al", "al") and mentions("Al, look", "Al")
    assert not mentions("also", "Al") and not mentions("anything", "")
    assert mentions("c++ fans: [dev]?", "[dev]")  # a nick is text, not a pattern
