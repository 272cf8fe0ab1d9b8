"""The log filter drops what the push gateway's libraries would dump at debug:
slixmpp's stanzas (node secrets, message bodies) and httpx's request URLs
(push endpoints are bearer capabilities)."""

from __future__ import annotations

import logging

from backend.logfilter import WireDumpFilter


def record(name: str, msg: str, *args: object, level: int = logging.DEBUG) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_slixmpp_stanza_dumps_are_dropped() -> None:
    f = WireDumpFilter()
    secret = "<field var='secret'><value>s3cret</value></field>"
    assert not f.filter(record("slixmpp.xmlstream.xmlstream", "SEND: %s", secret))
    assert not f.filter(record("slixmpp.xmlstream.xmlstream", "RECV: %s", secret))
    assert not f.filter(record("slixmpp.xmlstream.xmlstream", "Parse error: %r", secret,
                               level=logging.ERROR))
    assert f.filter(record("slixmpp.xmlstream.xmlstream", "Connecting to %s:%s", "h", 1))


def test_httpx_request_lines_and_httpcore_traces_are_dropped() -> None:
    f = WireDumpFilter()
    url = "https://fcm.googleapis.com/fcm/send/TOKEN"
    assert not f.filter(record("httpx", 'HTTP Request: %s %s "%s %d %s"', "POST", url,
                               "HTTP/1.1", 201, "Created", level=logging.INFO))
    assert not f.filter(record("httpcore.http11", "receive_response_headers.complete"))
    assert f.filter(record("roost.push", "push to %s refused: %s", "fcm.googleapis.com", 400))
