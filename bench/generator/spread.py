"""How the generator spreads a tree of several provinces: each province's share of the
enterprises and of the issues is proportional to its size.

Size is the number of regions the province has in the loaded tree (towns, counties and
cities with the province itself): the national region file (``regions_cn.csv``, 44,703
regions) has no population or enterprise column, and the region count is what the
mechanism's workload scales with (a center, boards and departments per region). 四川
(3,316 regions) gets 13× the issues of 上海 (252). Within a province the skew stays as it
was (lognormal per county and town, the ``busy`` county the busiest of its province).

A tree of one province (Zhejiang, or a city such as ``--root 3305``) is left exactly as
before: the weights are only rescaled when there are at least two provinces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence


def province_of(code: str) -> str:
    return code[:2]


def province_sizes(codes: Iterable[str]) -> dict[str, int]:
    """Regions per province among ``codes`` (the world's regions under its root)."""
    return dict(Counter(province_of(c) for c in codes))


def by_province(weighted: Sequence[tuple[str, float]], sizes: Mapping[str, int]) -> list[float]:
    """The weights of ``(region code, weight)`` pairs rescaled so that each province's
    weights add up to a share proportional to its size; the relative weights inside a
    province are unchanged. One province (or none): the weights as they are."""
    weights = [w for _, w in weighted]
    if len(sizes) < 2:
        return weights
    sums: dict[str, float] = {}
    for code, w in weighted:
        sums[province_of(code)] = sums.get(province_of(code), 0.0) + w
    total_size = sum(sizes[p] for p in sums)
    total = sum(sums.values())
    factor = {p: (sizes[p] / total_size) * total / s if s > 0 else 0.0 for p, s in sums.items()}
    return [w * factor[province_of(code)] for (code, _), w in zip(weighted, weights, strict=True)]
