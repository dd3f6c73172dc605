"""Where a lag-tolerant answer was read, and how old its data is (``Database.read_tolerant``)."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop.db.replicas import Freshness


@strawberry.type(description="数据来源与时效 / where an answer was read and how old its data is")
class DataFreshness:
    from_replica: bool = strawberry.field(
        description="由只读副本提供 / served by a streaming replica"
    )
    as_of: dt.datetime = strawberry.field(
        description=(
            "数据截至：副本最后重放的提交时间；主库为读取时刻 / data as of: the replica's last "
            "replayed commit (everything committed until then is included); on the primary, "
            "the moment of the read"
        )
    )

    @classmethod
    def of(cls, freshness: Freshness, now: dt.datetime) -> DataFreshness:
        return cls(from_replica=freshness.from_replica, as_of=freshness.data_as_of(now))
