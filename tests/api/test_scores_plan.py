"""A region's department scores read the issues its units were assigned in the period
through ``ix_issue_holding_assigned`` (migration 0027), not every issue its units ever held:
should the statement stop bounding ``assigned_at`` where an index can use it, this fails."""

from __future__ import annotations

import pytest

from closedloop.authz.roles import Principal, Role
from closedloop.db.database import Database
from closedloop.domain.periods import quarter_period
from closedloop.domain.regions import RegionLevel
from closedloop.services.evaluation.attribution import _department_statement
from closedloop.services.evaluation.targets import TargetKind, peer_group
from closedloop.services.tenancy import RegionRecord
from tests.api.test_pool_plan import _issue_scans

EVALUATOR = Principal(
    account_id=1, username="e", display_name="e", role=Role.EVALUATOR, region_code="3305"
)


@pytest.mark.usefixtures("clean_issues")
async def test_department_scores_read_the_periods_assignments_by_index(db: Database) -> None:
    region = RegionRecord("3305", "湖州市", RegionLevel.CITY, "33")
    async with db.admin.connect() as conn:
        group = await peer_group(conn, TargetKind.DEPARTMENT, region)
    assert group.targets  # the demo city has departments
    statement = _department_statement(EVALUATOR, group, [quarter_period(2026, 3)], every=True)
    scans = await _issue_scans(db, EVALUATOR, statement)
    assert ("Index Scan", "ix_issue_holding_assigned") in scans
