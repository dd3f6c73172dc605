"""The benchmark data generator's pure part: reproducible from a seed, valid credit codes,
and rows whose state, time limits, lights, custody and timeline agree with the domain."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections import Counter
from functools import cache
from typing import Any

from stdnum.cn import uscc

from bench.generator import generate as g
from bench.generator import lifecycle, vocab
from closedloop.domain.custody import holder_of
from closedloop.domain.issues import FINAL_STATES, OPEN_STATES, IssueState
from closedloop.domain.regions import parent_code
from closedloop.domain.sla import light
from closedloop.tenancy.seed import default_region_file, parse_region_csv

NOW = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)
N = 2000
S = IssueState


@cache
def world() -> g.World:
    rows = parse_region_csv(default_region_file()).rows
    return g.world_from_regions((r.code, r.name, r.parent_code) for r in rows)


def make(seed: int, n: int = N) -> tuple[list[g.EnterprisePlan], g.IssuePlan]:
    rng = random.Random(f"test/{seed}")
    ents = g.plan_enterprises(world(), max(50, n // 8), rng, 1, set())
    return ents, g.plan_issues(ents, n, rng, NOW, 1)


@cache
def batch(seed: int = 7) -> g.Batch:
    ents, plan = make(seed)
    return g.build_batch(world(), ents, plan, 0, len(plan), seed, NOW)


def issues(b: g.Batch) -> list[dict[str, Any]]:
    return [dict(zip(lifecycle.ISSUE_COLUMNS, row, strict=True)) for row in b.issues]


def by_issue(rows: list[tuple[Any, ...]]) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row)
    return out


def test_same_seed_same_rows_whatever_the_batches() -> None:
    ents_a, plan_a = make(3, 1200)
    ents_b, plan_b = make(3, 1200)
    assert [e.row() for e in ents_a] == [e.row() for e in ents_b]
    assert plan_a.numbers == plan_b.numbers and plan_a.created == plan_b.created
    whole = g.build_batch(world(), ents_a, plan_a, 0, 1200, 3, NOW)
    first = g.build_batch(world(), ents_b, plan_b, 0, 1000, 3, NOW)
    second = g.build_batch(world(), ents_b, plan_b, 1000, 1200, 3, NOW)
    assert whole.issues == first.issues + second.issues
    assert whole.events == first.events + second.events
    assert whole.custody == first.custody + second.custody


def test_another_seed_other_rows() -> None:
    assert [e.row() for e in make(3, 400)[0]] != [e.row() for e in make(4, 400)[0]]
    ents, plan = make(3, 400)
    one = g.build_batch(world(), ents, plan, 0, 200, 3, NOW)
    other = g.build_batch(world(), ents, plan, 0, 200, 4, NOW)
    assert one.issues != other.issues


def test_credit_codes_are_valid_unique_and_local() -> None:
    ents, _ = make(5)
    codes = [e.credit_code for e in ents]
    assert len(set(codes)) == len(codes)
    for e in ents:
        assert uscc.is_valid(e.credit_code), e.credit_code
        assert e.credit_code[2:8] == e.region_code[:6]
        body = e.credit_code[8:16]
        assert e.credit_code[16] == g.org_code_check(body)
    # GB 11714 on a known organisation code (the python-stdnum doctest's 600037341).
    assert g.org_code_check("60003734") == "1"


def test_names_numbers_and_counters() -> None:
    ents, plan = make(6)
    assert len(set(plan.numbers)) == len(plan.numbers)
    seen: Counter[tuple[str, int]] = Counter()
    for i, number in enumerate(plan.numbers):
        region, year, seq = number.rsplit("-", 2)
        assert region == ents[plan.enterprise[i]].region_code
        assert int(year) == plan.created[i].year
        seen[(region, int(year))] += 1
        assert int(seq) == seen[(region, int(year))]  # consecutive, in creation order
    assert plan.counters == dict(seen)
    assert plan.created == sorted(plan.created)
    assert NOW - dt.timedelta(days=g.HISTORY_DAYS + 1) < plan.created[0]
    assert plan.created[-1] < NOW


def test_state_and_time_limits_agree() -> None:
    b = batch()
    window_days = {"ASSIGN": 2, "REPLY": 15}
    for r in issues(b):
        state = IssueState(r["state"])
        kind = r["clock_kind"]
        assert r["origin_region_code"].startswith(r["holding_region_code"])
        if state in FINAL_STATES or state is S.RESOLVED or state is S.SUBMITTED:
            assert kind is None, r
        elif state in (S.ASSIGNED, S.IN_PROGRESS):
            assert kind == "REPLY"
            assert (r["board_id"] is None) != (r["department_id"] is None)
            assert r["handling_level"] == "BOARD"
        elif state is S.REOPENED:
            assert kind == "ASSIGN"
        else:  # ACCEPTED: waiting for assignment, or handed back (reply limit runs on)
            assert kind in ("ASSIGN", "REPLY")
            assert r["board_id"] is None and r["department_id"] is None
        if kind is not None:
            span = r["due_at"] - r["clock_started_at"]
            if kind == "REPLY" and r["delegated_from_region_code"]:
                # The delegator's deadline, inside its own assignment limit.
                assert dt.timedelta(0) < span <= dt.timedelta(days=window_days["ASSIGN"])
            else:
                assert span == dt.timedelta(days=window_days[kind])
            assert r["warn_at"] == r["clock_started_at"] + span * 2 / 3
            # The sweeper would have nothing to do as of NOW (give or take its period).
            current = light(NOW, r["warn_at"], r["due_at"]).value
            expected = None if current == "GREEN" else current
            if r["light_notified"] != expected:
                sweep = dt.timedelta(seconds=lifecycle.SWEEP_SECONDS)
                assert min(abs(NOW - r["warn_at"]), abs(NOW - r["due_at"])) <= sweep, r
        if state in (S.CLOSED, S.REJECTED, S.ROUTED_OUT):
            assert r["closed_at"] is not None
        if state in (S.RESOLVED, S.CLOSED):
            assert r["resolved_at"] is not None and r["reply"]
        if state is S.RESOLVED:  # the sweeper closes it after the rating window
            assert r["resolved_at"] > NOW - dt.timedelta(days=7)
        if r["overdue"]:
            assert r["resolved_at"] is not None
        if state is S.ROUTED_OUT:
            assert r["category"] in ("COMPLAINT", "REPORT", "SERVICE_REQUEST") and r["route"]
        assert r["created_at"] <= r["updated_at"] <= NOW


def test_timelines_are_consistent_chains() -> None:
    b = batch()
    events = by_issue(b.events)
    custody = by_issue(b.custody)
    internal = {"TRIAGED", "HANDED_BACK", "LIGHT_CHANGED", "MERGED_IN"}
    for r in issues(b):
        evs = events[r["id"]]
        # A merge adds its events to both timelines, whatever their length.
        told = sum(1 for e in evs if e[4] in ("MERGED_IN", "PRIMARY_RESOLVED"))
        assert 1 <= len(evs) <= lifecycle.MAX_EVENTS + told
        assert len(evs) >= 2 or r["state"] == "SUBMITTED"
        assert evs[0][4] == "SUBMITTED" and evs[0][5] is None
        times = [e[1] for e in evs]
        assert times == sorted(times) and times[0] == r["created_at"] and times[-1] <= NOW
        for before, after in itertools.pairwise(evs):
            assert after[5] == before[6], (r["number"], before, after)  # from == previous to
        assert evs[-1][6] == r["state"]
        for e in evs:
            if e[4] in internal:
                assert e[7] is False
            elif e[4] != "NOTE":  # notes are either
                assert e[7] is True
        assert r["urge_count"] == sum(1 for e in evs if e[4] == "URGED")
        # Every command bumps the version once; triage-and-assign is one command.
        bumps = sum(
            1 for e in evs if e[4] not in ("SUBMITTED", "LIGHT_CHANGED", "PRIMARY_RESOLVED")
        )
        one_command = sum(
            1
            for a, z in itertools.pairwise(evs)
            if (a[4], z[4]) == ("TRIAGED", "ASSIGNED") and a[1] == z[1]
        )
        assert r["version"] == 1 + bumps - one_command
        ledger = custody[r["id"]]
        assert ledger[0][5] == r["created_at"]
        assert [c[6] is None for c in ledger] == [False] * (len(ledger) - 1) + [True]
        if r["state"] not in ("MERGED", "REJECTED", "ROUTED_OUT"):
            holder = holder_of(
                r["holding_region_code"],
                r["handling_level"],
                r["board_id"],
                r["department_id"],
                r["state"],
            )
            assert ledger[-1][1:5] == (
                holder.region_code,
                holder.handling_level,
                holder.board_id,
                holder.department_id,
            )
        for prev, nxt in itertools.pairwise(ledger):
            assert prev[6] == nxt[5]


def test_plausible_proportions() -> None:
    rows = issues(batch())
    states = Counter(r["state"] for r in rows)
    finished = states["CLOSED"] + states["RESOLVED"]
    assert finished / N > 0.8
    assert 0.005 < sum(states[s] for s in OPEN_STATES) / N < 0.15
    assert 0.01 < (states["REJECTED"] + states["ROUTED_OUT"]) / N < 0.15
    assert 0.15 <= sum(r["proactive"] for r in rows) / N <= 0.25
    replied = [r for r in rows if r["resolved_at"] is not None]
    assert 0.03 < sum(r["overdue"] for r in replied) / len(replied) < 0.12
    closed = [r for r in rows if r["state"] == "CLOSED"]
    rated = Counter(r["rating"] for r in closed)
    assert rated[None] > 0 and rated["SATISFIED"] > len(closed) / 2
    tags = Counter(t for r in rows for t in r["tags"])
    assert {"人才", "融资", "用地", "政策兑现"} <= set(tags)


def test_delegated_issues_come_back_down_to_the_tier_that_escalated_them() -> None:
    b = batch()
    events, custody = by_issue(b.events), by_issue(b.custody)
    delegated = [r for r in issues(b) if r["delegated_from_region_code"]]
    assert 0.002 < len(delegated) / N < 0.02
    for r in delegated:
        holder, upper = r["holding_region_code"], r["delegated_from_region_code"]
        assert parent_code(holder) == upper and r["escalation_count"] == 1
        types = [e[4] for e in events[r["id"]]]
        assert types.index("ESCALATED") < types.index("DELEGATED") < types.index("ASSIGNED")
        delegation = next(e for e in events[r["id"]] if e[4] == "DELEGATED")
        payload = json.loads(delegation[9])
        assert (payload["from"], payload["to"]) == (upper, holder)
        assert dt.datetime.fromisoformat(payload["dueAt"]) > delegation[1]
        holders = [(c[1], c[2]) for c in custody[r["id"]]]
        assert holders[:3] == [(holder, "CENTER"), (upper, "PARENT_TIER"), (holder, "CENTER")]


def test_duplicates_are_merged_into_an_open_issue_of_the_same_holder() -> None:
    b = batch()
    events, custody = by_issue(b.events), by_issue(b.custody)
    rows = {r["id"]: r for r in issues(b)}
    merged = [r for r in rows.values() if r["state"] == "MERGED"]
    assert 0.002 < len(merged) / N < 0.03
    for r in merged:
        primary = rows[r["merged_into_id"]]
        assert primary["id"] < r["id"] and primary["title"] == r["title"]
        assert r["closed_at"] is not None and r["clock_kind"] is None
        merge = next(e for e in events[r["id"]] if e[4] == "MERGED")
        assert json.loads(merge[9])["primaryId"] == primary["id"]
        folded_in = [
            e
            for e in events[primary["id"]]
            if e[4] == "MERGED_IN" and r["id"] in [d["id"] for d in json.loads(e[9])["duplicates"]]
        ]
        assert len(folded_in) == 1 and folded_in[0][1] == merge[1]
        assert IssueState(folded_in[0][5]) in OPEN_STATES  # the primary was open then
        holder = next(
            c[1]
            for c in custody[primary["id"]]
            if c[5] <= merge[1] and (c[6] is None or merge[1] < c[6])
        )
        assert holder == r["holding_region_code"]
        told = [e for e in events[r["id"]] if e[4] == "PRIMARY_RESOLVED"]
        resolved = [e for e in events[primary["id"]] if e[4] == "RESOLVED" and e[1] > merge[1]]
        assert [e[1] for e in told] == [e[1] for e in resolved]


def test_the_busy_county_holds_many() -> None:
    held = Counter(r["holding_region_code"] for r in issues(batch()))
    counties = {code: n for code, n in held.items() if len(code) == 6}
    assert max(counties, key=lambda c: counties[c]) == "330521"


def test_system_actor_matches_the_service() -> None:
    from closedloop.services.issues.unit_of_work import SYSTEM_ACTOR

    assert vocab.SYSTEM_ACTOR == SYSTEM_ACTOR
    assert {name for name, _ in lifecycle.BOARD_PLOTS} <= set(lifecycle.PLOTS)
