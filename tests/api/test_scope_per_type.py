"""Every node type answers out-of-scope look-ups exactly like missing ones."""

from __future__ import annotations

import pytest

from tests.api.issue_helpers import step, submit
from tests.conftest import Api
from tests.scope import ScopeCase, ScopeVisibilityMixin

CENTER = """query($c: String!) { region(code: $c) { center { id } boards { id }
  departments { id } } }"""


async def _units(api: Api, code: str, who: str) -> dict[str, str]:
    region = (await api.gql(CENTER, {"c": code}, as_=who))["region"]
    return {
        "center": region["center"]["id"],
        "board": region["boards"][0]["id"],
        "department": region["departments"][0]["id"],
    }


class TestCenterScope(ScopeVisibilityMixin):
    async def cases(self, api: Api) -> list[ScopeCase]:
        units = await _units(api, "330521", "deqing.center")
        return [
            ScopeCase(units["center"], "deqing.center", "changxing.center"),
            ScopeCase(units["center"], "huzhou.center", "hangzhou.center"),
            ScopeCase(units["center"], "province.monitor", "xinshi.center"),
        ]


class TestBoardScope(ScopeVisibilityMixin):
    async def cases(self, api: Api) -> list[ScopeCase]:
        units = await _units(api, "330521", "deqing.center")
        return [ScopeCase(units["board"], "deqing.talent", "changxing.talent")]


class TestDepartmentScope(ScopeVisibilityMixin):
    async def cases(self, api: Api) -> list[ScopeCase]:
        units = await _units(api, "330521", "deqing.center")
        return [ScopeCase(units["department"], "deqing.market", "changxing.center")]


@pytest.mark.usefixtures("clean_issues")
class TestIssueScope(ScopeVisibilityMixin):
    list_query = "{ issues(first: 100) { nodes { id } } }"
    list_path = ("issues",)

    async def cases(self, api: Api) -> list[ScopeCase]:
        issue = await submit(api)
        accepted = await step(api, "acceptIssue", issue, "xinshi.center")
        return [
            ScopeCase(accepted["id"], "xinshi.center", "changxing.center"),
            ScopeCase(accepted["id"], "ent.xinshi-silk", "ent.deqing-geo"),
            ScopeCase(accepted["id"], "deqing.center", "hangzhou.center"),
            ScopeCase(accepted["id"], "province.monitor", "deqing.talent"),
        ]


@pytest.mark.usefixtures("clean_issues")
class TestEnterpriseScope(ScopeVisibilityMixin):
    async def cases(self, api: Api) -> list[ScopeCase]:
        issue = await submit(api)
        data = await api.gql(
            "query($id: ID!) { issue(id: $id) { enterprise { id } } }",
            {"id": issue["id"]},
            as_="ent.xinshi-silk",
        )
        ent = data["issue"]["enterprise"]["id"]
        return [
            ScopeCase(ent, "ent.xinshi-silk", "ent.deqing-geo"),
            ScopeCase(ent, "deqing.center", "changxing.center"),
        ]
