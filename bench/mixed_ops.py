"""The operations of the mixed portal workload (``bench/mixed.py``, issue 18): the accounts it
signs in as, the requests of each operation on closedloop and, for the reads PostGraphile can
serve, on PostGraphile (``bench/postgraphile``), and the check that both answer the same.

``setup`` creates, through the API as ``admin`` (``createAccount``; an existing username is
kept), accounts across every tier: a center for each city and county, a leader and an
evaluator for each city, board and department handlers in a sample of counties, users of
enterprises in a sample of counties and a center for each of their towns. ``plan`` then reads
the database through closedloop, with a seeded random choice, to pick each operation's items
(an account and what it asks: a page, a cursor's depth, a filter, an issue) and ``render``
turns an item into a request body for one server; cursors are each server's own, found by
walking the same pages.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

Body = dict[str, Any]
Post = Callable[[str, Body], Awaitable[dict[str, Any]]]  # (account, body) -> answer

OPEN = ["SUBMITTED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "REOPENED"]
PAGE = 20
QUARTER = "2026-Q3"
KEYWORDS = ("用地", "招工", "融资", "消防", "人才", "环评")
STATE_SETS = (["RESOLVED"], ["IN_PROGRESS", "ASSIGNED"], ["CLOSED"], ["SUBMITTED"])
DEPTHS = (20, 60, 100, 200, 400)  # rows skipped by a deep page's cursor

# --- closedloop's requests -------------------------------------------------------------------

LIST = """query($filter: IssueFilterInput, $first: Int!, $after: String) {
  issues(filter: $filter, first: $first, after: $after) { totalCount
  pageInfo { hasNextPage endCursor } nodes { id number title state light dueAt
  enterprise { name creditCode } board { name } department { name } holdingRegion { name }
  lastEvent { type occurredAt actorName } } } }"""

NESTED = """query($first: Int!) { issues(filter: {pool: true}, first: $first) { totalCount
  nodes { id number title state enterprise { name region { name } } originRegion { name }
  timeline { type occurredAt actorName } custody { handlingLevel startedAt region { name } }
  } } }"""

DETAIL = """query($id: ID!) { issue(id: $id) { id number title content state light dueAt
  createdAt enterprise { name creditCode region { name } } originRegion { name }
  holdingRegion { name } board { name } department { name }
  timeline { type occurredAt actorName message }
  custody { handlingLevel startedAt endedAt region { name } } } }"""

DUPLICATES = """query($id: ID!) { issue(id: $id) { id duplicateCandidates(first: 10) {
  score textSimilarity sameEnterprise issue { id number title state holdingRegion { name } }
  } } }"""

DASHBOARD = """query($region: String!, $period: String!) { dashboard(region: $region,
  period: $period) { asOf totals { ...F } children { region { code name } figures { ...F } }
  byState { state count label } boards { key name figures { ...F } }
  departments { key name figures { ...F } } topTags { tag count } redCount blackCount
  trend { month figures { ...F } } } }
