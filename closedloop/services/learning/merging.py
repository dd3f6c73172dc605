"""Telling every merged reporter when the primary is resolved."""

from __future__ import annotations

from closedloop.domain.issues import IssueState
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import UnitOfWork


async def tell_merged_reporters(tx: UnitOfWork, primary: IssueRecord, reply: str) -> None:
    """When a primary is resolved, every merged reporter hears it on its own timeline."""
    for dup in await tx.merged_duplicates(primary.id):
        await tx.append_event(
            int(dup["id"]),
            "PRIMARY_RESOLVED",
            from_state=IssueState.MERGED,
            to_state=IssueState.MERGED,
            public=True,
            message=reply,
            payload={"primaryId": primary.id, "primary": primary.number},
        )
        await tx.touch(int(dup["id"]))  # read back as changed (a channel's 办理结果回推)
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
