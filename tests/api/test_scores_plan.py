"""A region's department scores read the issues its units were assigned in the period
through ``ix_issue_holding_assigned`` (migration 0027), not every issue its units ever held,
and the ratings its units' resolutions got in the period through the (unit, resolution time)
indexes of 0028, not every rating they ever got (A3b): should the statement stop bounding
``assigned_at`` or ``resolved_at`` where an index can use it, these fail."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role
from closedloop.db.database import Database
from closedloop.domain.periods import quarter_period
from closedloop.domain.regions import RegionLevel
from closedloop.services.evaluation.attribution import _department_statement
from closedloop.services.evaluation.attribution import _region_statement as _region_counts
from closedloop.services.evaluation.targets import TargetKind, peer_group
from closedloop.services.tenancy import RegionRecord
from tests.api.test_pool_plan import _explain_as, _issue_scans, _nodes

EVALUATOR = Principal(
    account_id=1, username="e", display_name="e", role=Role.EVALUATOR, region_code="3305"
)
HUZHOU = RegionRecord("3305", "湖州市", RegionLevel.CITY, "33")


async def _statement(db: Database) -> sa.Select[Any]:
    async with db.admin.connect() as conn:
        group = await peer_group(conn, TargetKind.DEPARTMENT, HUZHOU)
    assert group.targets and group.led_boards  # the demo city has departments and boards
    return _department_statement(EVALUATOR, group, [quarter_period(2026, 3)], every=True)


@pytest.mark.usefixtures("clean_issues")
async def test_department_scores_read_the_periods_assignments_by_index(db: Database) -> None:
    scans = await _issue_scans(db, EVALUATOR, await _statement(db))
    assert ("Index Scan", "ix_issue_holding_assigned") in scans


# Bitmap scans only: a bitmap index scan needs an index condition, so the ratings cannot be
# read by a whole-index scan with a filter, which the planner may pick on the nearly empty
# test table (a clean-clone run did, for the departments' index); what is left to test is
# whether the statement's conditions bound each unit index by resolution time.
_BITMAPS_ONLY = tuple(
    f"SET LOCAL enable_{kind} = off" for kind in ("seqscan", "indexscan", "indexonlyscan")
)


@pytest.mark.usefixtures("clean_issues")
async def test_department_scores_read_the_periods_ratings_by_index(db: Database) -> None:
    """The ratings left behind (A3b) start from those resolved in the period: each unit
    index is read from the period's start to its end, not whole."""
    plan = await _explain_as(db, EVALUATOR, await _statement(db), settings=_BITMAPS_ONLY)
    # One unit index or both (a BitmapOr, or one index read on its resolution time alone
    # and the units checked on the rows: the planner's pick on the nearly empty table, a
    # clean-clone run on the embedded PostgreSQL took the latter); every one of them
    # bounded by the period.
    conditions = [
        n.get("Index Cond", "")
        for n in _nodes(plan)
        if n.get("Index Name", "").startswith("ix_issue_rating_")
    ]
    assert conditions
    for condition in conditions:
        assert "resolved_at >=" in condition and "resolved_at <" in condition, condition


async def _region_statement(db: Database) -> sa.Select[Any]:
    async with db.admin.connect() as conn:
        group = await peer_group(conn, TargetKind.REGION, HUZHOU)
    return _region_counts(EVALUATOR, group, [quarter_period(2026, 3)], every=True)


# Index-only scans are what is tested: the others made dearer, and the tables' pages
# counted all-visible (on the nearly empty test tables an index-only scan is otherwise
# costed like a plain one and the pick follows the index sizes). Only the covering
# indexes can then serve the issues and the lapsed spans without a disabled path.
_ALL_VISIBLE = (
    "LOCK TABLE issue, issue_custody IN SHARE UPDATE EXCLUSIVE MODE",
    "UPDATE pg_class SET reltuples = -1, relallvisible = 2147483647"
    " WHERE oid IN ('issue'::regclass, 'issue_custody'::regclass)",
)
_INDEX_ONLY = tuple(
    f"SET LOCAL enable_{kind} = off" for kind in ("seqscan", "bitmapscan", "indexscan")
)


@pytest.mark.usefixtures("clean_issues")
async def test_region_scores_read_the_issues_and_lapses_from_indexes_alone(db: Database) -> None:
    """A city's county ranking reads the period's issues from ``ix_issue_origin_created``
    alone (it carries what the counters and the issue policy read), probes the lapsed spans
    through ``ix_issue_custody_lapsed_issue``, and reads no rating (their counts are on the
    issue): fails when the statement reads a column the index lacks, or probes the ratings
    or every custody span again (migration 0030)."""
    plan = await _explain_as(
        db, EVALUATOR, await _region_statement(db), as_owner=_ALL_VISIBLE, settings=_INDEX_ONLY
    )
    nodes = _nodes(plan)
    # The period's issues: the scan bounded by creation time (the policy's probes of an
    # issue by id, made dear here, may take any path).
    periods = {
        (n["Node Type"], n.get("Index Name"))
        for n in nodes
        if n.get("Relation Name") == "issue" and "created_at" in n.get("Index Cond", "")
    }
    assert periods == {("Index Only Scan", "ix_issue_origin_created")}
    spans = {
        (n["Node Type"], n.get("Index Name"))
        for n in nodes
        if n.get("Relation Name") == "issue_custody"
    }
    assert spans == {("Index Only Scan", "ix_issue_custody_lapsed_issue")}
    assert not any(n.get("Relation Name") == "issue_rating" for n in nodes)
