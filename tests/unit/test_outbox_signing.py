"""Webhook signing and backoff: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from closedloop.services.outbox_relay import backoff_delay, sign, verify_signature

SECRET = "whsec-test"
TS = "1767225600"
BODY = b'{"id":1}'
# Computed independently: printf '1767225600.{"id":1}' | openssl dgst -sha256 -hmac whsec-test
EXPECTED = "sha256=2731d5a136f2e876efbf00f49244abd0a0f8f4d70e88977ea558dc0fcad75480"


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    assert sign(SECRET, TS, BODY) == EXPECTED


def test_verify_accepts_our_signature() -> None:
    assert verify_signature(SECRET, TS, BODY, EXPECTED)
    assert verify_signature(SECRET, TS, BODY, EXPECTED, now=float(TS) + 60)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature"),
    [
        ("another-secret", TS, BODY, EXPECTED),
        (SECRET, "1767225601", BODY, EXPECTED),  # timestamp is signed: no re-dating
        (SECRET, TS, b'{"id":2}', EXPECTED),
        (SECRET, TS, BODY, EXPECTED.removeprefix("sha256=")),
        (SECRET, TS, BODY, ""),
        (SECRET, TS, BODY, "sha256=" + "0" * 64),
    ],
)
def test_verify_rejects_anything_else(
    secret: str, timestamp: str, body: bytes, signature: str
) -> None:
    assert not verify_signature(secret, timestamp, body, signature)


def test_verify_rejects_stale_or_malformed_timestamps_when_given_now() -> None:
    assert not verify_signature(SECRET, TS, BODY, EXPECTED, now=float(TS) + 301)
    assert not verify_signature(SECRET, TS, BODY, EXPECTED, now=float(TS) - 301)
    assert verify_signature(SECRET, TS, BODY, EXPECTED, now=float(TS) + 301, tolerance=600)
    bad = "not-a-number"
    assert not verify_signature(SECRET, bad, BODY, sign(SECRET, bad, BODY), now=float(TS))


def test_backoff_doubles_from_30_seconds_and_caps_at_an_hour() -> None:
    seconds = [backoff_delay(n).total_seconds() for n in range(1, 10)]
    assert seconds == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_delay(1000) == dt.timedelta(hours=1)


def test_backoff_jitter_is_small_and_deterministic() -> None:
    for key in range(50):
        delay = backoff_delay(3, key)
        assert delay == backoff_delay(3, key)
        assert dt.timedelta(seconds=120) <= delay < dt.timedelta(seconds=120 * 1.1)
    assert len({backoff_delay(3, key) for key in range(10)}) == 10
