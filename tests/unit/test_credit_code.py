from __future__ import annotations

import pytest

from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code


def test_demo_codes_are_valid() -> None:
    for ent in DEMO_ENTERPRISES:
        code = credit_code(ent.base17)
        assert normalize_credit_code(code) == code


@pytest.mark.parametrize("bad", ["", "91330521MA2B3K4X5Y", "123", "91330521MA2B3K4X5U0"])
def test_invalid_codes_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidCreditCode):
        normalize_credit_code(bad)


def test_normalizes_spacing_and_case() -> None:
    code = credit_code(DEMO_ENTERPRISES[0].base17)
    assert normalize_credit_code(" " + code.lower() + " ") == code
