"""Verified tokens are remembered up to a bound, the least recently used dropped first (not
the whole cache at once), and an account's tokens are forgotten when it changes."""

from __future__ import annotations

import pytest

from closedloop.identity import tokens
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.settings import Settings


async def test_bounded_least_recently_used_out_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "MAX_VERIFIED", 2)
    settings = Settings(jwt_secret="k" * 40)
    verifier = TokenVerifier(settings)
    a, b, c = (mint_token(settings, name) for name in ("a", "b", "c"))
    for token in (a, b, a, c):  # a is used again: b is the least recently used
        await verifier.verify(token)
    assert (a in verifier._verified, b in verifier._verified, c in verifier._verified) == (
        True,
        False,
        True,
    )
    assert (await verifier.verify(b))["sub"] == "b"  # checked again, and kept
    assert verifier.forget("b") == 1 and b not in verifier._verified
