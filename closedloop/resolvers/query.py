"""The core of the root ``Query`` type: viewer, nodes, regions, labels, issues, problem
lists. Each field hands over to a function of ``closedloop.resolvers`` or ``closedloop.schema``."""

from __future__ import annotations

import strawberry

from closedloop.domain.problem_lists import PushState
from closedloop.resolvers import nodes as node_resolvers
from closedloop.resolvers import regions as region_resolvers
from closedloop.schema import issue_list
from closedloop.schema.context import Info
from closedloop.schema.enums import RegionLevel
from closedloop.schema.issues import Issue, ProblemListPush
from closedloop.schema.labels import EnumLabels, resolve_labels
from closedloop.schema.problem_lists import resolve_pushes
from closedloop.schema.relay import Connection, Node
from closedloop.schema.tenancy import Region
from closedloop.schema.viewer import Viewer, resolve_viewer
from closedloop.services.issues.queries import IssueOrder


@strawberry.type
class CoreQuery:
    @strawberry.field(description="当前调用者 / the caller")
    def viewer(self, info: Info) -> Viewer:
        return resolve_viewer(info)

    @strawberry.field(description="按全局 ID 取对象；不存在或超出范围时为 null")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        result: Node | None = await node_resolvers.node(info, id)
        return result

    @strawberry.field(description="批量按全局 ID 取对象（至多 100 个）/ up to 100 objects by id")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        # More than 100 ids are refused before anything runs (closedloop.schema.shape).
        return await node_resolvers.nodes(info, list(ids))

    @strawberry.field(description="按代码取行政区划 / a region by its GB/T 2260 code")
    async def region(self, info: Info, code: str) -> Region | None:
        return await region_resolvers.region(info, code)

    @strawberry.field(description="行政区划列表 / regions, filtered, as a connection")
    async def regions(
        self,
        info: Info,
        parent_code: str | None = None,
        level: RegionLevel | None = None,
        within: str | None = None,
        name_contains: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Region]:
        return await region_resolvers.regions(
            info, parent_code, level, within, name_contains, first, after
        )

    @strawberry.field(description="枚举的中英文名称 / labels of every enum")
    def labels(self, info: Info, enums: list[str] | None = None) -> list[EnumLabels]:
        return resolve_labels(info, enums)

    @strawberry.field(description="按全局 ID 取诉求；不存在或超出范围时为 null")
    async def issue(self, info: Info, id: strawberry.ID) -> Issue | None:
        return await issue_list.issue(info, id)

    @strawberry.field(description="诉求列表（仅限调用者范围）/ issues in the caller's scope")
    async def issues(
        self,
        info: Info,
        filter: issue_list.IssueFilterInput | None = None,
        order_by: IssueOrder = IssueOrder.CREATED_AT_DESC,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[Issue]:
        return await issue_list.issues(info, filter, order_by, first, after)

    @strawberry.field(
        description="推送七张问题清单的问题（region 及其下级各层级，缺省为范围内全部），最新在前"
        " / issues pushed to the seven problem lists by the tiers of region's subtree (every"
        " tier in scope by default), newest first, with what the applications reported"
    )
    async def problem_list_pushes(
        self,
        info: Info,
        region: str | None = None,
        state: PushState | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[ProblemListPush]:
        return await resolve_pushes(info, region, state, first, after)
