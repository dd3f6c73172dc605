"""A reproducible generator of realistic benchmark data over the loaded region tree.

Three layers, the first two pure (no I/O, testable without a database):

1. ``World``: the region tree with its centers, boards, departments, time-limit rules and
   the accounts that exist (read from the database by ``load_world``, or built from a
   region file by ``world_from_regions``).
2. Planning: ``plan_enterprises`` (credit codes, names, towns with a county skew) and
   ``plan_issues`` (who raises each issue and when; ids in creation order; numbers per
   origin region and year). ``build_batch`` then simulates each issue's life
   (``lifecycle``) and returns COPY-ready rows. Randomness is drawn from ``random.Random``
   streams keyed by the seed and by a chunk of ``CHUNK`` issues, so a given seed, ``now``
   and starting database give the same rows whatever the batch size.
3. Loading: ``generate`` COPYs enterprises, issues, events and custody rows in batches over
   one connection in one transaction while the next batches are built (forked worker
   processes, or a thread); a builder hands over a batch as binary COPY data
   (``copy_binary``), not as rows to pickle. It then moves the id sequences
   and the ``issue_number`` counters, and vacuums and analyzes the tables. Columns the database does
   not have (an older schema) are left out; a required column the generator does not
   know stops it before anything is written.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import datetime as dt
import gc
import itertools
import multiprocessing
import os
import random
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from stdnum.cn import uscc

from bench.generator import copy_binary, spread, vocab
from bench.generator.lifecycle import (
    CUSTODY_COLUMNS,
    EVENT_COLUMNS,
    ISSUE_COLUMNS,
    RATING_COLUMNS,
    Actor,
    IssueDraft,
    IssueSim,
    Story,
    Unit,
    center_actor,
    choose_plot,
    enterprise_actor,
    lognormal_hours,
    simulate,
    unit_actor,
)
from bench.generator.streams import CopyStreams
from closedloop.authz.roles import Principal, Role
from closedloop.catalog import DEDICATED_ROUTES, get_catalog
from closedloop.db import tables as t
from closedloop.db.database import async_url
from closedloop.domain.issues import OPEN_STATES, Category, Channel
from closedloop.domain.regions import RegionLevel, level_of, parent_code
from closedloop.domain.sla import CHINA, LimitRule, Limits, is_workday, limits_for
from closedloop.services.evaluation import rollup
from closedloop.services.issues.unit_of_work import UnitKind

T = TypeVar("T")

CHUNK = 1000  # issues per random stream
DEFAULT_BATCH = 20_000  # issues per COPY (a multiple of CHUNK)
HISTORY_DAYS = 730
DEFAULT_BUSY = ("330521",)  # 德清: the county the benchmarks query as deqing.center

# --- the world -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegionInfo:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


@dataclass
class World:
    """What the generator needs to know about the database it fills."""

    root: str
    regions: dict[str, RegionInfo]
    centers: dict[str, Actor]  # region code -> the center (its staff account when one exists)
    boards: dict[str, dict[str, Unit]]  # region code -> board key -> unit
    departments: dict[str, dict[str, Unit]]
    rules: tuple[LimitRule, ...] = ()
    rating_window_days: int = 7
    _limits: dict[tuple[str, str | None], Limits] = field(default_factory=dict)
    _units: set[tuple[str, int, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for kind, units in (("board", self.boards), ("department", self.departments)):
            self._units.update(
                (kind, unit.id, region) for region, of in units.items() for unit in of.values()
            )

    def in_root(self, code: str) -> bool:
        return code.startswith(self.root)

    def codes_at(self, level: RegionLevel) -> list[str]:
        return sorted(c for c, r in self.regions.items() if r.level is level and self.in_root(c))

    def limits(self, region_code: str, category: str | None) -> Limits:
        """``sla.limits_for`` over the world's rules, remembered per region and category."""
        key = (region_code, category)
        found = self._limits.get(key)
        if found is None:
            found = self._limits[key] = limits_for(self.rules, region_code, category)
        return found

    def unit_in(self, kind: UnitKind, unit_id: int, region_code: str) -> bool:
        return (kind, unit_id, region_code) in self._units

    def region_exists(self, code: str) -> bool:
        return code in self.regions

    def province_sizes(self) -> dict[str, int]:
        """Regions per province under the root (``spread``: the measure of size)."""
        return spread.province_sizes(c for c in self.regions if self.in_root(c))


def center_name(region_name: str) -> str:
    return region_name + "企业综合服务中心"  # as ``tenancy.seed.ensure_service_centers``


def world_from_regions(
    rows: Iterable[tuple[str, str, str | None]], root: str = "33", rating_window_days: int = 7
) -> World:
    """A world without a database: ``(code, name, parent_code)`` rows, every region with
    the catalog's boards and departments under made-up ids (for tests and dry runs)."""
    catalog = get_catalog()
    regions: dict[str, RegionInfo] = {}
    centers: dict[str, Actor] = {}
    boards: dict[str, dict[str, Unit]] = {}
    departments: dict[str, dict[str, Unit]] = {}
    ids = itertools.count(1)
    for code, name, parent in rows:
        regions[code] = RegionInfo(code, name, level_of(code), parent)
        centers[code] = center_actor(code, center_name(name))
        boards[code] = {}
        for b in catalog.boards:
            unit_id = next(ids)
            actor = unit_actor("board", unit_id, code, f"{name}{b.zh}板块")
            boards[code][b.key] = Unit("board", unit_id, b.key, actor)
        departments[code] = {}
        for dep in catalog.departments:
            unit_id = next(ids)
            actor = unit_actor("department", unit_id, code, f"{name}{dep.zh}部门")
            departments[code][dep.key] = Unit("department", unit_id, dep.key, actor)
    return World(root, regions, centers, boards, departments, (), rating_window_days)


