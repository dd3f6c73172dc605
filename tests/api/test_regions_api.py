"""The region tree, centers, boards and departments through GraphQL, with scope."""

from __future__ import annotations

from tests.conftest import COST_1, Api

VIEWER = """{ viewer { isAnonymous username role roleLabel scopes region { code name }
  permissions { action targets } } }"""

REGIONS = """query($parent: String, $first: Int, $after: String) {
  regions(parentCode: $parent, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { code name level levelLabel } }
  }
}"""


async def test_viewer_for_a_county_center_account(api: Api) -> None:
    data = await api.gql(VIEWER, as_="deqing.center")
    viewer = data["viewer"]
    assert viewer["isAnonymous"] is False
    assert viewer["role"] == "CENTER_STAFF"
    assert viewer["roleLabel"] == "企业综合服务中心工作人员"
    assert viewer["region"] == {"code": "330521", "name": "德清县"}
    assert viewer["scopes"] == ["330521"]
    actions = {p["action"]: p["targets"] for p in viewer["permissions"]}
    assert actions["issue.escalate"] == ["SELF"]


async def test_english_labels_with_accept_language(api: Api) -> None:
    data = await api.gql(VIEWER, as_="deqing.center", headers={"Accept-Language": "en-US,en"})
    assert data["viewer"]["roleLabel"] == "Service center staff"


async def test_anonymous_viewer_sees_no_tenant_data(api: Api) -> None:
    data = await api.gql(VIEWER + " { __typename }" if False else VIEWER)
    assert data["viewer"]["isAnonymous"] is True
    assert data["viewer"]["permissions"] == []
    regions = await api.gql(REGIONS, {"parent": "33"})
    assert regions["regions"]["totalCount"] == 0


async def test_cities_of_the_province_and_counties_of_huzhou(api: Api) -> None:
    data = await api.gql(REGIONS, {"parent": "33"}, as_="deqing.center")
    conn = data["regions"]
    assert conn["totalCount"] == 11
    assert [e["node"]["level"] for e in conn["edges"]] == ["CITY"] * 11
    assert "湖州市" in [e["node"]["name"] for e in conn["edges"]]
    counties = await api.gql(REGIONS, {"parent": "3305"}, as_="deqing.center")
    names = [e["node"]["name"] for e in counties["regions"]["edges"]]
    assert counties["regions"]["totalCount"] == 5
    assert names == ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县"]


async def test_cursor_pagination_walks_every_row_once(api: Api) -> None:
    seen: list[str] = []
    after = None
    while True:
        data = await api.gql(REGIONS, {"parent": "330521", "first": 4, "after": after}, as_="admin")
        conn = data["regions"]
        seen += [e["node"]["code"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == conn["totalCount"] > 4
    assert seen == sorted(seen)


CENTER = """query($code: String!) { region(code: $code) {
  code parent { code } children { code }
  center { id name } boards { id key name } departments { id key isKey }
} }"""


async def test_county_sees_its_own_center_boards_and_departments(api: Api) -> None:
    data = await api.gql(CENTER, {"code": "330521"}, as_="deqing.center")
    region = data["region"]
    assert region["parent"] == {"code": "3305"}
    assert len(region["children"]) > 5
    assert region["center"]["name"] == "德清县企业综合服务中心"
    assert len(region["boards"]) == 11
    assert "TALENT" in [b["key"] for b in region["boards"]]
    assert len(region["departments"]) == 16
    # Its towns are in scope too.
    town = await api.gql(CENTER, {"code": "330521102"}, as_="deqing.center")
    assert town["region"]["center"] is not None


async def test_sibling_county_answers_like_nothing_exists(api: Api) -> None:
    sibling = await api.gql(CENTER, {"code": "330522"}, as_="deqing.center")
    assert sibling["region"]["center"] is None
    assert sibling["region"]["boards"] == []
    assert sibling["region"]["departments"] == []
    # The parent's center is not the county's either.
    parent = await api.gql(CENTER, {"code": "3305"}, as_="deqing.center")
    assert parent["region"]["center"] is None


NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Center { name } ... on Board { key } ... on Department { key }
  ... on Region { code } } }"""


async def test_node_hides_out_of_scope_objects_exactly_like_missing_ones(api: Api) -> None:
    own = await api.gql(CENTER, {"code": "330521"}, as_="deqing.center")
    foreign = await api.gql(CENTER, {"code": "330522"}, as_="changxing.center")
    own_ids = [
        own["region"]["center"]["id"],
        own["region"]["boards"][0]["id"],
        own["region"]["departments"][0]["id"],
    ]
    foreign_ids = [
        foreign["region"]["center"]["id"],
        foreign["region"]["boards"][0]["id"],
        foreign["region"]["departments"][0]["id"],
    ]
    for gid in own_ids:
        found = await api.gql(NODE, {"id": gid}, as_="deqing.center")
        assert found["node"]["id"] == gid
    for gid in foreign_ids:
        hidden = await api.post(NODE, {"id": gid}, as_="deqing.center")
        missing = await api.post(NODE, {"id": gid[:-2] + "zz"}, as_="deqing.center")
        assert hidden.json() == {"data": {"node": None}, **COST_1}
        assert missing.json() == {"data": {"node": None}, **COST_1}
    # The province monitor sees everything below it.
    for gid in own_ids + foreign_ids:
        assert (await api.gql(NODE, {"id": gid}, as_="province.monitor"))["node"] is not None


async def test_malformed_region_code_is_a_typed_error(api: Api) -> None:
    response = await api.post(CENTER, {"code": "33x5"}, as_="deqing.center")
    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["extensions"]["code"] == "INVALID_REGION_CODE"
    unknown = await api.gql(CENTER, {"code": "3399"}, as_="deqing.center")
    assert unknown["region"] is None


async def test_page_size_is_capped_at_100(api: Api) -> None:
    response = await api.post(REGIONS, {"parent": "33", "first": 101}, as_="admin")
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_PAGING"
    bad_cursor = await api.post(REGIONS, {"parent": "33", "after": "nope"}, as_="admin")
    assert bad_cursor.json()["errors"][0]["extensions"]["code"] == "INVALID_PAGING"


async def test_labels_query_lists_every_enum_in_both_languages(api: Api) -> None:
    data = await api.gql('{ labels(enums: ["RegionLevel"]) { enum values { value zh en label } } }')
    values = {v["value"]: v for v in data["labels"][0]["values"]}
    assert values["COUNTY"]["zh"] == "县（市、区）"
    assert values["COUNTY"]["en"] == "County"
