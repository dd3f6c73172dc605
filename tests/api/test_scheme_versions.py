"""Scoring schemes as data, over HTTP on PostgreSQL (#13): a document is uploaded as a draft
(checked as validateScoringScheme checks it, each problem with its path), the province admin
alone activates it from a period, scores use the version in force for the period scored
(a version from 2027-Q1 leaves 2026 alone), a second API process hears an activation at
once, every change is in the audit log, the list is scoped and costs fixed statements.

Each test works on a scheme key of its own (a copy of the shipped Huzhou scheme): versions
stay in the session's database and must not change what other tests score."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import httpx
from sqlalchemy import event

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.settings import Settings
from tests.api.issue_helpers import key
from tests.api.test_accounts_api import AUDIT, audit_total, city_admin
from tests.conftest import Api
from tests.live import live_server, until
from tests.scope import ScopeCase, ScopeVisibilityMixin

UPLOAD = """mutation($input: UploadScoringSchemeInput!) { uploadScoringScheme(input: $input) {
  schemeVersion { id schemeKey versionLabel state stateLabel effectivePeriod version
    uploadedBy scheme { key maxTotal } }
  errors { code field path message } } }"""
ACTIVATE = """mutation($input: ActivateScoringSchemeInput!) {
  activateScoringScheme(input: $input) {
    schemeVersion { id state effectiveFrom effectivePeriod activatedBy version }
    errors { code field message } } }"""
LIST = """query($f: ScoringSchemeFilterInput, $first: Int) {
  scoringSchemes(filter: $f, first: $first) { totalCount
    nodes { id schemeKey versionLabel state uploadedBy scheme { key } } } }"""
SCORES = """query($s: String!, $p: String!) {
  scores(targetKind: REGION, region: "3305", period: $p, scheme: $s) {
    scheme { key maxTotal } entries { target { key } total } } }"""
IN_FORCE = """query($p: String!) { schemesInForce(period: $p) { key maxTotal } }"""
VALIDATE = """query($d: JSON!) { validateScoringScheme(document: $d) {
  valid error problems { path message } } }"""


def shipped() -> dict[str, Any]:
    text = (resources.files("closedloop") / "data" / "schemes" / "huzhou_2024.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def fresh_key() -> str:
    return f"TEST_{uuid.uuid4().hex[:8].upper()}"


def scaled(document: dict[str, Any], factor: int) -> dict[str, Any]:
    """The same scheme with every indicator worth ``factor`` times as much."""
    out = copy.deepcopy(document)
    for indicator in out["indicators"]:
        indicator["points"] = indicator["points"] * factor
    out["max_total"] = sum(i["points"] for i in out["indicators"])
    return out


async def upload(api: Api, document: dict[str, Any], label: str, as_: str = "admin") -> Any:
    data = await api.gql(
        UPLOAD,
        {"input": {"document": document, "versionLabel": label, "idempotencyKey": key()}},
        as_=as_,
    )
    return data["uploadScoringScheme"]


async def activate(api: Api, version: dict[str, Any], period: str, as_: str = "admin") -> Any:
    data = await api.gql(
        ACTIVATE,
        {
            "input": {
                "id": version["id"],
                "effectiveFrom": period,
                "expectedVersion": version["version"],
                "idempotencyKey": key(),
            }
        },
        as_=as_,
    )
    return data["activateScoringScheme"]


async def scores(api: Api, scheme: str, period: str) -> Any:
    return (await api.gql(SCORES, {"s": scheme, "p": period}, as_="admin"))["scores"]


async def test_scores_use_the_version_in_force_for_the_period(api: Api) -> None:
    name = fresh_key()
    base = {**shipped(), "scheme": name}
    # Before any version of it is in force, the key is unknown.
    unknown = await api.post(SCORES, {"s": name, "p": "2026-Q1"}, as_="admin")
    assert unknown.json()["errors"][0]["extensions"]["code"] == "UNKNOWN_SCHEME"

    first = await upload(api, base, "2026版")
    assert first["errors"] == []
    draft = first["schemeVersion"]
    assert (draft["schemeKey"], draft["state"], draft["version"]) == (name, "DRAFT", 1)
    assert draft["uploadedBy"] == "admin" and draft["stateLabel"] == "草稿"
    on = await activate(api, draft, "2026-Q1")
    assert on["errors"] == []
    assert on["schemeVersion"]["state"] == "ACTIVE"
    assert on["schemeVersion"]["effectiveFrom"] == "2026-01-01"
    before_2026 = await scores(api, name, "2026-Q1")
    assert before_2026["scheme"]["maxTotal"] == str(base["max_total"])

    doubled = await upload(api, scaled(base, 2), "2027版")
    assert doubled["errors"] == []
    assert (await activate(api, doubled["schemeVersion"], "2027-Q1"))["errors"] == []

    # 2026 is scored as before; 2027 by the new version, from its first quarter on.
    assert await scores(api, name, "2026-Q1") == before_2026
    assert (await scores(api, name, "2026-12"))["scheme"]["maxTotal"] == str(base["max_total"])
    after_2027 = await scores(api, name, "2027-Q1")
    assert after_2027["scheme"]["maxTotal"] == str(2 * base["max_total"])
    assert (await scores(api, name, "2027-05"))["scheme"] == after_2027["scheme"]
    in_force = {
        s["key"]: s["maxTotal"] for s in (await api.gql(IN_FORCE, {"p": "2027"}))["schemesInForce"]
    }
    assert in_force[name] == str(2 * base["max_total"])
    # The shipped schemes serve where no version is in force.
    huzhou = shipped()
    assert in_force["HUZHOU_2024"] == str(huzhou["max_total"])
    assert (await scores(api, "HUZHOU_2024", "2026-Q1"))["scheme"]["key"] == "HUZHOU_2024"


HISTORY = """query($s: String!) { scoreHistory(targetKind: REGION, region: "3305",
  target: "330521", period: "2027-Q1", periods: 3, scheme: $s) {
    scheme { maxTotal } points { period { label } score { indicators { maxPoints } } } } }"""


async def test_a_history_scores_each_period_by_its_own_version(api: Api) -> None:
    name = fresh_key()
    base = {**shipped(), "scheme": name}
    first = (await upload(api, base, "v1"))["schemeVersion"]
    assert (await activate(api, first, "2026-Q1"))["errors"] == []
    second = (await upload(api, scaled(base, 2), "v2"))["schemeVersion"]
    assert (await activate(api, second, "2027-Q1"))["errors"] == []
    history = (await api.gql(HISTORY, {"s": name}, as_="admin"))["scoreHistory"]
    assert history["scheme"]["maxTotal"] == str(2 * base["max_total"])
    points = {
        p["period"]["label"]: sum(float(i["maxPoints"]) for i in p["score"]["indicators"])
        for p in history["points"]
    }
    assert points == {
        "2026-Q3": base["max_total"],
        "2026-Q4": base["max_total"],
        "2027-Q1": 2 * base["max_total"],
    }


async def test_only_the_province_admin_activates_and_everything_is_audited(api: Api) -> None:
    name = fresh_key()
    document = {**shipped(), "scheme": name}
    # A city's evaluator neither uploads nor activates; a province admin does both.
    denied = await upload(api, document, "v1", as_="huzhou.evaluator")
    assert [e["code"] for e in denied["errors"]] == ["PERMISSION_DENIED"]
    made = await upload(api, document, "v1")
    version = made["schemeVersion"]
    taken = await upload(api, document, "v1")
    assert [(e["code"], e["field"]) for e in taken["errors"]] == [
        ("VERSION_LABEL_TAKEN", "versionLabel")
    ]
    quzhou = await city_admin(api)
    for who in (quzhou, "huzhou.evaluator", "province.monitor"):
        refused = await activate(api, version, "2027-Q1", as_=who)
        assert refused["schemeVersion"] is None
        assert [e["code"] for e in refused["errors"]] == ["PERMISSION_DENIED"], who
    before = await audit_total(api)
    ended = await activate(api, version, "2025-Q4")
    assert [(e["code"], e["field"]) for e in ended["errors"]] == [("PERIOD_ENDED", "effectiveFrom")]
    ranged = await activate(api, version, "2027-01-01..2027-02-01")
    assert [e["code"] for e in ranged["errors"]] == ["PERIOD_KIND_NOT_ALLOWED"]
    stale = await activate(api, {**version, "version": 7}, "2027-Q1")
    assert [e["code"] for e in stale["errors"]] == ["VERSION_CONFLICT"]
    assert await audit_total(api) == before  # nothing written
    on = await activate(api, version, "2027-Q1")
    assert on["errors"] == [] and on["schemeVersion"]["version"] == 2
    again = await activate(api, {**version, "version": 2}, "2028")
    assert [e["code"] for e in again["errors"]] == ["NOT_A_DRAFT"]
    # A second version from the same period supersedes the first.
    second = (await upload(api, scaled(document, 3), "v2"))["schemeVersion"]
    assert (await activate(api, second, "2027-Q1"))["errors"] == []
    states = await api.gql(LIST, {"f": {"schemeKey": name}}, as_="admin")
    assert [(n["versionLabel"], n["state"]) for n in states["scoringSchemes"]["nodes"]] == [
        ("v2", "ACTIVE"),
        ("v1", "SUPERSEDED"),
    ]
    assert states["scoringSchemes"]["totalCount"] == 2
    entries = await api.gql(AUDIT, {"f": {"objectKind": "SCORING_SCHEME"}}, as_="admin")
    mine = [
        (e["action"], e["after"]["version_label"], e["actorName"])
        for e in entries["auditLog"]["nodes"]
        if e["after"]["scheme_key"] == name
    ]
    assert mine == [
        ("SCHEME_ACTIVATED", "v2", "admin"),
        ("SCHEME_SUPERSEDED", "v1", "admin"),
        ("SCHEME_UPLOADED", "v2", "admin"),
        ("SCHEME_ACTIVATED", "v1", "admin"),
        ("SCHEME_UPLOADED", "v1", "admin"),
    ]
    english = await api.post(
        ACTIVATE,
        {"input": {"id": version["id"], "effectiveFrom": "2029"}},
        as_="admin",
        headers={"Accept-Language": "en"},
    )
    message = english.json()["data"]["activateScoringScheme"]["errors"][0]["message"]
    assert message == "Only a draft can be activated"


async def test_an_invalid_document_lists_every_problem_with_its_path(api: Api) -> None:
    document = {**shipped(), "scheme": fresh_key(), "max_total": "x", "rating_count": "nope"}
    document["indicators"] = copy.deepcopy(document["indicators"])
    document["indicators"][0]["points"] = -1
    first_key = document["indicators"][0]["key"]
    before = await audit_total(api)
    out = await upload(api, document, "broken")
    assert out["schemeVersion"] is None
    assert [(e["code"], e["field"], e["path"]) for e in out["errors"]] == [
        ("INVALID_SCHEME", "document", f"indicators[{first_key}].points"),
        ("INVALID_SCHEME", "document", "scheme.max_total"),
        ("INVALID_SCHEME", "document", "rating_count"),
    ]
    assert out["errors"][0]["message"] == f"评价方案无效：indicators[{first_key}].points 应大于 0"
    # The same check, the same problems, through validateScoringScheme.
    checked = (await api.gql(VALIDATE, {"d": document}, as_="admin"))["validateScoringScheme"]
    assert checked["valid"] is False
    assert [p["path"] for p in checked["problems"]] == [e["path"] for e in out["errors"]]
    assert await audit_total(api) == before


async def test_a_second_api_process_scores_with_an_activation_at_once(
    api: Api, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    name = fresh_key()
    base = {**shipped(), "scheme": name}
    first = (await upload(api, base, "v1"))["schemeVersion"]
    assert (await activate(api, first, "2026-Q1"))["errors"] == []
    query = {"query": SCORES, "variables": {"s": name, "p": "2028-Q1"}}
    headers = {"Authorization": f"Bearer {api.token('admin')}"}
    async with (
        live_server(settings, db, clock) as other,
        httpx.AsyncClient(base_url=other.url) as client,
    ):
        await until(lambda: other.runtime.bus is not None and other.runtime.bus.connected)

        async def max_total() -> str:
            answer = await client.post("/graphql", json=query, headers=headers)
            found: str = answer.json()["data"]["scores"]["scheme"]["maxTotal"]
            return found

        assert await max_total() == str(base["max_total"])
        reads = other.runtime.schemes.reads
        assert await max_total() == str(base["max_total"])
        assert other.runtime.schemes.reads == reads  # remembered while nothing changes
        heard = other.runtime.schemes.generation
        second = (await upload(api, scaled(base, 2), "v2"))["schemeVersion"]
        assert other.runtime.schemes.generation == heard  # a draft changes nothing
        assert (await activate(api, second, "2028-Q1"))["errors"] == []
        # The other process hears the activation's NOTIFY: no restart, no time-to-live.
        await until(lambda: other.runtime.schemes.generation > heard)
        assert await max_total() == str(2 * base["max_total"])
        assert other.runtime.schemes.reads == reads + 1


class TestSchemeVersionScope(ScopeVisibilityMixin):
    list_query = "{ scoringSchemes(first: 100) { nodes { id } } }"
    list_path = ("scoringSchemes",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        made = await upload(api, {**shipped(), "scheme": fresh_key()}, "scope")
        found = made["schemeVersion"]["id"]
        # Stored at the province: its admin and a city's evaluator read it; a center's
        # staff and a board handler do not (scheme.read).
        return [
            ScopeCase(found, "admin", "huzhou.center"),
            ScopeCase(found, "huzhou.evaluator", "deqing.talent"),
        ]


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """Statements of both roles (the versions are read as the system)."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engines = [db.engine.sync_engine, db.system.sync_engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def test_the_list_costs_fixed_statements(api: Api, db: Database) -> None:
    name = fresh_key()
    for n in range(10):
        assert (await upload(api, {**shipped(), "scheme": name}, f"v{n}"))["errors"] == []
    runtime = api.client._transport.app.state.runtime  # type: ignore[attr-defined]
    counts = []
    for first in (2, 10):
        variables = {"f": {"schemeKey": name}, "first": first}
        for _ in range(3):  # warm the account cache (see test_query_counts)
            await api.gql(LIST, variables, as_="admin")
            if "admin" in runtime.principals:
                break
        with counting(db) as statements:
            data = await api.gql(LIST, variables, as_="admin")
        assert len(data["scoringSchemes"]["nodes"]) == first
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[1] <= 4, counts