async def load_world(conn: AsyncConnection, root: str, rating_window_days: int = 7) -> World:
    """The region tree under ``root`` (and its ancestors), units, rules and staff accounts."""
    ancestors = [root[:n] for n in (2, 4, 6) if n < len(root)]
    r = t.region.c
    rows = await conn.execute(
        sa.select(r.code, r.name, r.level, r.parent_code).where(
            sa.or_(r.code.startswith(root), r.code.in_(ancestors))
        )
    )
    regions = {
        row.code: RegionInfo(row.code, row.name, RegionLevel(row.level), row.parent_code)
        for row in rows
    }
    a = t.account.c
    staff = (
        await conn.execute(
            sa.select(a.id, a.display_name, a.role, a.region_code, a.board_id, a.department_id)
            .where(a.active, a.enterprise_id.is_(None))
            .order_by(a.id)
        )
    ).all()
    center_account: dict[str, Actor] = {}
    unit_account: dict[tuple[str, int], Actor] = {}
    for s in staff:
        actor = Principal(
            s.id, None, s.display_name, Role(s.role), s.region_code, s.board_id, s.department_id
        )
        if s.role == "CENTER_STAFF" and s.region_code:
            center_account.setdefault(s.region_code, actor)
        if s.board_id is not None:
            unit_account.setdefault(("board", s.board_id), actor)
        if s.department_id is not None:
            unit_account.setdefault(("department", s.department_id), actor)
    centers = {
        code: center_account.get(code) or center_actor(code, center_name(info.name))
        for code, info in regions.items()
    }
    boards: dict[str, dict[str, Unit]] = {code: {} for code in regions}
    departments: dict[str, dict[str, Unit]] = {code: {} for code in regions}
    for table, kind, into, suffix in (
        (t.board, "board", boards, "板块"),
        (t.department, "department", departments, "部门"),
    ):
        c = table.c
        units = await conn.execute(
            sa.select(c.id, c.region_code, c.key, c.name_zh)
            .where(sa.or_(c.region_code.startswith(root), c.region_code.in_(ancestors)))
            .order_by(c.id)
        )
        for u in units:
            place = regions[u.region_code].name
            actor = unit_account.get((kind, u.id)) or unit_actor(
                kind, u.id, u.region_code, f"{place}{u.name_zh}{suffix}"
            )
            into[u.region_code][u.key] = Unit(kind, u.id, u.key, actor)
    lr = t.time_limit_rule.c
    rules = tuple(
        LimitRule(x.region_code, x.category, x.assign_days, x.reply_days, x.working_days)
        for x in await conn.execute(
            sa.select(lr.region_code, lr.category, lr.assign_days, lr.reply_days, lr.working_days)
        )
    )
    return World(root, regions, centers, boards, departments, rules, rating_window_days)


# --- enterprises ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnterprisePlan:
    id: int
    credit_code: str
    name: str
    region_code: str
    contact_phone: str | None
    weight: float  # how many issues it raises, relatively
    account: Actor | None = None  # an existing enterprise account (demo enterprises)
    quota: int = 0  # issues reserved for it (existing accounts only)

    def row(self) -> tuple[Any, ...]:
        return (self.id, self.credit_code, self.name, self.region_code, self.contact_phone)


