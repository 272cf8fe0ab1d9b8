"""The retry policy: exponential backoff, Retry-After honoured, bounded attempts."""

from __future__ import annotations

import email.utils

from backend.push.webpush import RetryPolicy, endpoint_problem, is_retryable, parse_retry_after

NOW = 1_800_000_000.0


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=4.0)
    assert [policy.delay(n, now=NOW) for n in range(1, 6)] == [1.0, 2.0, 4.0, 4.0, None]


def test_retry_after_seconds_and_date_are_honoured() -> None:
    policy = RetryPolicy(attempts=3, base_delay=1.0)
    assert policy.delay(1, "7", now=NOW) == 7.0
    assert policy.delay(1, "0", now=NOW) == 1.0  # never sooner than the backoff
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert policy.delay(1, date, now=NOW) == 30.0
    assert policy.delay(1, "soon", now=NOW) == 1.0  # unparsable: plain backoff


def test_a_far_retry_after_gives_up_rather_than_deliver_stale_news() -> None:
    policy = RetryPolicy(attempts=5, max_retry_after=600)
    assert policy.delay(1, "3600", now=NOW) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(email.utils.formatdate(NOW - 5, usegmt=True), NOW) == 0.0


def test_which_statuses_are_retried() -> None:
    assert [s for s in (200, 201, 400, 401, 403, 404, 410, 413, 429, 500, 502, 503)
            if is_retryable(s)] == [429, 500, 502, 503]


def test_endpoint_rules() -> None:
    assert endpoint_problem("https://fcm.googleapis.com/fcm/send/abc") is None
    assert endpoint_problem("http://fcm.googleapis.com/x") == "not https://"
    assert endpoint_problem("https://user:pw@push.example/x") is not None
    assert endpoint_problem("https://127.0.0.1:8443/x") == "a private or loopback address"
    assert endpoint_problem("https://[::1]/x") == "a private or loopback address"
    assert endpoint_problem("https://10.1.2.3/x") == "a private or loopback address"
    assert endpoint_problem("https://127.0.0.1:8443/x", allow_private=True) is None
    assert endpoint_problem("https://push.example/" + "a" * 3000) == "too long"
    assert endpoint_problem("https://push.example/a b") == "control characters"
