"""The similarity keys' issue, in the writer's scope: checked once per statement

Every issue writes 33 similarity keys in one statement (``bulk_submit``: a batch's keys in
one). The request role's insert policy asked of each key row that its issue be one the
writer sees (``EXISTS (SELECT 1 FROM issue i WHERE i.id = issue_id)`` under the issue's own
policy): an index probe of the issue and its policy per key, 33 per issue, about a tenth
of a bulk import's PostgreSQL time at 1M issues.

The same rule now holds once per statement, in the trigger migration 0022 added for the
issue's existence, which now runs as the writer (SECURITY INVOKER) instead of as the system:
every issue the statement's keys name must be one the writer sees *and* may lock
(``FOR KEY SHARE``, which also applies the issue's update policy), else the whole statement
is refused (``foreign_key_violation``, "does not exist or is outside the writer's scope",
the same answer for both: the writer learns nothing of issues outside its scope). For the
system role, which sees every issue, that is the foreign key's rule of 0022; for the request
role it is the old policy's (its issue visible) and the issue's update policy (a key is
written with its new issue, which the writer just inserted under the same condition). The
request role's insert policy on the keys becomes ``WITH CHECK (true)``: the trigger, which
it cannot disable (only the table's owner can), refuses what the policy refused.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

SYSTEM = "closedloop_system"
FUNCTION = "closedloop_similarity_key_issue_exists()"
# The per-row condition of migration 0012 (``_ISSUE_CHILD``), put back by the downgrade.
_ISSUE_CHILD = "EXISTS (SELECT 1 FROM issue i WHERE i.id = issue_id)"


def _function(security: str, refusal: str, counts: str) -> str:
    """0022's trigger function: ``counts`` sets ``wanted`` (the issues the statement's keys
    name) and ``found`` (those of them locked)."""
    return f"""
        CREATE OR REPLACE FUNCTION {FUNCTION} RETURNS trigger
        LANGUAGE plpgsql {security} SET search_path = public, pg_temp AS $$
        DECLARE
          wanted bigint;
          found bigint;
        BEGIN
          {counts}
          IF found <> wanted THEN
            RAISE EXCEPTION '{refusal}'
              USING ERRCODE = 'foreign_key_violation',
                    CONSTRAINT = 'fk_issue_similarity_key_issue_id_issue';
          END IF;
          RETURN NULL;
        END $$
        """


# 0022's: the named issues counted by sorting the keys (count DISTINCT), then hashed again.
_COUNTS_0022 = """
          SELECT count(DISTINCT issue_id) INTO wanted FROM new_keys;
          SELECT count(*) INTO found FROM (
            SELECT 1 FROM issue i WHERE i.id IN (SELECT issue_id FROM new_keys)
            FOR KEY SHARE OF i
          ) locked;"""
# The named issues hashed out of the keys once (≈2,000 ids of ≈66,000 rows in an import
# batch): counted, and the issues of those ids the writer sees locked and counted.
_COUNTS = """
          WITH named AS MATERIALIZED (SELECT DISTINCT issue_id FROM new_keys)
          SELECT count(*), (
            SELECT count(*) FROM (
              SELECT 1 FROM issue i JOIN named n ON i.id = n.issue_id FOR KEY SHARE OF i
            ) locked
          ) INTO wanted, found
          FROM named;"""


def upgrade() -> None:
    op.execute(
        _function(
            "SECURITY INVOKER",
            "a similarity key names an issue that does not exist or is outside the writer''s scope",
            _COUNTS,
        )
    )
    op.execute("ALTER POLICY issue_similarity_key_insert ON issue_similarity_key WITH CHECK (true)")
    op.execute(
        "COMMENT ON POLICY issue_similarity_key_insert ON issue_similarity_key IS"
        " 'Each statement''s keys are checked at once by the trigger"
        " issue_similarity_key_issue_insert (migration 0029): their issues visible to"
        " the writer and locked, else the statement is refused.'"
    )


def downgrade() -> None:
    op.execute("COMMENT ON POLICY issue_similarity_key_insert ON issue_similarity_key IS NULL")
    op.execute(
        "ALTER POLICY issue_similarity_key_insert ON issue_similarity_key"
        f" WITH CHECK ({_ISSUE_CHILD})"
    )
    op.execute(
        _function(
            "SECURITY DEFINER",
            "a similarity key names an issue that does not exist",
            _COUNTS_0022,
        )
    )
    op.execute(f"ALTER FUNCTION {FUNCTION} OWNER TO {SYSTEM}")