fragment F on DashboardFigures { total handled resolved open overdueResolved yellowLights
  redLights resolutionRate satisfactionRate overdueRate }"""

SCORES = """query($kind: EvaluationTargetKind!, $region: String!, $period: String!) {
  scores(targetKind: $kind, region: $region, period: $period) { period { label }
  entries { rank total target { kind key name } indicators { key rate points } } } }"""

MUTATION = """mutation($input: {type}!) {{ {name}(input: $input) {{
  issue {{ id number version state holdingRegion {{ code parentCode }} }}
  errors {{ code message }} }} }}"""

# --- PostGraphile's (bench/postgraphile): the same rows, its own names ------------------------

PG_LIST = """query($filter: IssueFilter, $first: Int!, $after: Cursor) {
  issues(first: $first, after: $after, orderBy: [CREATED_AT_DESC, ID_DESC], filter: $filter) {
  totalCount pageInfo { hasNextPage endCursor } nodes { id: nodeId rowId: id number title
  state light dueAt enterprise { name creditCode } board { name: nameZh }
  department { name: nameZh } holdingRegion: regionByHoldingRegionCode { name }
  lastEvent: issueEvents(orderBy: ID_DESC, first: 1) { nodes { type occurredAt actorName } }
  } } }"""

PG_NESTED = """query($filter: IssueFilter, $first: Int!) { issues(first: $first,
  orderBy: [CREATED_AT_DESC, ID_DESC], filter: $filter) { totalCount nodes {
  id: nodeId rowId: id number title state
  enterprise { name region: regionByRegionCode { name } }
  originRegion: regionByOriginRegionCode { name }
  timeline: issueEvents(orderBy: ID_ASC, first: 100) { nodes { type occurredAt actorName } }
  custody: issueCustodies(orderBy: ID_ASC, first: 100) { nodes { handlingLevel startedAt
    region: regionByRegionCode { name } } } } } }"""

PG_DETAIL = """query($id: BigInt!) { issue(id: $id) { id: nodeId rowId: id number title content
  state light dueAt createdAt enterprise { name creditCode region: regionByRegionCode { name } }
  originRegion: regionByOriginRegionCode { name }
  holdingRegion: regionByHoldingRegionCode { name } board { name: nameZh }
  department { name: nameZh }
  timeline: issueEvents(orderBy: ID_ASC, first: 100) { nodes { type occurredAt actorName
    message } }
  custody: issueCustodies(orderBy: ID_ASC, first: 100) { nodes { handlingLevel startedAt
    endedAt region: regionByRegionCode { name } } } } }"""


@dataclass(frozen=True)
class Op:
    description: str
    shared: bool  # PostGraphile serves it too
    weight: float  # in the default mix


OPS: dict[str, Op] = {
    "pool_first": Op("a center's pool (city, county or town), first page of 20", True, 14),
    "pool_deep": Op("a center's pool, a page 20-400 rows deep by `after`", True, 7),
    "list_state": Op("issues in scope by state (leaders, centers)", True, 7),
    "list_red": Op("issues in scope with a red time-limit light", True, 4),
    "list_keyword": Op("issues in scope whose title or content has a word", True, 3),
    "list_board": Op("a board handler's issues, newest 20", True, 4),
    "list_department": Op("a department handler's issues, newest 20", True, 4),
    "enterprise_own": Op("an enterprise user's own issues, newest 20", True, 10),
    # the same three lists with the filter a client knows from its account (its enterprise,
    # or its region and board or department): the same rows; not in the default mix
    "enterprise_own_by_id": Op("enterprise_own, filtered by its enterprise", True, 0),
    "list_board_by_unit": Op("list_board, filtered by its region and board", True, 0),
    "list_department_by_unit": Op("list_department, by its region and department", True, 0),
    "issue_detail": Op("one issue with timeline, custody, enterprise and regions", True, 14),
    "pool_nested": Op("a pool page of 20 with timelines, custody, regions", True, 4),
    "duplicates": Op("an issue's 10 duplicate candidates", False, 4),
    "dashboard_province": Op("the province's cockpit for a quarter", False, 1),
    "dashboard_city": Op("a city's cockpit for a quarter (leaders, centers)", False, 2),
    "scores": Op("a city's department or county scores for a quarter", False, 1),
    # one step of a chain per pick: submit (enterprise), accept, note (town center),
    # escalate to the county
    "write": Op("submitIssue, acceptIssue, addIssueNote, escalateIssue in turn", False, 16),
}
WRITE_STEPS = ("submitIssue", "acceptIssue", "addIssueNote", "escalateIssue")


def issue_row_id(global_id: str, kind: str = "Issue") -> int:
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    found, _, key = raw.partition(":")
    assert found == kind, raw
    return int(key)


# --- accounts --------------------------------------------------------------------------------

REGIONS = """query($level: RegionLevel!, $within: String!, $after: String) {
  regions(level: $level, within: $within, first: 100, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { code parentCode } } }"""
UNITS = """query($code: String!) { region(code: $code) { boards { id key }
  departments { id key } } }"""
ENTERPRISES = """query($within: String!) { enterprises(filter: {regionWithin: $within},
  first: 8) { nodes { id creditCode region { code level parentCode } } } }"""
CREATE = """mutation($input: CreateAccountInput!) { createAccount(input: $input) {
  account { id } errors { code message } } }"""


async def _regions(post: Post, level: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        data = await post(
            "admin",
            {
                "query": REGIONS,
                "variables": {"level": level, "within": "33", "after": after},
            },
        )
        page = data["regions"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def setup_accounts(post: Post, seed: int, sample: int) -> dict[str, Any]:
    """Creates the accounts (idempotent) and returns them by tier."""
    rng = random.Random(seed)
    cities, counties = await _regions(post, "CITY"), await _regions(post, "COUNTY")
    picked = rng.sample(counties, min(sample, len(counties)))
    wanted: list[tuple[str, Body]] = []
    tiers: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("center", "leader", "evaluator", "board", "department", "enterprise")
    }

    def add(tier: str, username: str, binding: Body, **extra: Any) -> None:
        wanted.append((username, binding))
        tiers[tier].append({"username": username, **extra})

    for r in cities:
        add(
            "center",
            f"bench.center.{r['code']}",
            _staff("CENTER_STAFF", r),
            region=r["code"],
        )
        add("leader", f"bench.leader.{r['code']}", _staff("LEADER", r), region=r["code"])
        add(
            "evaluator",
            f"bench.eval.{r['code']}",
            _staff("EVALUATOR", r),
            region=r["code"],
        )
    for r in counties:
        add(
            "center",
            f"bench.center.{r['code']}",
            _staff("CENTER_STAFF", r),
            region=r["code"],
        )
    towns: set[str] = set()
    for r in picked:
        units = (await post("admin", {"query": UNITS, "variables": {"code": r["code"]}}))["region"]
        for b in units["boards"][:2]:
            add(
                "board",
                f"bench.board.{r['code']}.{b['key'].lower()}",
                {**_staff("BOARD_HANDLER", r), "boardId": b["id"]},
                region=r["code"],
            )
        for d in units["departments"][:2]:
            add(
                "department",
                f"bench.dept.{r['code']}.{d['key'].lower()}",
                {**_staff("DEPARTMENT_HANDLER", r), "departmentId": d["id"]},
                region=r["code"],
            )
        found = await post("admin", {"query": ENTERPRISES, "variables": {"within": r["code"]}})
        for e in found["enterprises"]["nodes"]:
            region = e["region"]
            add(
                "enterprise",
                f"bench.ent.{e['creditCode'].lower()}",
                {"role": "ENTERPRISE", "enterpriseId": e["id"]},
                region=region["code"],
                county=region["parentCode"] if region["level"] == "TOWN" else region["code"],
            )
            if region["level"] == "TOWN" and region["code"] not in towns:
                towns.add(region["code"])
                add(
                    "center",
                    f"bench.center.{region['code']}",
                    _staff("CENTER_STAFF", region),
                    region=region["code"],
                )
    created = 0
    for username, binding in wanted:
        answer = await post(
            "admin",
            {
                "query": CREATE,
                "variables": {
                    "input": {
                        "username": username,
                        "displayName": username,
                        "binding": binding,
                    }
                },
            },
        )
        errors = answer["createAccount"]["errors"]
        if errors and errors[0]["code"] != "USERNAME_TAKEN":
            raise RuntimeError(f"{username}: {errors}")
        created += not errors
    print(f"accounts: {len(wanted)} wanted, {created} created, the rest already there")
    return {"seed": seed, "tiers": tiers}


def _staff(role: str, region: dict[str, Any]) -> Body:
    return {"role": role, "regionCode": region["code"]}


# --- the plan: each operation's items, picked once, rendered for each server -------------------


async def _walk(post: Post, account: str, query: str, variables: Body, depth: int) -> str | None:
    """The cursor ``depth`` rows into a list (pages of at most 100)."""
    after, seen = None, 0
    while seen < depth:
        step = min(100, depth - seen)
        page = await post(
            account,
            {"query": query, "variables": {**variables, "first": step, "after": after}},
        )
        conn = page["issues"]
        seen += len(conn["nodes"])
        after = conn["pageInfo"]["endCursor"]
        if not conn["pageInfo"]["hasNextPage"]:
            return None
    return after


async def plan(post: Post, accounts: dict[str, Any], seed: int, per_op: int) -> dict[str, Any]:
    """Items per operation: ``{"op": [{"account": …, …}, …]}``, picked with ``seed``."""
    rng = random.Random(seed)
    tiers = accounts["tiers"]
    centers = [a["username"] for a in tiers["center"]] + [
        "deqing.center",
        "xinshi.center",
    ]
    items: dict[str, list[Body]] = {op: [] for op in OPS}
    pools: list[tuple[str, int, list[str]]] = []  # account, open issues, ids of page 1
    for account in rng.sample(centers, min(len(centers), 3 * per_op)):
        data = await post(
            account,
            {"query": LIST, "variables": {"filter": {"pool": True}, "first": PAGE}},
        )
        conn = data["issues"]
        if conn["totalCount"]:
            pools.append((account, conn["totalCount"], [n["id"] for n in conn["nodes"]]))
    if not pools:
        raise RuntimeError("no center has an open issue: generate data first")
    for account, _, ids in pools[:per_op]:
        items["pool_first"].append({"account": account, "filter": "pool"})
        items["pool_nested"].append({"account": account, "filter": "pool"})
        for i in rng.sample(ids, min(3, len(ids))):
            items["issue_detail"].append({"account": account, "issue": issue_row_id(i)})
            items["duplicates"].append({"account": account, "issue": issue_row_id(i)})
    for account, total, _ in sorted(pools, key=lambda p: -p[1])[:per_op]:
        depths = [d for d in DEPTHS if d < total - PAGE] or [PAGE]
        items["pool_deep"].append(
            {"account": account, "filter": "pool", "depth": rng.choice(depths)}
        )
    leaders = [a["username"] for a in tiers["leader"]]
    for account in rng.sample(leaders + centers, min(per_op, len(leaders) + len(centers))):
        items["list_state"].append(
            {"account": account, "filter": "states", "states": rng.choice(STATE_SETS)}
        )
        items["list_red"].append({"account": account, "filter": "red"})
        items["list_keyword"].append(
            {"account": account, "filter": "text", "text": rng.choice(KEYWORDS)}
        )
    for tier, op in (
        ("board", "list_board"),
        ("department", "list_department"),
        ("enterprise", "enterprise_own"),
    ):
        for a in rng.sample(tiers[tier], min(per_op, len(tiers[tier]))):
            items[op].append({"account": a["username"], "filter": None})
    for a in rng.sample(tiers["enterprise"], min(per_op, len(tiers["enterprise"]))):
        data = await post(a["username"], {"query": LIST, "variables": {"first": 3}})
        for n in data["issues"]["nodes"]:
            items["issue_detail"].append({"account": a["username"], "issue": issue_row_id(n["id"])})
    items["dashboard_province"] = [{"account": "province.monitor", "region": "33"}]
    for a in tiers["leader"] + [c for c in tiers["center"] if len(c["region"]) == 4]:
        items["dashboard_city"].append({"account": a["username"], "region": a["region"]})
    for a in tiers["evaluator"]:
        for kind in ("DEPARTMENT", "REGION"):
            items["scores"].append({"account": a["username"], "region": a["region"], "kind": kind})
    town_centers = {c["region"]: c["username"] for c in tiers["center"]}
    for a in tiers["enterprise"]:
        town = town_centers.get(a["region"])
        if town and a["region"] != a["county"]:
            items["write"].append({"account": a["username"], "center": town, "county": a["county"]})
    return {"seed": seed, "items": items}


VIEWER = "{ viewer { region { code } board { id } department { id } } }"


async def unit_items(
    post: Post, accounts: dict[str, Any], seed: int, per_op: int
) -> dict[str, Any]:
    """The items of the lists filtered by what the account knows of itself."""
    rng = random.Random(seed)
    tiers = accounts["tiers"]
    items: dict[str, list[Body]] = {
        "enterprise_own_by_id": [],
        "list_board_by_unit": [],
        "list_department_by_unit": [],
    }
    for a in rng.sample(tiers["enterprise"], min(per_op, len(tiers["enterprise"]))):
        first = await post(
            a["username"],
            {"query": "{ issues(first: 1) { nodes { enterprise { id } } } }"},
        )
        nodes = first["issues"]["nodes"]
        if nodes and nodes[0]["enterprise"]:
            items["enterprise_own_by_id"].append(
                {
                    "account": a["username"],
                    "filter": "unit",
                    "unit": {"enterprise": nodes[0]["enterprise"]["id"]},
                }
            )
    for tier, op, key in (
        ("board", "list_board_by_unit", "board"),
        ("department", "list_department_by_unit", "department"),
    ):
        for a in rng.sample(tiers[tier], min(per_op, len(tiers[tier]))):
            viewer = (await post(a["username"], {"query": VIEWER}))["viewer"]
            items[op].append(
                {
                    "account": a["username"],
                    "filter": "unit",
                    "unit": {
                        "region": viewer["region"]["code"],
                        key: viewer[key]["id"],
                    },
                }
            )
    return items


def pg_filter(item: Body, now: dt.datetime) -> Body | None:
    kind = item.get("filter")
    if kind is None:
        return None
    if kind == "pool":
        region = item["account"].rsplit(".", 1)[-1]
        region = {"deqing.center": "330521", "xinshi.center": "330521102"}.get(
            item["account"], region
        )
        return {"holdingRegionCode": {"equalTo": region}, "state": {"in": OPEN}}
    if kind == "states":
        return {"state": {"in": item["states"]}}
    if kind == "red":
        stamp = now.isoformat()
        return {"clockKind": {"isNull": False}, "dueAt": {"lessThanOrEqualTo": stamp}}
    if kind == "text":
        word = item["text"]
        return {
            "or": [
                {"title": {"includesInsensitive": word}},
                {"content": {"includesInsensitive": word}},
            ]
        }
    if kind == "unit":
        unit, out = item["unit"], {}
        if "region" in unit:
            out["holdingRegionCode"] = {"equalTo": unit["region"]}
        for key, kind_, field in (
            ("enterprise", "Enterprise", "enterpriseId"),
            ("board", "Board", "boardId"),
            ("department", "Department", "departmentId"),
        ):
            if key in unit:
                out[field] = {"equalTo": issue_row_id(unit[key], kind_)}
        return out
    raise ValueError(kind)


def cl_filter(item: Body) -> Body | None:
    kind = item.get("filter")
    if kind == "unit":
        unit = item["unit"]
        names = {
            "region": "holdingRegion",
            "enterprise": "enterpriseId",
            "board": "boardId",
            "department": "departmentId",
        }
        return {names[k]: v for k, v in unit.items()}
    return {
        None: None,
        "pool": {"pool": True},
        "states": {"states": item.get("states")},
        "red": {"light": "RED"},
        "text": {"text": item.get("text")},
    }[kind]


def global_id(row_id: int) -> str:
    return base64.b64encode(f"Issue:{row_id}".encode()).decode().rstrip("=")


async def render(post: Post, server: str, op: str, item: Body, now: dt.datetime) -> Body:
    """The request body of ``item`` of ``op`` for ``server`` (``closedloop`` or
    ``postgraphile``); a deep page walks to its cursor first."""
    pg = server == "postgraphile"
    if op in (
        "pool_first",
        "pool_deep",
        "list_state",
        "list_red",
        "list_keyword",
        "list_board",
        "list_department",
        "enterprise_own",
        "enterprise_own_by_id",
        "list_board_by_unit",
        "list_department_by_unit",
    ):
        query, filt = (PG_LIST, pg_filter(item, now)) if pg else (LIST, cl_filter(item))
        # connection-filter refuses a null filter: none is left out
        given: Body = {"filter": filt} if filt is not None or not pg else {}
        variables: Body = {**given, "first": PAGE, "after": None}
        if op == "pool_deep":
            variables["after"] = await _walk(post, item["account"], query, given, item["depth"])
        return {"query": query, "variables": variables}
    if op == "pool_nested":
        if pg:
            return {
                "query": PG_NESTED,
                "variables": {"filter": pg_filter(item, now), "first": PAGE},
            }
        return {"query": NESTED, "variables": {"first": PAGE}}
    if op == "issue_detail":
        if pg:
            return {"query": PG_DETAIL, "variables": {"id": str(item["issue"])}}
        return {"query": DETAIL, "variables": {"id": global_id(item["issue"])}}
    if op == "duplicates":
        return {"query": DUPLICATES, "variables": {"id": global_id(item["issue"])}}
    if op in ("dashboard_province", "dashboard_city"):
        return {
            "query": DASHBOARD,
            "variables": {"region": item["region"], "period": QUARTER},
        }
    if op == "scores":
        return {
            "query": SCORES,
            "variables": {
                "kind": item["kind"],
                "region": item["region"],
                "period": QUARTER,
            },
        }
    if op == "write":
        return dict(item)  # a chain's parameters: bench.mixed runs the steps
    raise ValueError(op)


def mutation(name: str, input_: Body) -> Body:
    type_name = name[0].upper() + name[1:] + "Input"
    return {
        "query": MUTATION.format(type=type_name, name=name),
        "variables": {"input": input_},
    }


def normalise(op: str, answer: dict[str, Any]) -> Any:
    """What must be equal between the servers: totals, row ids in order, timeline and custody
    lengths, names of related rows."""
    if op == "issue_detail":
        i = answer["issue"]
        if i is None:
            return None

        def n(v: Any) -> int:
            return len(v["nodes"] if isinstance(v, dict) else v)

        return (
            i["number"],
            i["state"],
            i["light"],
            (i["enterprise"] or {}).get("name"),
            (i["holdingRegion"] or {}).get("name"),
            n(i["timeline"]),
            n(i["custody"]),
        )
    conn = answer["issues"]
    rows = [
        (int(x.get("rowId") or issue_row_id(x["id"])), x["number"], x["state"])
        for x in conn["nodes"]
    ]
    return conn["totalCount"], rows


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=120.0)
