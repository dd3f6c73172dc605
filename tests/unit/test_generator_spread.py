"""The generator over several provinces: each province's share of the enterprises and the
issues follows its size (regions in the tree), and one province is left as it was."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from bench.generator import generate as g
from bench.generator import spread
from closedloop.tenancy.seed import default_region_file, parse_region_csv

NOW = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)


def two_provinces() -> g.World:
    """Zhejiang (1,489 regions) and a made-up province 34 with Huzhou's tree (79 regions)."""
    rows = [(r.code, r.name, r.parent_code) for r in parse_region_csv(default_region_file()).rows]
    copy = [
        ("34" + code[2:], "皖" + name, "34" + parent[2:] if parent else None)
        for code, name, parent in rows
        if code.startswith("3305") or code == "33"
    ]
    return g.world_from_regions(rows + copy, root="")


def test_provinces_get_issues_and_enterprises_in_proportion_to_their_regions() -> None:
    world = two_provinces()
    sizes = world.province_sizes()
    assert sizes["33"] == 1489 and 50 < sizes["34"] < 400
    rng = random.Random("spread")
    ents = g.plan_enterprises(world, 8000, rng, 1, set())
    plan = g.plan_issues(ents, 40_000, rng, NOW, 1)
    issues = Counter(ents[i].region_code[:2] for i in plan.enterprise)
    enterprises = Counter(e.region_code[:2] for e in ents)
    share = sizes["34"] / (sizes["33"] + sizes["34"])
    # Lognormal weights per county and enterprise: shares within a few points of the size's.
    assert abs(issues["34"] / len(plan) - share) < 0.03, (issues, share)
    assert abs(enterprises["34"] / len(ents) - share) < 0.03, (enterprises, share)


def test_without_the_spread_the_small_province_would_get_its_share_of_counties() -> None:
    # What the spread corrects: the counties' lognormal weights alone give each province
    # its share of counties (Huzhou's 5 counties of Zhejiang's 90 or so), not of regions.
    world = two_provinces()
    weights = g.county_weights(world, random.Random("w"), ())
    by = Counter[str]()
    for code, w in weights.items():
        by[code[:2]] += w
    sizes = world.province_sizes()
    assert abs(by["34"] / sum(by.values()) - sizes["34"] / sum(sizes.values())) < 1e-9


def test_one_province_keeps_its_weights() -> None:
    pairs = [("330521", 2.5), ("330522", 0.5), ("330102", 1.25)]
    assert spread.by_province(pairs, {"33": 1489}) == [2.5, 0.5, 1.25]
    scaled = spread.by_province([*pairs, ("340521", 1.0)], {"33": 300, "34": 100})
    assert scaled[0] / scaled[1] == 5.0  # relative weights inside a province unchanged
    assert abs(sum(scaled[:3]) / sum(scaled) - 0.75) < 1e-12
