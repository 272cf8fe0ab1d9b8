"""XEP-0082 date-times to and from epoch seconds, without `datetime` or `re` (Brython cost)."""

from __future__ import annotations


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic
    # Gregorian calendar.
    if month <= 2:
        year -= 1
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    # The inverse of _days_from_civil (same source).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def format_datetime(seconds: float) -> str:
    """Epoch seconds as `CCYY-MM-DDThh:mm:ssZ` (XEP-0082), rounded down to the second.

    Rounding down keeps a "since" query (XEP-0313 `start`) from skipping the
    message at that instant; duplicates are the deduplication's job.
    """
    whole = int(seconds // 1)
    days, rest = divmod(whole, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def _number(text: str, start: int, length: int) -> int:
    part = text[start : start + length]
    if len(part) != length or not (part.isdigit() and part.isascii()):
        raise ValueError("bad number")
    return int(part)


def parse_datetime(text: str) -> float | None:
    """Parse `CCYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm)` to seconds since the epoch.

    Returns None for anything else (a bad stamp is ignored, not fatal).
    """
    try:
        year = _number(text, 0, 4)
        month = _number(text, 5, 2)
        day = _number(text, 8, 2)
        hour = _number(text, 11, 2)
        minute = _number(text, 14, 2)
        second = _number(text, 17, 2)
    except ValueError:
        return None
    if text[4:5] != "-" or text[7:8] != "-" or text[10:11] != "T":
        return None
    if text[13:14] != ":" or text[16:17] != ":":
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    rest = text[19:]
    fraction = 0.0
    if rest.startswith("."):
        digits = 1
        while digits < len(rest) and rest[digits].isdigit():
            digits += 1
        if digits == 1:
            return None
        fraction = float("0" + rest[:digits])
        rest = rest[digits:]
    if rest == "Z":
        offset = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        try:
            offset = (_number(rest, 1, 2) * 60 + _number(rest, 4, 2)) * 60
        except ValueError:
            return None
        if rest[0] == "-":
            offset = -offset
    else:
        return None
    days = _days_from_civil(year, month, day)
    return days * 86400 + hour * 3600 + minute * 60 + second - offset + fraction
