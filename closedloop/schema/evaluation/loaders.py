"""Loaders kept per request: no N+1 on record history and superseding links."""

from __future__ import annotations

import datetime as dt

from strawberry.dataloader import DataLoader

from closedloop.authz.roles import Principal
from closedloop.db.database import Database
from closedloop.schema.context import Info
from closedloop.services.evaluation import record_queries as record_service
from closedloop.services.evaluation.record_queries import (
    IndicatorRecordRow,
    ListEntryRow,
)

# --- loaders kept per request (no N+1 on history and superseding links) ----------------------


RecordKey = tuple[str, str, str, str, int | None, dt.date, dt.date]


class EvaluationLoaders:
    def __init__(self, db: Database, principal: Principal) -> None:
        async def history(keys: list[RecordKey]) -> list[list[IndicatorRecordRow]]:
            async with db.read(principal) as conn:
                found = await record_service.record_history(conn, keys)
            return [found.get(k, []) for k in keys]

        async def records(ids: list[int]) -> list[IndicatorRecordRow | None]:
            async with db.read(principal) as conn:
                found = await record_service.records_by_id(conn, ids)
            return [found.get(i) for i in ids]

        async def entries(ids: list[int]) -> list[ListEntryRow | None]:
            async with db.read(principal) as conn:
                found = await record_service.entries_by_id(conn, ids)
            return [found.get(i) for i in ids]

        self.history: DataLoader[RecordKey, list[IndicatorRecordRow]] = DataLoader(history)
        self.record: DataLoader[int, IndicatorRecordRow | None] = DataLoader(records)
        self.entry: DataLoader[int, ListEntryRow | None] = DataLoader(entries)


def evaluation_loaders(info: Info) -> EvaluationLoaders:
    found = info.context.extras.get("evaluation_loaders")
    if not isinstance(found, EvaluationLoaders):
        found = EvaluationLoaders(info.context.db, info.context.principal)
        info.context.extras["evaluation_loaders"] = found
    return found
