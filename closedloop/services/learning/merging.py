"""Telling every merged reporter when the primary is resolved."""

from __future__ import annotations

import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.domain.issues import IssueState
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import CommandTx


async def tell_merged_reporters(tx: CommandTx, primary: IssueRecord, reply: str) -> None:
    """When a primary is resolved, every merged reporter hears it on its own timeline."""
    rows = await tx.conn.execute(
        sa.select(t.issue_event.c.payload).where(
            t.issue_event.c.issue_id == primary.id, t.issue_event.c.type == "MERGED_IN"
        )
    )
    for payload in rows.scalars():
        for dup in payload.get("duplicates", []):
            await tx.append_event(
                int(dup["id"]),
                "PRIMARY_RESOLVED",
                from_state=IssueState.MERGED,
                to_state=IssueState.MERGED,
                public=True,
                message=reply,
                payload={"primaryId": primary.id, "primary": primary.number},
            )
            phone = await tx.enterprise_phone(int(dup["enterpriseId"]))
            await tx.notify_about(
                int(dup["id"]),
                str(dup["number"]),
                str(dup["title"]),
                "SMS",
                phone,
                "ISSUE_RESOLVED",
                f"您反映的问题（{dup['number']}）已随（{primary.number}）办结：{reply[:200]}",
            )
