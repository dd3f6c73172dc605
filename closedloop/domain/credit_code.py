"""Unified social credit codes (统一社会信用代码), validated by python-stdnum."""

from __future__ import annotations

import functools
import re

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError


class InvalidCreditCode(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"invalid unified social credit code {code!r}: {reason}")
        self.code = code
        self.reason = reason


def normalize_credit_code(code: str) -> str:
    """Return the compact, validated 18-character code or raise ``InvalidCreditCode``."""
    try:
        return _validated(code)
    except ValidationError as exc:
        raise InvalidCreditCode(code, str(exc)) from exc


@functools.lru_cache(maxsize=16384)
def _validated(code: str) -> str:
    # Memoised (valid codes only: an exception is not kept): python-stdnum takes ~50 µs a
    # code, and an import checks each record's twice, mostly the same enterprises'.
    return str(uscc.validate(code))


# The shape of a code (GB 32100-2015): registering department and kind, the six-digit
# division code, the nine-character organisation code, the check character. I, O, S, V
# and Z are never used. Text may carry a code in lower case.
CREDIT_CODE_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", re.IGNORECASE)


def is_credit_code(code: str) -> bool:
    """A code of the right shape whose check character is right."""
    return bool(CREDIT_CODE_SHAPE.fullmatch(code)) and uscc.is_valid(code.upper())
