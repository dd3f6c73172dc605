"""Shared GraphQL snippets and steps for the issue-loop tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api

ISSUE_FIELDS = """id number title state stateLabel version channel proactive category tags
handlingLevel route dueAt light overdue reply rating urgeCount nextUrgeAllowedAt reopenCount
board { key } department { key } holdingRegion { code } originRegion { code }
enterprise { name creditCode }"""

PAYLOAD = f"issue {{ {ISSUE_FIELDS} }} errors {{ code message field }} replayed"


def mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


async def run(api: Api, name: str, input_: dict[str, Any], as_: str) -> dict[str, Any]:
    input_type = name[0].upper() + name[1:] + "Input"
    data = await api.gql(mutation(name, input_type), {"input": input_}, as_=as_)
    result: dict[str, Any] = data[name]
    return result


async def ok(api: Api, name: str, input_: dict[str, Any], as_: str) -> dict[str, Any]:
    result = await run(api, name, input_, as_)
    assert result["errors"] == [], result["errors"]
    issue: dict[str, Any] = result["issue"]
    return issue


async def submit(api: Api, as_: str = "ent.xinshi-silk", **extra: Any) -> dict[str, Any]:
    body = {
        "title": "招不到熟练挡车工",
        "content": "企业扩产后缺少熟练挡车工约30人，希望协助招聘。",
    }
    body.update(extra)
    return await ok(api, "submitIssue", body, as_)


async def step(
    api: Api, name: str, issue: dict[str, Any], as_: str, **extra: Any
) -> dict[str, Any]:
    return await ok(
        api, name, {"id": issue["id"], "expectedVersion": issue["version"], **extra}, as_
    )


async def unit_id(api: Api, region: str, kind: str, key: str, as_: str = "admin") -> str:
    data = await api.gql(
        "query($c: String!) { region(code: $c) { boards { id key } departments { id key } } }",
        {"c": region},
        as_=as_,
    )
    units = data["region"][kind]
    found: str = next(u["id"] for u in units if u["key"] == key)
    return found


def key() -> str:
    return uuid.uuid4().hex