ENTERPRISE_COLUMNS = ("id", "credit_code", "name", "region_code", "contact_phone")
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 (no I, O, S, V, Z)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code_check(body8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(
        (int(ch) if ch.isdigit() else ord(ch) - 55) * w
        for ch, w in zip(body8, _ORG_WEIGHTS, strict=True)
    )
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def make_credit_code(rng: random.Random, county: str, kind: str = "91") -> str:
    """A valid unified social credit code: registry + type, the county, a GB 11714
    organisation code (new ``MA…`` style or old numeric), and the GB 32100 check."""
    if rng.random() < 0.65:
        body = "MA" + "".join(rng.choice(_ALPHABET) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    base17 = kind + county + body + org_code_check(body)
    return base17 + str(uscc.calc_check_digit(base17))


def _weighted_index(rng: random.Random, cum: Sequence[float]) -> int:
    return bisect.bisect_right(cum, rng.random() * cum[-1])


def pick(rng: random.Random, pairs: Sequence[tuple[T, float]]) -> T:
    """One of ``(value, weight)`` pairs, by weight."""
    r = rng.random() * sum(w for _, w in pairs)
    for value, weight in pairs:
        if r < weight:
            return value
        r -= weight
    return pairs[-1][0]


def _county_of(code: str) -> str:
    return code[:6]


def county_weights(world: World, rng: random.Random, busy: Sequence[str]) -> dict[str, float]:
    """A skewed economy: lognormal weights, the ``busy`` counties at the top."""
    counties = world.codes_at(RegionLevel.COUNTY)
    weights = {c: rng.lognormvariate(0.0, 0.8) for c in counties}
    if weights:
        top = max(weights.values())
        for code in busy:
            if code in weights:
                weights[code] = top * 1.8
    # Several provinces: each province's counties weigh in proportion to its size.
    pairs = list(weights.items())
    return dict(zip(weights, spread.by_province(pairs, world.province_sizes()), strict=True))


def plan_enterprises(
    world: World,
    count: int,
    rng: random.Random,
    first_id: int,
    taken_codes: set[str],
    busy: Sequence[str] = DEFAULT_BUSY,
) -> list[EnterprisePlan]:
    """``count`` enterprises spread over the towns (counties when the tree has no towns)."""
    places = world.codes_at(RegionLevel.TOWN) or world.codes_at(RegionLevel.COUNTY)
    if not places:
        raise ValueError(f"no towns or counties under region {world.root!r}")
    cw = county_weights(world, rng, busy)
    town_w: dict[str, float] = {}
    for code in places:
        w = rng.lognormvariate(0.0, 0.6)
        if len(code) == 9 and code[6] == "0":  # 街道: the county seat's urban districts
            w *= 1.8
        town_w[code] = w
    county_sum: dict[str, float] = {}
    for code, w in town_w.items():
        county_sum[_county_of(code)] = county_sum.get(_county_of(code), 0.0) + w
    cum: list[float] = []
    total = 0.0
    for code in places:
        county = _county_of(code)
        total += cw.get(county, 1.0) * town_w[code] / county_sum[county]
        cum.append(total)
    drawn: list[tuple[str, str, str, str | None, float]] = []
    for _ in range(count):
        region = places[_weighted_index(rng, cum)]
        county = _county_of(region)
        coop = rng.random() < 0.03
        code = make_credit_code(rng, county.ljust(6, "0"), "93" if coop else "91")
        while code in taken_codes:
            code = make_credit_code(rng, county.ljust(6, "0"), "93" if coop else "91")
        taken_codes.add(code)
        name = _enterprise_name(world, rng, region, coop)
        phone = _phone(rng, region)
        weight = rng.lognormvariate(0.0, 0.9) * cw.get(county, 1.0) ** 0.4
        drawn.append((code, name, region, phone, weight))
    # Several provinces: each province's enterprises raise issues in proportion to its size.
    weights = spread.by_province([(d[2], d[4]) for d in drawn], world.province_sizes())
    return [
        EnterprisePlan(
            id=first_id + i,
            credit_code=code,
            name=name,
            region_code=region,
            contact_phone=phone,
            weight=weight,
        )
        for i, ((code, name, region, phone, _), weight) in enumerate(
            zip(drawn, weights, strict=True)
        )
    ]


def _enterprise_name(world: World, rng: random.Random, region: str, coop: bool) -> str:
    town = world.regions[region]
    county = world.regions.get(_county_of(region), town)
    if coop:
        goods = rng.choice(vocab.COOP_GOODS)
        return f"{county.name}{vocab.short_place(town.name)}{goods}专业合作社"
    place = vocab.short_place(county.name if rng.random() < 0.75 else town.name)
    brand = rng.choice(vocab.NAME_FIRST) + rng.choice(vocab.NAME_SECOND)
    industry = rng.choice(vocab.INDUSTRIES)
    return f"{place}{brand}{industry}{pick(rng, vocab.COMPANY_SUFFIXES)}"


def _phone(rng: random.Random, region: str) -> str | None:
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.55:
        return f"1{rng.choice('35789')}{rng.randrange(10**9):09d}"
    area = vocab.AREA_CODES.get(region[:4], "0571")
    return f"{area}-{rng.randrange(2 * 10**7, 9 * 10**7):08d}"


# --- issues: the plan ----------------------------------------------------------------


@dataclass
class IssuePlan:
    """Who raises each issue and when, in creation order (issue ``first_id + i``)."""

    first_id: int
    enterprise: list[int]  # index into the enterprise list
    created: list[dt.datetime]
    numbers: list[str]
    counters: dict[tuple[str, int], int]  # (origin region, year) -> last number used

    def __len__(self) -> int:
        return len(self.created)


def _day_weights(now: dt.datetime, days: int) -> tuple[list[dt.date], list[float]]:
    """Working days busier than holidays, and a growing platform (more issues lately)."""
    today = now.astimezone(CHINA).date()
    dates = [today - dt.timedelta(days=days - 1 - i) for i in range(days)]
    cum: list[float] = []
    total = 0.0
    for i, day in enumerate(dates):
        total += (0.4 + 1.2 * i / days) * (1.0 if is_workday(day) else 0.3)
        cum.append(total)
    return dates, cum


def plan_issues(
    enterprises: Sequence[EnterprisePlan],
    count: int,
    rng: random.Random,
    now: dt.datetime,
    first_id: int,
    counters: dict[tuple[str, int], int] | None = None,
    days: int = HISTORY_DAYS,
) -> IssuePlan:
    counters = dict(counters or {})
    reserved = [i for i, e in enumerate(enterprises) if e.quota > 0]
    picks: list[int] = [i for i in reserved for _ in range(enterprises[i].quota)][:count]
    cum = list(itertools.accumulate(e.weight if e.quota == 0 else 0.0 for e in enterprises))
    if count > len(picks):
        if cum[-1] <= 0:
            raise ValueError("no enterprise to raise issues")
        picks += rng.choices(range(len(enterprises)), cum_weights=cum, k=count - len(picks))
    dates, day_cum = _day_weights(now, days)
    latest = now - dt.timedelta(minutes=1)
    stamps: list[tuple[dt.datetime, int]] = []
    for ent in picks:
        for _ in range(20):
            day = dates[_weighted_index(rng, day_cum)]
            if rng.random() < 0.85:
                seconds = rng.uniform(8.5 * 3600, 17.5 * 3600)
            else:
                seconds = rng.uniform(0, 86400)
            local = dt.datetime.combine(day, dt.time(), CHINA) + dt.timedelta(seconds=seconds)
            at = local.astimezone(dt.UTC).replace(microsecond=local.microsecond // 1000 * 1000)
            if at <= latest:
                break
        else:
            at = latest - dt.timedelta(hours=rng.uniform(1, 48))
        stamps.append((at, ent))
    stamps.sort()
    numbers: list[str] = []
    for at, ent in stamps:
        key = (enterprises[ent].region_code, at.year)
        counters[key] = counters.get(key, 0) + 1
        numbers.append(f"{key[0]}-{key[1]}-{counters[key]:06d}")
    return IssuePlan(
        first_id=first_id,
        enterprise=[e for _, e in stamps],
        created=[a for a, _ in stamps],
        numbers=numbers,
        counters=counters,
    )


# --- issues: their lives -------------------------------------------------------------

# Intake channels (catalog keys) with their share of issues (proactive ones ~20%).
CHANNEL_WEIGHTS: tuple[tuple[Channel, float], ...] = (
    (Channel.ONLINE_PORTAL, 22),
    (Channel.CENTER_WINDOW, 10),
    (Channel.HOTLINE_12345, 17),
    (Channel.BUSINESS_COMPLAINT_LINE, 3),
    (Channel.DIALOGUE_MEETING, 4),
    (Channel.QIXIAOBANG, 8),
    (Channel.GOOD_BAD_REVIEW, 3),
    (Channel.PEOPLES_CONGRESS, 1.5),
    (Channel.CPPCC, 1.5),
    (Channel.TALENT_LOUNGE, 2),
    (Channel.POLICE_11087, 1),
    (Channel.GRASSROOTS_PLATFORM, 6),
    (Channel.SUPERIOR_ASSIGNED, 4),
    (Channel.INSPECTION, 4),
    (Channel.DEPARTMENT_REPORT, 3),
    (Channel.SERVICE_STAFF, 6),
    (Channel.SYSTEM_CAPTURE, 3),
)
# Channels an enterprise uses itself: the issue is held where the enterprise is.
ENTERPRISE_CHANNELS = frozenset({Channel.ONLINE_PORTAL, Channel.QIXIAOBANG})
# Which tier takes an issue in, by channel: shares of (town, county, city, province).
_TIERS = {
    Channel.CENTER_WINDOW: (0.40, 0.55, 0.05, 0.0),
    Channel.HOTLINE_12345: (0.05, 0.70, 0.25, 0.0),
    Channel.BUSINESS_COMPLAINT_LINE: (0.05, 0.70, 0.25, 0.0),
    Channel.GOOD_BAD_REVIEW: (0.10, 0.70, 0.20, 0.0),
    Channel.POLICE_11087: (0.10, 0.80, 0.10, 0.0),
    Channel.DIALOGUE_MEETING: (0.05, 0.60, 0.30, 0.05),
    Channel.TALENT_LOUNGE: (0.05, 0.60, 0.30, 0.05),
    Channel.PEOPLES_CONGRESS: (0.0, 0.50, 0.40, 0.10),
    Channel.CPPCC: (0.0, 0.50, 0.40, 0.10),
    Channel.GRASSROOTS_PLATFORM: (0.80, 0.20, 0.0, 0.0),
    Channel.SUPERIOR_ASSIGNED: (0.10, 0.60, 0.30, 0.0),
    Channel.INSPECTION: (0.30, 0.60, 0.10, 0.0),
    Channel.DEPARTMENT_REPORT: (0.0, 0.70, 0.30, 0.0),
    Channel.SERVICE_STAFF: (0.50, 0.50, 0.0, 0.0),
    Channel.SYSTEM_CAPTURE: (0.0, 0.80, 0.20, 0.0),
}
_TIER_LENGTHS = (9, 6, 4, 2)
EXTERNAL_PREFIX = {
    Channel.HOTLINE_12345: "ZJ12345-",
    Channel.GOOD_BAD_REVIEW: "HCP-",
    Channel.BUSINESS_COMPLAINT_LINE: "YSHJ-",
    Channel.GRASSROOTS_PLATFORM: "JCZL-",
    Channel.SYSTEM_CAPTURE: "AUTO-",
    Channel.QIXIAOBANG: "QXB-",
    Channel.POLICE_11087: "11087-",
}
GUIDED_CATEGORIES = (
    (Category.COMPLAINT, 0.5),
    (Category.SERVICE_REQUEST, 0.35),
    (Category.REPORT, 0.15),
)
BOARD_CATEGORIES = (
    (Category.APPEAL, 0.5),
    (Category.CONSULTATION, 0.35),
    (Category.SUGGESTION, 0.15),
)


def _cum(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


_CHANNEL_CUM = _cum(w for _, w in CHANNEL_WEIGHTS)
_TOPIC_CUM = _cum(tp.weight for tp in vocab.TOPICS)
_GUIDED_CUM = _cum(w for _, w in GUIDED_CATEGORIES)
_BOARD_CAT_CUM = _cum(w for _, w in BOARD_CATEGORIES)
_PROACTIVE = {c.key: c.proactive for c in get_catalog().channels}


def _holding(world: World, rng: random.Random, channel: Channel, origin: str) -> str:
    if channel in ENTERPRISE_CHANNELS:
        return origin
    shares = _TIERS.get(channel, (0.3, 0.6, 0.1, 0.0))
    i = _weighted_index(rng, _cum(shares))
    length = _TIER_LENGTHS[min(i, len(_TIER_LENGTHS) - 1)]
    # The nearest existing region at or above that tier (the origin when it is higher).
    for n in (length, 6, 4, 2):
        if n <= len(origin) and origin[:n] in world.regions:
            return origin[:n]
    return origin


def _units(world: World, rng: random.Random, region: str, topic: vocab.Topic) -> list[Unit]:
    """Candidate units of the holding region for a topic, the likeliest first."""
    boards = world.boards.get(region, {})
    departments = world.departments.get(region, {})
    preferred = [boards[k] for k in topic.boards if k in boards]
    depts = [departments[k] for k in topic.departments if k in departments]
    # Mostly the topic's board; sometimes straight to the lead department.
    preferred = depts + preferred if rng.random() < 0.3 and depts else preferred + depts
    if not preferred:
        preferred = list(boards.values()) + list(departments.values())
    return preferred


def _fill(text: str, rng: random.Random, year: int, extra: dict[str, str] | None = None) -> str:
    if "{" not in text:
        return text
    values = {
        "year": str(year - rng.choice((0, 1, 1))),
        "n": str(rng.choice((10, 20, 30, 50, 80, 100, 150, 200))),
        "k": str(rng.randint(2, 6)),
        "amount": str(rng.choice((50, 80, 100, 200, 300, 500, 800, 1000, 2000))),
        "staff": str(rng.choice((30, 50, 80, 120, 200, 300, 500, 1000))),
        "industry": rng.choice(vocab.INDUSTRIES),
    }
    values.update(extra or {})
    return text.format(**values)


@dataclass
class Batch:
    hi: int  # issues lo..hi - 1 of the plan
    issues: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    custody: list[tuple[Any, ...]]
    ratings: list[tuple[Any, ...]]
    states: Counter[str]
    proactive: int = 0
    overdue: int = 0
    resolved: int = 0
    rated: int = 0
    pools: Counter[str] = field(default_factory=Counter)
    # Set by ``for_copy``: the rows as binary COPY data, one per target (the row lists are
    # emptied), and their counts.
    copy_data: list[bytes] = field(default_factory=list)
    issue_count: int = 0
    event_count: int = 0


def for_copy(batch: Batch, targets: Sequence[Target | None]) -> Batch:
    """The batch with its rows as binary COPY data, one per target (``b""`` where the
    schema has no such table), encoded where the rows were built: a builder process then
    hands over bytes, not rows to pickle and unpickle (``copy_binary``)."""
    rows = (batch.issues, batch.events, batch.custody, batch.ratings)
    batch.copy_data = [
        b"" if target is None else target.encode(kind)
        for target, kind in zip(targets, rows, strict=True)
    ]
    batch.issue_count, batch.event_count = len(batch.issues), len(batch.events)
    batch.issues, batch.events, batch.custody, batch.ratings = [], [], [], []
    return batch


def chunk_rng(seed: int, chunk: int) -> random.Random:
    return random.Random(f"closedloop-bench/{seed}/issues/{chunk}")


def build_batch(
    world: World,
    enterprises: Sequence[EnterprisePlan],
    plan: IssuePlan,
    lo: int,
    hi: int,
    seed: int,
    now: dt.datetime,
    busy: Sequence[str] = DEFAULT_BUSY,
) -> Batch:
    """Simulate issues ``lo``..``hi - 1`` of the plan (``lo`` a multiple of CHUNK)."""
    assert lo % CHUNK == 0
    # Only acyclic garbage here; the collector would rescan the growing batch (~40%).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_batch(world, enterprises, plan, lo, hi, seed, now, busy)
    finally:
        if collecting:
            gc.enable()


def _build_batch(
    world: World,
    enterprises: Sequence[EnterprisePlan],
    plan: IssuePlan,
    lo: int,
    hi: int,
    seed: int,
    now: dt.datetime,
    busy: Sequence[str],
) -> Batch:
    batch = Batch(hi, [], [], [], [], Counter())
    rating_window = dt.timedelta(days=world.rating_window_days)
    rng = chunk_rng(seed, lo // CHUNK)
    busy_set = set(busy)  # counties
    # The chunk's issues so far, by the region that took them in, with their topics: a
    # duplicate is merged into one of these. Rows are written when the chunk is done, since
    # a merge adds an event to its primary (chunks, not batches, so that the rows do not
    # depend on the batch size).
    chunk: list[IssueSim] = []
    taken_in: dict[str, list[tuple[IssueSim, vocab.Topic]]] = {}
    for i in range(lo, hi):
        if i % CHUNK == 0 and i != lo:
            rng = chunk_rng(seed, i // CHUNK)
            _write(batch, chunk, busy_set)
            chunk, taken_in = [], {}
        ent = enterprises[plan.enterprise[i]]
        created = plan.created[i]
        issue_id = plan.first_id + i
        channel = CHANNEL_WEIGHTS[_weighted_index(rng, _CHANNEL_CUM)][0]
        origin = ent.region_code
        holding = _holding(world, rng, channel, origin)
        if origin[:6] in busy_set and holding != origin and rng.random() < 0.5:
            holding = origin[:6]  # a busy county's center takes in most itself
        topic = vocab.TOPICS[_weighted_index(rng, _TOPIC_CUM)]
        tags = [topic.tags[0]] if rng.random() < 0.4 else list(topic.tags)
        for tag, share in vocab.GENERIC_TAGS:
            if rng.random() < share and tag not in tags:
                tags.append(tag)
        if rng.random() < topic.guided:
            category = GUIDED_CATEGORIES[_weighted_index(rng, _GUIDED_CUM)][0].value
        else:
            category = BOARD_CATEGORIES[_weighted_index(rng, _BOARD_CAT_CUM)][0].value
        units = _units(world, rng, holding, topic)
        unit = units[0] if units and rng.random() < 0.75 else (rng.choice(units) if units else None)
        other = next((u for u in units if u is not unit), unit)
        year = created.year
        town = world.regions[origin].name
        title = _fill(rng.choice(topic.titles), rng, year)
        content = (
            _fill(rng.choice(vocab.INTROS), rng, year, {"ent": ent.name, "town": town})
            + _fill(rng.choice(topic.details), rng, year)
            + "，"
            + rng.choice(vocab.ASKS)
        )
        reply = rng.choice(vocab.REPLY_OPENERS) + _fill(rng.choice(topic.replies), rng, year)
        enterprise_submitted = channel in ENTERPRISE_CHANNELS
        center = world.centers[holding]
        ent_actor = ent.account or enterprise_actor(ent.id, ent.region_code, ent.name)
        prefix = EXTERNAL_PREFIX.get(channel)
        draft = IssueDraft(
            id=issue_id,
            number=plan.numbers[i],
            title=title,
            content=content,
            enterprise_id=ent.id,
            origin_region_code=origin,
            holding_region_code=holding,
            channel=channel.value,
            proactive=_PROACTIVE[channel.value],
            created_at=created,
            external_id=f"{prefix}{created:%Y%m%d}{issue_id:09d}" if prefix else None,
            submitted_by=(ent_actor if enterprise_submitted else center).account_id or None,
        )
        story = Story(category, tags, unit, other, reply, enterprise_submitted)
        plot = choose_plot(rng, story)
        if plot in ("escalated", "delegated"):
            parent = parent_code(holding)
            upper = (
                _units(world, rng, parent, topic)
                if parent is not None and parent in world.regions
                else []
            )
            if parent is None or not upper:
                plot = "board"
            else:
                story.upper_unit = upper[0]
                story.upper_center = world.centers[parent]
        if plot == "merged":
            merge_at = created + dt.timedelta(hours=lognormal_hours(rng, 6.0, 1.0))
            primary = _primary(taken_in.get(holding, ()), topic, holding, merge_at)
            if primary is None:
                plot = "board"
            else:
                story.primary, story.merge_at = primary, merge_at
                # The same matter, reported again.
                draft.title, draft.tags = primary.d.title, list(primary.d.tags)
        if not enterprise_submitted and category not in DEDICATED_ROUTES and rng.random() < 0.5:
            draft.category = category  # staff often classify at intake already
        sim = IssueSim(
            draft,
            rng,
            now,
            world,
            center,
            ent_actor,
            rating_window,
        )
        simulate(sim, story, plot)
        chunk.append(sim)
        taken_in.setdefault(holding, []).append((sim, topic))
    _write(batch, chunk, busy_set)
    return batch


def _primary(
    candidates: Sequence[tuple[IssueSim, vocab.Topic]],
    topic: vocab.Topic,
    holding: str,
    at: dt.datetime,
) -> IssueSim | None:
    """The newest issue on the same topic that ``holding`` still holds, open, at ``at``;
    else the newest on any topic (the duplicate then takes its title and tags)."""
    newest = None
    for sim, its_topic in reversed(candidates):
        if (
            sim.d.created_at < at
            and sim.state_at(at) in OPEN_STATES
            and sim.holder_at(at) == holding
        ):
            if its_topic is topic:
                return sim
            newest = newest or sim
    return newest


def _write(batch: Batch, sims: Sequence[IssueSim], busy: set[str]) -> None:
    """The rows and the tallies of finished simulations."""
    for sim in sims:
        batch.issues.append(sim.issue_row())
        batch.events.extend(sim.event_rows())
        batch.custody.extend(sim.custody_rows())
        batch.ratings.extend(sim.rating_rows())
        d = sim.d
        batch.states[d.state.value] += 1
        batch.proactive += d.proactive
        if d.resolved_at is not None:
            batch.resolved += 1
            batch.overdue += d.overdue
        batch.rated += d.rating is not None and d.state.value == "CLOSED"
        if d.holding_region_code in busy and d.state in OPEN_STATES:
            batch.pools[d.holding_region_code] += 1


# --- building in parallel ------------------------------------------------------------


@dataclass(frozen=True)
class Shared:
    """What every batch is built from, and the tables it goes to."""

    world: World
    enterprises: Sequence[EnterprisePlan]
    plan: IssuePlan
    seed: int
    now: dt.datetime
    busy: tuple[str, ...]
    targets: Sequence[Target | None]  # issue, issue_event, issue_custody, issue_rating


_SHARED: Shared | None = None  # what forked builder processes inherit


def _build(shared: Shared, lo: int, hi: int) -> Batch:
    s = shared
    batch = build_batch(s.world, s.enterprises, s.plan, lo, hi, s.seed, s.now, s.busy)
    return for_copy(batch, s.targets)


def _build_shared(lo: int, hi: int) -> Batch:
    assert _SHARED is not None
    return _build(_SHARED, lo, hi)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


async def _batches(
    shared: Shared, batch_size: int, workers: int, report: GenerateReport
) -> AsyncIterator[Batch]:
    """The batches in order. One worker: built in a thread, overlapping the previous
    COPY. More: forked processes (Linux) build ahead, ``workers + 1`` batches in flight.
    The rows are the same either way (randomness is per chunk of issues)."""
    global _SHARED
    ranges = [
        (lo, min(lo + batch_size, len(shared.plan)))
        for lo in range(0, len(shared.plan), batch_size)
    ]
    fork = "fork" in multiprocessing.get_all_start_methods()
    if workers <= 1 or len(ranges) <= 1 or not fork:
        for lo, hi in ranges:
            mark = time.perf_counter()
            yield await asyncio.to_thread(_build, shared, lo, hi)
            report.build_seconds += time.perf_counter() - mark
        return
    _SHARED = shared
    try:
        ctx = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            todo = iter(ranges)
            flight: deque[concurrent.futures.Future[Batch]] = deque()
            for lo, hi in itertools.islice(todo, workers + 1):
                flight.append(pool.submit(_build_shared, lo, hi))
            while flight:
                mark = time.perf_counter()
                batch = await asyncio.wrap_future(flight.popleft())
                report.build_seconds += time.perf_counter() - mark
                nxt = next(todo, None)
                if nxt is not None:
                    flight.append(pool.submit(_build_shared, *nxt))
                yield batch
    finally:
        _SHARED = None


# --- loading -------------------------------------------------------------------------


@dataclass
class GenerateReport:
    enterprises: int = 0
    issues: int = 0
    events: int = 0
    seconds: float = 0.0
    plan_seconds: float = 0.0
    build_seconds: float = 0.0  # waiting for built batches (they overlap the COPY)
    copy_wait_seconds: float = 0.0  # waiting for a COPY after the next batch was built
    finish_seconds: float = 0.0  # counters, sequences, commit, rollup, VACUUM (ANALYZE)
    states: dict[str, int] = field(default_factory=dict)
    proactive_share: float = 0.0
    overdue_share: float = 0.0  # of issues that got a reply
    rated_share: float = 0.0  # of closed issues, rated by the enterprise (rest: default)
    pools: dict[str, int] = field(default_factory=dict)  # open issues held by busy regions
    fk_checks: bool = True
    streams: int = 1  # parallel COPY connections
    now: dt.datetime | None = None

    def lines(self) -> list[str]:
        total = max(self.issues, 1)
        states = ", ".join(
            f"{k} {v} ({v / total:.1%})"
            for k, v in sorted(self.states.items(), key=lambda x: -x[1])
        )
        return [
            f"enterprises {self.enterprises:,}  issues {self.issues:,}  events {self.events:,}"
            f"  in {self.seconds:.1f} s (plan {self.plan_seconds:.1f} s, build"
            f" {self.build_seconds:.1f} s, waiting for COPY {self.copy_wait_seconds:.1f} s,"
            f" commit + rollup + vacuum {self.finish_seconds:.1f} s)",
            f"states: {states}",
            f"proactive {self.proactive_share:.1%}  overdue {self.overdue_share:.1%} of replied"
            f"  rated {self.rated_share:.1%} of closed",
            "open pools: " + ", ".join(f"{k} {v}" for k, v in self.pools.items()),
            f"now {self.now.isoformat() if self.now else '-'}"
            + ("" if self.fk_checks else "  (FK triggers off during COPY: superuser)")
            + f"  COPY streams {self.streams}",
        ]


async def _driver(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    return driver


async def _copy(conn: AsyncConnection, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    driver = await _driver(conn)
    await driver.copy_records_to_table(table, records=rows, columns=list(columns))


async def _copy_binary(conn: AsyncConnection, target: Target, data: bytes) -> None:
    driver = await _driver(conn)
    # A memoryview: asyncpg takes bytes for a file name.
    await driver.copy_to_table(
        target.table, source=memoryview(data), columns=list(target.columns), format="binary"
    )


@dataclass(frozen=True)
class Target:
    """Where a kind of generated row goes: the generated columns the table has (older or
    newer schemas differ), and whether the table exists at all; ``encode`` makes binary COPY
    data of the table's ``columns`` from generated rows."""

    table: str
    columns: tuple[str, ...]
    encode: copy_binary.Encoder = field(compare=False, repr=False)


async def _target(conn: AsyncConnection, table: str, generated: Sequence[str]) -> Target | None:
    cols = (
        await conn.execute(
            sa.text(
                "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL"
                " AND is_identity = 'NO', udt_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = :t"
            ),
            {"t": table},
        )
    ).all()
    if not cols:
        return None
    types = {c[0]: c[2] for c in cols}
    required = {c[0] for c in cols if c[1]}
    missing = required - set(generated)
    if missing:
        raise RuntimeError(f"{table}: the generator does not fill {sorted(missing)}")
    keep = tuple(i for i, c in enumerate(generated) if c in types)
    return Target(
        table,
        tuple(generated[i] for i in keep),
        copy_binary.encoder(len(generated), [(i, types[generated[i]]) for i in keep]),
    )


async def _next_id(conn: AsyncConnection, table: str) -> int:
    """The first free id of an identity column, never below max(id) + 1."""
    row = (
        await conn.execute(
            sa.text(
                f"SELECT greatest(nextval(pg_get_serial_sequence('{table}', 'id')),"
                f" coalesce((SELECT max(id) FROM {table}), 0) + 1)"
            )
        )
    ).scalar_one()
    return int(row)


async def _set_sequence(conn: AsyncConnection, table: str) -> None:
    await conn.execute(
        sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" greatest(coalesce((SELECT max(id) FROM {table}), 0), 1))"
        )
    )


async def _recompute_rollup(engine: AsyncEngine, slices: Sequence[rollup.Slice], n: int) -> None:
    """Recompute the slices on ``n`` connections at once, each a disjoint set of counties
    (one statement uses one core; after a national load this is most of the finish)."""
    n = max(1, n)
    counties = sorted({county for _, county in slices})
    share = {county: i % n for i, county in enumerate(counties)}
    groups = [[s for s in slices if share[s[1]] == i] for i in range(n)]

    async def run(group: Sequence[rollup.Slice]) -> None:
        async with engine.connect() as into:
            await into.begin()
            await into.execute(sa.text("SET LOCAL synchronous_commit = off"))
            await rollup.recompute(into, group)
            await into.commit()

    await asyncio.gather(*(run(g) for g in groups if g))


async def _existing_accounts(conn: AsyncConnection, quota: int, root: str) -> list[EnterprisePlan]:
    """Enterprises with an account (the demo ones) under ``root`` get issues of their own
    (one outside the root has no region in the world: it raises none)."""
    e, a = t.enterprise.c, t.account.c
    rows = await conn.execute(
        sa.select(e.id, e.credit_code, e.name, e.region_code, e.contact_phone, a.id.label("aid"))
        .select_from(t.enterprise.join(t.account, a.enterprise_id == e.id))
        .where(a.active, e.region_code.startswith(root))
        .order_by(e.id, a.id)
        .ext(distinct_on(e.id))
    )
    return [
        EnterprisePlan(
            r.id,
            r.credit_code,
            r.name,
            r.region_code,
            r.contact_phone,
            0.0,
            enterprise_actor(r.id, r.region_code, r.name, r.aid),
            quota,
        )
        for r in rows
    ]


async def generate(
    engine_url: str,
    issues: int,
    seed: int,
    enterprises: int | None,
    *,
    now: dt.datetime | None = None,
    root: str = "33",
    busy: Sequence[str] = DEFAULT_BUSY,
    batch_size: int = DEFAULT_BATCH,
    workers: int | None = None,
    streams: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> GenerateReport:
    """Fill a migrated database (regions loaded) with enterprises, issues and timelines.

    ``now`` (default: the current minute) anchors the two years of history: open issues'
    lights are as of ``now``. The same seed, ``now`` and starting database give the same
    data. ``streams`` COPY connections (default 1: the build, not the COPY, is what takes
    the time; more need superuser rights) load the batches in parallel
    (``streams.CopyStreams``): one stream
    runs in one transaction and locks enterprise, issue, issue_event and issue_number;
    several lock enterprise and issue_number (every submission waits on its region's
    counter) and reserve the new issue ids on the sequence first.
    """
    if issues < 0:
        raise ValueError("issues must be ≥ 0")
    batch_size = max(CHUNK, batch_size // CHUNK * CHUNK)
    workers = default_workers() if workers is None else workers
    if now is None:
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    now = now.astimezone(dt.UTC)
    say = progress or (lambda _msg: None)
    report = GenerateReport(now=now)
    started = time.perf_counter()
    engine = create_async_engine(
        async_url(engine_url), pool_size=1 + max(1, streams or 4, workers), max_overflow=0
    )
    try:
        async with engine.connect() as conn:
            await conn.begin()
            superuser = bool(
                (
                    await conn.execute(
                        sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                    )
                ).scalar()
            )
            n_streams = (streams or 1) if superuser else 1
            locked = "enterprise, issue_number"
            if n_streams <= 1:
                locked = "enterprise, issue, issue_event, issue_number"
            await conn.execute(sa.text(f"LOCK TABLE {locked} IN EXCLUSIVE MODE"))
            if superuser:
                # Skip the per-row FK triggers during COPY: every reference is generated
                # from rows read or written in this transaction.
                await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            report.fk_checks = not superuser
            await conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            world = await load_world(conn, root)
            if not any(r.level is RegionLevel.TOWN for r in world.regions.values()) and not any(
                r.level is RegionLevel.COUNTY for r in world.regions.values()
            ):
                raise ValueError(f"no regions under {root!r}: run `closedloop migrate` first")
            taken = set((await conn.execute(sa.select(t.enterprise.c.credit_code))).scalars())
            quota = max(5, min(300, issues // 2000)) if issues >= 100 else 0
            own = await _existing_accounts(conn, quota, root)
            n_ent = enterprises if enterprises is not None else max(50, issues // 8)
            rng = random.Random(f"closedloop-bench/{seed}/plan")
            ents = own + plan_enterprises(
                world, n_ent, rng, await _next_id(conn, "enterprise"), taken, busy
            )
            counters = {
                (r.region_code, r.year): r.last
                for r in await conn.execute(sa.select(t.issue_number))
            }
            plan = await asyncio.to_thread(
                plan_issues, ents, issues, rng, now, await _next_id(conn, "issue"), counters
            )
            if n_streams > 1 and issues:
                await conn.execute(  # reserve the ids: other streams, other writers
                    sa.text("SELECT setval(pg_get_serial_sequence('issue', 'id'), :last)"),
                    {"last": plan.first_id + issues - 1},
                )
            report.plan_seconds = time.perf_counter() - started
            report.streams = n_streams
            say(f"planned {n_ent:,} enterprises and {issues:,} issues, {n_streams} COPY streams")
            new_ents = [e.row() for e in ents if e.account is None]
            await _copy(conn, "enterprise", ENTERPRISE_COLUMNS, new_ents)
            report.enterprises = len(new_ents)
            states: Counter[str] = Counter()
            pools: Counter[str] = Counter()
            resolved = overdue = rated = proactive = 0

            targets = [
                await _target(conn, "issue", ISSUE_COLUMNS),
                await _target(conn, "issue_event", EVENT_COLUMNS),
                await _target(conn, "issue_custody", CUSTODY_COLUMNS),
                await _target(conn, "issue_rating", RATING_COLUMNS),
            ]

            def load(b: Batch) -> Callable[[AsyncConnection], Awaitable[None]]:
                async def run(into: AsyncConnection) -> None:
                    for target, data in zip(targets, b.copy_data, strict=True):
                        if target is not None:
                            await _copy_binary(into, target, data)

                return run

            batches = _batches(
                Shared(world, ents, plan, seed, now, tuple(busy), targets),
                batch_size,
                workers,
                report,
            )
            async with CopyStreams(engine, conn, n_streams) as copies:
                async for b in batches:
                    report.copy_wait_seconds += await copies.submit(load(b))
                    report.issues += b.issue_count
                    report.events += b.event_count
                    states.update(b.states)
                    pools.update(b.pools)
                    resolved += b.resolved
                    overdue += b.overdue
                    rated += b.rated
                    proactive += b.proactive
                    say(
                        f"{b.hi:,}/{len(plan):,} issues, {report.events:,} events"
                        f"  {time.perf_counter() - started:.0f} s"
                    )
                report.copy_wait_seconds += await copies.drain()
                await copies.commit()
            mark = time.perf_counter()
            keys = sorted(plan.counters)
            await conn.execute(
                sa.text(
                    "INSERT INTO issue_number (region_code, year, last)"
                    " SELECT * FROM unnest(CAST(:r AS text[]), CAST(:y AS int[]),"
                    " CAST(:l AS int[])) ON CONFLICT (region_code, year)"
                    " DO UPDATE SET last = greatest(issue_number.last, excluded.last)"
                ),
                {
                    "r": [k[0] for k in keys],
                    "y": [k[1] for k in keys],
                    "l": [plan.counters[k] for k in keys],
                },
            )
            for target in targets:
                if target is not None:
                    await _set_sequence(conn, target.table)
            await _set_sequence(conn, "enterprise")
            await conn.commit()
            # COPY skipped the triggers that mark the dashboard rollup's slices.
            say("committed; computing the dashboard rollup")
            await rollup.mark_all(conn)
            await conn.commit()  # the marks outlive a failed recompute: a refresh redoes it
            await _recompute_rollup(engine, await rollup.take(conn), workers)
            await conn.commit()
            say("vacuuming and analyzing")
            tables = [
                "enterprise",
                "issue_number",
                "issue_rollup",
                *(x.table for x in targets if x is not None),
            ]
            # VACUUM, not ANALYZE alone: it sets the visibility map, as autovacuum does on a
            # live database, so index-only scans (the counts in a scope) read as they would
            # there. Outside a transaction block.
            async with engine.connect() as vacuum:
                await vacuum.execution_options(isolation_level="AUTOCOMMIT")
                await vacuum.execute(sa.text("VACUUM (ANALYZE) " + ", ".join(tables)))
            report.finish_seconds = time.perf_counter() - mark
    finally:
        await engine.dispose()
    report.seconds = time.perf_counter() - started
    report.states = dict(states)
    report.pools = dict(pools)
    report.proactive_share = proactive / max(report.issues, 1)
    report.overdue_share = overdue / max(resolved, 1)
    report.rated_share = rated / max(states.get("CLOSED", 0), 1)
    return report
