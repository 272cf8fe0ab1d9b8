from __future__ import annotations

from roost.xmpp.errors import (
    AuthError,
    JidError,
    NetworkError,
    ProtocolError,
    RoostError,
    StanzaError,
    StreamError,
    XmlError,
    XmppError,
)
from roost.xmpp.stamps import parse_datetime


def test_tree_and_user_messages() -> None:
    errors: list[XmppError] = [
        JidError("x"),
        StreamError("conflict"),
        AuthError("not-authorized"),
        StanzaError("item-not-found", "cancel"),
        ProtocolError("x"),
        XmlError("x"),
        NetworkError(False),
    ]
    for error in errors:
        assert isinstance(error, RoostError)
        assert error.user_message and "-" not in error.user_message.split()[0]
    assert AuthError("not-authorized").user_message == "Wrong address or password."
    assert NetworkError(False).user_message == (
        "Can't reach the server. Check your connection and try again."
    )
    assert NetworkError(True).user_message != NetworkError(False).user_message
    # Roost's proxy reports an unreachable XMPP server this way.
    assert StreamError("remote-connection-failed").user_message == NetworkError(False).user_message
    assert StreamError("weird-thing", "detail").user_message  # a default, never the condition
    assert "weird-thing" not in StreamError("weird-thing").user_message
    assert str(AuthError("not-authorized", "Bad")) == "not-authorized: Bad"


def test_parse_datetime() -> None:
    assert parse_datetime("1970-01-01T00:00:00Z") == 0.0
    assert parse_datetime("2002-09-10T23:08:25Z") == 1031699305.0
    assert parse_datetime("2002-09-10T23:08:25.500Z") == 1031699305.5
    assert parse_datetime("2002-09-11T01:08:25+02:00") == 1031699305.0
    assert parse_datetime("2002-09-10T17:08:25-06:00") == 1031699305.0
    assert parse_datetime("2024-02-29T12:00:00Z") == 1709208000.0
    for bad in (
        "",
        "2002-09-10",
        "2002-09-10T23:08:25",
        "2002-13-10T23:08:25Z",
        "yesterday",
        "2002-09-10T23:08:25.Z",
        "2002-09-10T23:08:25+0200",
    ):
        assert parse_datetime(bad) is None


def test_format_datetime_round_trips() -> None:
    from roost.xmpp.stamps import format_datetime

    assert format_datetime(0) == "1970-01-01T00:00:00Z"
    assert format_datetime(1031699305.999) == "2002-09-10T23:08:25Z"  # rounded down
    for seconds in (0, 951782400, 1709208000, 1031699305, -86400, 4102444799, 253402300799):
        assert parse_datetime(format_datetime(seconds)) == seconds
