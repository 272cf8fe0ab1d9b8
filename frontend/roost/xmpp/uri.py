"""Percent-decoding for `xmpp:` URIs (RFC 5122 §2.8: UTF-8, then %-escapes).

Brython has no `urllib.parse` in Roost's bundle (import cost), and the
decoding must refuse, not guess at, a broken escape or bytes that aren't
UTF-8: links and verification codes come from outside.
"""

from __future__ import annotations

HEX = "0123456789abcdef"


def percent_decode(text: str, plus_is_space: bool = False) -> str:
    """`text` with its %-escapes decoded as UTF-8 (`plus_is_space`: "+" is a
    space, as in a form's query). Raises ValueError on a broken escape or
    bytes that aren't UTF-8."""
    if "%" not in text and not (plus_is_space and "+" in text):
        return text
    raw = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            pair = text[i + 1 : i + 3].lower()
            if len(pair) != 2 or pair[0] not in HEX or pair[1] not in HEX:
                raise ValueError("a broken %-escape")
            raw.append(HEX.index(pair[0]) * 16 + HEX.index(pair[1]))
            i += 3
            continue
        if ch == "+" and plus_is_space:
            raw.append(32)
        else:
            raw.extend(ch.encode("utf-8"))
        i += 1
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
