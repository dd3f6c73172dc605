"""Unified social credit codes (统一社会信用代码), validated by python-stdnum."""

from __future__ import annotations

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
        return str(uscc.validate(code))
    except ValidationError as exc:
        raise InvalidCreditCode(code, str(exc)) from exc
