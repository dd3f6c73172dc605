"""A reusable check, for every node type, that out-of-scope objects vanish: ``node(id)``
answers exactly as for an id that does not exist, and lists leave them out."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tests.conftest import COST_1, Api

NODE = "query($id: ID!) { node(id: $id) { id __typename } }"


def missing_id_like(global_id: str) -> str:
    """An id of the same type whose object does not exist."""
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    type_name = raw.split(":", 1)[0]
    return base64.urlsafe_b64encode(f"{type_name}:987654321".encode()).decode().rstrip("=")


@dataclass
class ScopeCase:
    """One object, one caller who must see it and one who must not."""

    global_id: str
    insider: str
    outsider: str


class ScopeVisibilityMixin:
    """Subclasses provide ``cases(api) -> list[ScopeCase]`` and optionally a list query
    ``list_query`` (with ``$first``) returning ``{...: {nodes: [{id}]}}``."""

    list_query: str | None = None
    list_path: tuple[str, ...] = ()

    async def cases(self, api: Api) -> list[ScopeCase]:
        raise NotImplementedError

    async def test_node_hides_out_of_scope_objects(self, api: Api) -> None:
        for case in await self.cases(api):
            seen = await api.post(NODE, {"id": case.global_id}, as_=case.insider)
            assert seen.json()["data"]["node"]["id"] == case.global_id
            hidden = await api.post(NODE, {"id": case.global_id}, as_=case.outsider)
            missing = await api.post(
                NODE, {"id": missing_id_like(case.global_id)}, as_=case.outsider
            )
            assert hidden.json() == missing.json() == {"data": {"node": None}, **COST_1}

    async def test_lists_leave_out_of_scope_objects_out(self, api: Api) -> None:
        if self.list_query is None:
            pytest.skip("this type has no list of its own; node() is its only path")
        for case in await self.cases(api):
            for who, expected in ((case.insider, True), (case.outsider, False)):
                data = await api.gql(self.list_query, as_=who)
                for key in self.list_path:
                    data = data[key]
                ids = {n["id"] for n in data["nodes"]}
                assert (case.global_id in ids) is expected, (who, case)
