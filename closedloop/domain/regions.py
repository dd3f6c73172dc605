"""Region codes (GB/T 2260, short form) and the prefix rules that make scope.

Codes are prefix-hierarchical: province ``33`` (2 digits), city ``3305`` (4),
county ``330521`` (6), town ``330521102`` (9). A region's subtree is every code
that starts with its code, so scope needs no tree extension, only an index.
"""

from __future__ import annotations

import enum
import re

# ASCII digits only, the whole string: ``\d`` would also take full-width and Arabic-Indic
# digits, and ``$`` would let a trailing newline through.
CODE_PATTERN = re.compile(r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{3})?)?)?", re.ASCII)

# The most children a region may have (a region file with more is refused): the bound of
# ``Region.children`` in the query cost. Zhejiang's largest is 32 (a county's towns).
MAX_CHILDREN = 100
# The most departments of a region: the 16 key ones and up to 48 "+N" (``add_department``
# refuses more): the bound of ``Region.departments``.
MAX_DEPARTMENTS = 64


class RegionLevel(enum.StrEnum):
    PROVINCE = "PROVINCE"
    CITY = "CITY"
    COUNTY = "COUNTY"
    TOWN = "TOWN"


LEVEL_BY_LENGTH = {
    2: RegionLevel.PROVINCE,
    4: RegionLevel.CITY,
    6: RegionLevel.COUNTY,
    9: RegionLevel.TOWN,
}


class Relation(enum.StrEnum):
    """How a target region relates to the principal's region (used by the policy)."""

    SELF = "SELF"
    DESCENDANT = "DESCENDANT"
    ANCESTOR = "ANCESTOR"
    UNRELATED = "UNRELATED"


class InvalidRegionCode(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"malformed region code: {code!r}")
        self.code = code


def is_valid_code(code: str) -> bool:
    return CODE_PATTERN.fullmatch(code) is not None


def level_of(code: str) -> RegionLevel:
    if not is_valid_code(code):
        raise InvalidRegionCode(code)
    return LEVEL_BY_LENGTH[len(code)]


def parent_code(code: str) -> str | None:
    """The direct parent's code by the prefix rule (``None`` for a province)."""
    level_of(code)
    if len(code) == 2:
        return None
    if len(code) == 9:
        return code[:6]
    return code[:-2]


def ancestors(code: str) -> list[str]:
    """From the direct parent up to the province."""
    out: list[str] = []
    current = parent_code(code)
    while current is not None:
        out.append(current)
        current = parent_code(current)
    return out


def in_subtree(code: str, root: str) -> bool:
    return code.startswith(root)


def relation(principal_region: str, target_region: str) -> Relation:
    if target_region == principal_region:
        return Relation.SELF
    if target_region.startswith(principal_region):
        return Relation.DESCENDANT
    if principal_region.startswith(target_region):
        return Relation.ANCESTOR
    return Relation.UNRELATED


def subtree_upper_bound(prefix: str) -> str:
    """Exclusive upper bound of a prefix range under the C collation.

    ``code >= prefix AND code < prefix || '~'`` selects the subtree with a plain
    btree range scan, also with bound parameters (``LIKE $1`` cannot use the index
    in a generic plan). ``~`` sorts after every digit in the C collation.
    """
    return prefix + "~"
