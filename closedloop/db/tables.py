"""Table definitions (SQLAlchemy Core). Migrations in ``closedloop/migrations`` create them.

Region codes use the C collation so a btree range (``code >= p AND code < p||'~'``)
serves subtree scope without any extension.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from closedloop.db.metadata import TZ as TZ
from closedloop.db.metadata import RegionCode as RegionCode
from closedloop.db.metadata import metadata as metadata
from closedloop.db.rollup_tables import COUNTER_COLUMNS as COUNTER_COLUMNS
from closedloop.db.rollup_tables import ISSUE_RATING_COUNTS as ISSUE_RATING_COUNTS
from closedloop.db.rollup_tables import RATING_COLUMNS as RATING_COLUMNS
from closedloop.db.rollup_tables import ROLLUP_COUNTERS as ROLLUP_COUNTERS
from closedloop.db.rollup_tables import ROLLUP_GENERATION as ROLLUP_GENERATION
from closedloop.db.rollup_tables import issue_rollup as issue_rollup
from closedloop.db.rollup_tables import issue_rollup_dirty as issue_rollup_dirty
from closedloop.db.rollup_tables import issue_rollup_slice as issue_rollup_slice

# What row-level security reads of an issue besides its regions (migrations 0012, 0017).
POLICY_COLUMNS = ("enterprise_id", "board_id", "department_id", "submitted_by")
# What a region's scores read of an issue besides its origin and creation time
# (``services.evaluation.attribution``), row-level security's columns included.
SCORED_COLUMNS = (
    "id",
    "holding_region_code",
    "state",
    "proactive",
    "recurred",
    "assigned_at",
    "assign_overdue",
    "resolved_at",
    "overdue",
    "rating",
    *ISSUE_RATING_COUNTS.values(),
    *POLICY_COLUMNS,
)

region = sa.Table(
    "region",
    metadata,
    sa.Column("code", RegionCode, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("parent_code", RegionCode, sa.ForeignKey("region.code"), nullable=True),
    sa.CheckConstraint("level in ('PROVINCE','CITY','COUNTY','TOWN')", name="level"),
    sa.CheckConstraint("parent_code is null or starts_with(code, parent_code)", name="prefix"),
    sa.Index("ix_region_parent_code", "parent_code"),
)

center = sa.Table(
    "center",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
)

board = sa.Table(
    "board",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name_zh", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    sa.Column("lead_department_key", sa.Text, nullable=True),
    sa.UniqueConstraint("region_code", "key", name="uq_board_region_key"),
)

department = sa.Table(
    "department",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name_zh", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    # The 16 key departments are scored; the "+N" ones are not.
    sa.Column("is_key", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("region_code", "key", name="uq_department_region_key"),
)

enterprise = sa.Table(
    "enterprise",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("credit_code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("contact_phone", sa.Text, nullable=True),
    sa.Column("contact_name", sa.Text, nullable=True),
    # Optimistic concurrency of administration (``updateEnterprise``'s ``expectedVersion``).
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_enterprise_region_code", "region_code"),
)

account = sa.Table(
    "account",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=True),
    sa.Column("board_id", sa.Integer, sa.ForeignKey("board.id"), nullable=True),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id"), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    # Optimistic concurrency of administration (``updateAccount``'s ``expectedVersion``).
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint(
        "(role = 'ENTERPRISE') = (enterprise_id is not null)", name="enterprise_binding"
    ),
    sa.CheckConstraint("role = 'ENTERPRISE' or region_code is not null", name="staff_region"),
    sa.Index("ix_account_region_code", "region_code", "id"),
    sa.Index("ix_account_enterprise_id", "enterprise_id"),
)

# Every administrative change (who, when, what, before -> after), appended only: neither
# database role may update or delete a row (grants, and a trigger for everyone else).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("occurred_at", TZ, nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    # The account's username, or the operator's name for the command line / the system.
    sa.Column("actor_name", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("object_kind", sa.Text, nullable=False),
    sa.Column("object_id", sa.BigInteger, nullable=True),
    # The region whose subtree the change belongs to: who may read the entry.
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("before", pg.JSONB, nullable=True),
    sa.Column("after", pg.JSONB, nullable=True),
    sa.Index("ix_audit_log_region_code", "region_code", "id"),
    sa.Index("ix_audit_log_object", "object_kind", "object_id"),
)

# Where the notifications of a region's subtree are posted (besides CLOSEDLOOP_WEBHOOK_URLS):
# administered through the API, read by the relay; the system role's alone.
webhook_endpoint = sa.Table(
    "webhook_endpoint",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    # The kinds (outbox topics) it wants; empty: every kind.
    sa.Column("event_kinds", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", TZ, nullable=False),
    sa.Index("ix_webhook_endpoint_region_code", "region_code"),
)

# A channel system's credentials (OAuth 2.0 client credentials): the client id it names
# itself by, and only a hash of its secret. One per channel service account.
channel_client = sa.Table(
    "channel_client",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), primary_key=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("client_id", sa.Text, nullable=False, unique=True),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("secret_set_at", TZ, nullable=False),
)

# --- the issue loop -------------------------------------------------------------------

time_limit_rule = sa.Table(
    "time_limit_rule",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    # NULL region = every region; the longest matching prefix wins. NULL category = any.
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=True),
    sa.Column("category", sa.Text, nullable=True),
    sa.Column("assign_days", sa.Integer, nullable=False),
    sa.Column("reply_days", sa.Integer, nullable=False),
    sa.Column("working_days", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("assign_days > 0 and reply_days > 0", name="positive"),
    sa.UniqueConstraint("region_code", "category", name="uq_time_limit_rule_scope"),
)

issue_number = sa.Table(
    "issue_number",
    metadata,
    sa.Column("region_code", RegionCode, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

issue = sa.Table(
    "issue",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("number", sa.Text, nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id"), nullable=False),
    sa.Column("origin_region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("holding_region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("proactive", sa.Boolean, nullable=False),
    sa.Column("external_id", sa.Text, nullable=True),
    sa.Column("category", sa.Text, nullable=True),
    sa.Column("tags", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("board_id", sa.Integer, sa.ForeignKey("board.id"), nullable=True),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("handling_level", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("submitted_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    sa.Column("accepted_at", TZ, nullable=True),
    sa.Column("assigned_at", TZ, nullable=True),
    sa.Column("started_at", TZ, nullable=True),
    # The running time limit: which one (ASSIGN or REPLY), when yellow, when red.
    sa.Column("clock_kind", sa.Text, nullable=True),
    sa.Column("clock_started_at", TZ, nullable=True),
    sa.Column("warn_at", TZ, nullable=True),
    sa.Column("due_at", TZ, nullable=True),
    sa.Column("light_notified", sa.Text, nullable=True),
    sa.Column("assign_overdue", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resolved_at", TZ, nullable=True),
    sa.Column("reply", sa.Text, nullable=True),
    sa.Column("overdue", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("closed_at", TZ, nullable=True),
    sa.Column("rating", sa.Text, nullable=True),
    sa.Column("rating_comment", sa.Text, nullable=True),
    sa.Column("rated_at", TZ, nullable=True),
    sa.Column("last_urged_at", TZ, nullable=True),
    sa.Column("urge_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("merged_into_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    # Set while a tier has delegated the issue down: where it must come back to.
    sa.Column("delegated_from_region_code", RegionCode, nullable=True),
    sa.Column("escalation_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delegation_return_count", sa.Integer, nullable=False, server_default="0"),
    # Learning: this issue repeats an earlier resolved one; that one "recurred".
    sa.Column("recurrence_of_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=True),
    sa.Column("recurred", sa.Boolean, nullable=False, server_default=sa.false()),
    # Its ratings on record by grade (ISSUE_RATING_COUNTS): a region's scores count them
    # without reading each rating and its policy (0030).
    *(
        sa.Column(name, sa.Integer, nullable=False, server_default="0")
        for name in ISSUE_RATING_COUNTS.values()
    ),
    sa.UniqueConstraint("channel", "external_id", name="uq_issue_channel_external_id"),
    # With what row-level security reads: counts in a scope without the table (0026).
    sa.Index(
        "ix_issue_holding_state",
        "holding_region_code",
        "state",
        "id",
        postgresql_include=["origin_region_code", *POLICY_COLUMNS],
    ),
    sa.Index(
        "ix_issue_origin",
        "origin_region_code",
        "id",
        postgresql_include=["holding_region_code", "state", *POLICY_COLUMNS],
    ),
    sa.Index("ix_issue_enterprise", "enterprise_id", "id"),
    sa.Index("ix_issue_created", "created_at", "id"),
    # A city's or county's department scores: what its units were assigned in a period (0027).
    sa.Index("ix_issue_holding_assigned", "holding_region_code", "assigned_at"),
    # A region's scores read a period's issues of a subtree from this index alone: what
    # they count and what row-level security reads (0030).
    sa.Index(
        "ix_issue_origin_created",
        "origin_region_code",
        "created_at",
        postgresql_include=SCORED_COLUMNS,
    ),
    sa.Index(
        "ix_issue_running_clock",
        "origin_region_code",
        "created_at",
        postgresql_include=[
            "id",
            "enterprise_id",
            "holding_region_code",
            "state",
            "board_id",
            "department_id",
            "warn_at",
            "due_at",
            "submitted_by",  # row-level security reads it (a channel system's scope)
        ],
        postgresql_where=sa.text("clock_kind is not null"),
    ),
    sa.Index("ix_issue_tags", "tags", postgresql_using="gin"),
    # A channel system reads back what it sent, changed since it last asked.
    sa.Index("ix_issue_submitter_updated", "submitted_by", "updated_at", "id"),
    sa.Index("ix_issue_due", "due_at", postgresql_where=sa.text("clock_kind is not null")),
    sa.Index(
        "ix_issue_pool",
        "holding_region_code",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        # The pool's count reads these (row-level security, and a pool page's state
        # filter): an index-only scan (migration 0008).
        postgresql_include=["state", "origin_region_code", *POLICY_COLUMNS],
        postgresql_where=sa.text(
            "state IN ('SUBMITTED','ACCEPTED','ASSIGNED','IN_PROGRESS','REOPENED')"
        ),
    ),
)

issue_event = sa.Table(
    "issue_event",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=False),
    sa.Column("occurred_at", TZ, nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("actor_name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("from_state", sa.Text, nullable=True),
    sa.Column("to_state", sa.Text, nullable=True),
    sa.Column("public", sa.Boolean, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("payload", pg.JSONB, nullable=False, server_default="{}"),
    sa.Index("ix_issue_event_issue", "issue_id", "id"),
    # Appended under row-level security; a RETURNING would re-read rows the writer may no
    # longer see (an event on an issue that just left its scope).
    implicit_returning=False,
)

idempotency_key = sa.Table(
    "idempotency_key",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("issue_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    # The row the first request answered with (see closedloop.services.idempotency).
    sa.Column("result", pg.JSONB, nullable=True),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),  # SMS to the enterprise, OA to a handler
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=True),
    sa.Column("payload", pg.JSONB, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TZ, nullable=False),
    sa.Column("delivered_at", TZ, nullable=True),
    sa.Column("failed_at", TZ, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(
        "ix_outbox_pending",
        "next_attempt_at",
        postgresql_where=sa.text("delivered_at is null and failed_at is null"),
    ),
    # Appended under row-level security; a RETURNING would re-read rows the writer may no
    # longer see (an event on an issue that just left its scope).
    implicit_returning=False,
)

issue_custody = sa.Table(
    "issue_custody",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("handling_level", sa.Text, nullable=False),
    # The unit of the holding region working on it (none while the center has the move).
    sa.Column("board_id", sa.Integer, sa.ForeignKey("board.id"), nullable=True),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("started_at", TZ, nullable=False),
    sa.Column("ended_at", TZ, nullable=True),
    # Limits whose deadline fell in this span and that ended late, and their late time
    # (closedloop.domain.custody: charged to this holder whoever held the issue later).
    sa.Column("overdue_seconds", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("lapsed_limits", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_issue_custody_issue", "issue_id", "id"),
    sa.Index("ix_issue_custody_region", "region_code", "started_at"),
    # A region's scores probe each resolved issue for a lapse charged inside the target
    # (A6): the few lapsed spans only, without the heap (0030).
    sa.Index(
        "ix_issue_custody_lapsed_issue",
        "issue_id",
        postgresql_include=["region_code"],
        postgresql_where=sa.text("lapsed_limits > 0"),
    ),
    # A department scoreboard's lapses charged to units that no longer hold the issue
    # (migration 0024): read by the units' ids, not by scanning every span.
    sa.Index(
        "ix_issue_custody_lapsed_department",
        "department_id",
        postgresql_where=sa.text("lapsed_limits > 0"),
    ),
    sa.Index(
        "ix_issue_custody_lapsed_board", "board_id", postgresql_where=sa.text("lapsed_limits > 0")
    ),
    # Appended under row-level security; a RETURNING would re-read rows the writer may no
    # longer see (an event on an issue that just left its scope).
    implicit_returning=False,
)

# Every rating an enterprise gave, kept when the issue is reopened and resolved again:
# which resolution it rated (its ordinal and time) and who held the issue then.
issue_rating = sa.Table(
    "issue_rating",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=False),
    sa.Column("resolution", sa.Integer, nullable=False),
    sa.Column("resolved_at", TZ, nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("board_id", sa.Integer, sa.ForeignKey("board.id"), nullable=True),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("grade", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("rated_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("rated_at", TZ, nullable=False),
    sa.UniqueConstraint("issue_id", "resolution", name="uq_issue_rating_issue_resolution"),
    # A department scoreboard's ratings of resolutions an issue has left behind, read from
    # those of the period (0028).
    sa.Index("ix_issue_rating_department_resolved", "department_id", "resolved_at"),
    sa.Index("ix_issue_rating_board_resolved", "board_id", "resolved_at"),
    implicit_returning=False,
)

problem_list_push = sa.Table(
    "problem_list_push",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=False),
    # The tier whose 七张问题清单 application gets it (the tier that held the issue).
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("pushed_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("pushed_at", TZ, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # closedloop.domain.problem_lists.PushState
    # The application's receipt: its own reference of the problem.
    sa.Column("reference", sa.Text, nullable=True),
    sa.Column("delivered_at", TZ, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # The application's latest report.
    sa.Column("reported_at", TZ, nullable=True),
    sa.Column("report_message", sa.Text, nullable=True),
    sa.Column("updated_at", TZ, nullable=False),
    sa.UniqueConstraint("issue_id", "region_code", name="uq_problem_list_push_issue_region"),
    sa.UniqueConstraint("region_code", "reference", name="uq_problem_list_push_reference"),
    sa.Index("ix_problem_list_push_region", "region_code", "id"),
    # Appended under row-level security; a RETURNING would re-read rows the writer may no
    # longer see (an event on an issue that just left its scope).
    implicit_returning=False,
)

# --- learning: duplicates, tags, cases, callbacks -------------------------------------

issue_similarity_key = sa.Table(
    "issue_similarity_key",
    metadata,
    # MinHash band keys and the enterprise key (closedloop.domain.similarity), with the
    # county and date so a look-up stays inside one subtree and time window in the index.
    sa.Column("key", sa.BigInteger, primary_key=True),
    sa.Column("county_code", RegionCode, primary_key=True),
    sa.Column("created_at", TZ, primary_key=True),
    # The issue's: checked once per statement by triggers, not per key by a foreign key
    # (migration 0022: 33 keys an issue made the per-row checks most of an import's cost),
    # nor per key by the request role's insert policy (0028: the trigger checks the scope).
    sa.Column("issue_id", sa.BigInteger, primary_key=True),
    sa.Index("ix_issue_similarity_key_issue", "issue_id"),
)

tag = sa.Table(
    "tag",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("province_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("tag.id"), nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("keywords", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.UniqueConstraint("province_code", "path", name="uq_tag_province_path"),
)

model_case = sa.Table(
    "model_case",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=False, unique=True),
    sa.Column("province_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("problem", sa.Text, nullable=False),
    sa.Column("solution", sa.Text, nullable=False),
    sa.Column("tags", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("shared_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("shared_at", TZ, nullable=False),
    sa.Index("ix_model_case_province", "province_code", "id"),
)

callback_sample = sa.Table(
    "callback_sample",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("period_label", sa.Text, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("rate", sa.Numeric(5, 4), nullable=False),
    sa.Column("seed", sa.Text, nullable=False),
    sa.Column("population", sa.Integer, nullable=False),
    sa.Column("drawn_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("drawn_at", TZ, nullable=False),
    sa.UniqueConstraint("region_code", "period_label", name="uq_callback_sample_region_period"),
)

callback_item = sa.Table(
    "callback_item",
    metadata,
    sa.Column("sample_id", sa.Integer, sa.ForeignKey("callback_sample.id"), primary_key=True),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), primary_key=True),
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("verified_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("verified_at", TZ, nullable=True),
    sa.Index("ix_callback_item_issue", "issue_id"),
)

# --- evaluation: external indicator inputs, red and black lists ------------------------

indicator_record = sa.Table(
    "indicator_record",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("scheme", sa.Text, nullable=False),
    sa.Column("indicator_key", sa.Text, nullable=False),
    sa.Column("target_kind", sa.Text, nullable=False),  # DEPARTMENT or REGION
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("period_label", sa.Text, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("value", pg.JSONB, nullable=False),
    sa.Column("recorded_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("recorded_at", TZ, nullable=False),
    # A newer record for the same target, indicator and period supersedes; history stays.
    sa.Column("superseded_by", sa.BigInteger, sa.ForeignKey("indicator_record.id"), nullable=True),
    sa.Index(
        "ix_indicator_record_current",
        "scheme",
        "region_code",
        "period_start",
        postgresql_where=sa.text("superseded_by is null"),
    ),
)

list_entry = sa.Table(
    "list_entry",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # RED or BLACK
    sa.Column("target_kind", sa.Text, nullable=False),
    sa.Column("region_code", RegionCode, sa.ForeignKey("region.code"), nullable=False),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id"), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("issue_id", sa.BigInteger, sa.ForeignKey("issue.id"), nullable=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("model_case.id"), nullable=True),
    sa.Column("listed_on", sa.Date, nullable=False),
    sa.Column("added_by", sa.Integer, sa.ForeignKey("account.id"), nullable=True),
    sa.Column("added_at", TZ, nullable=False),
    sa.Index("ix_list_entry_region", "region_code", "listed_on"),
)


# When each once-only background round last started (``closedloop.services.periodic``).
periodic_run = sa.Table(
    "periodic_run",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("started_at", TZ, nullable=True),
    sa.Column("runs", sa.BigInteger, nullable=False, server_default="0"),
)
