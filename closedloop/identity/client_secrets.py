"""Client secrets of service accounts: generated at random, stored only as a salted scrypt
hash (``scrypt$N$r$p$salt$hash``, base64url), checked in constant time.

A secret is shown once, when it is made; the database never holds it. scrypt (RFC 7914,
in the standard library) makes a stolen table expensive to attack even for secrets chosen
by hand; ours are 256 random bits anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

SECRET_BYTES = 32
# 16 MiB of memory and about 50 ms per check: paid once per token, not per request.
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MAX_SECRET_LENGTH = 256


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=HASH_BYTES
    )


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_scrypt(secret, salt, N, R, P))}"


@cache
def decoy_hash() -> str:
    """Checked when the client id is unknown, so that an unknown id costs as much as a
    wrong secret (the answer's timing does not tell which client ids exist)."""
    return hash_secret(new_secret())


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (a malformed hash matches nothing)."""
    if len(secret) > MAX_SECRET_LENGTH:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
        return hmac.compare_digest(computed, _unb64(digest))
    except ValueError:
        return False
