"""The similarity keys' reference to their issue, checked once per statement

Every issue writes 33 similarity keys (closedloop.domain.similarity) in the statement that
writes its others' too (``bulk_submit``: one statement for a whole batch). The foreign key
``issue_similarity_key.issue_id -> issue.id`` checked each of those rows on its own: a query
and a ``FOR KEY SHARE`` lock on the issue per key. Measured at 1M issues, a batch of 500
issues spent ~1.9-2.7 s of its ~2.5-3.2 s key insert in those checks (without them
0.5-0.7 s); the import's load was mostly that.

The same rule now holds through statement-level triggers, once per statement:
- inserting or updating keys: every issue they name exists (read as the system role, as
  the foreign key's check read past row-level security; the application role's insert
  policy still demands of every key that its issue is in the writer's scope) and is locked
  ``FOR KEY SHARE`` to commit, as the foreign key did, so it cannot be deleted meanwhile;
  else ``foreign_key_violation``;
- deleting issues that still have keys: ``foreign_key_violation`` (the foreign key's
  ``NO ACTION``); ``TRUNCATE issue ... CASCADE`` empties the keys too (the foreign key made
  the cascade reach them). Issue ids are identities, never updated.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

FK = "fk_issue_similarity_key_issue_id_issue"
SYSTEM = "closedloop_system"


def upgrade() -> None:
    op.drop_constraint(FK, "issue_similarity_key", type_="foreignkey")
    op.execute(
        """
        CREATE FUNCTION closedloop_similarity_key_issue_exists() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
          wanted bigint;
          found bigint;
        BEGIN
          SELECT count(DISTINCT issue_id) INTO wanted FROM new_keys;
          SELECT count(*) INTO found FROM (
            SELECT 1 FROM issue i WHERE i.id IN (SELECT issue_id FROM new_keys)
            FOR KEY SHARE OF i
          ) locked;
          IF found <> wanted THEN
            RAISE EXCEPTION 'a similarity key names an issue that does not exist'
              USING ERRCODE = 'foreign_key_violation',
                    CONSTRAINT = 'fk_issue_similarity_key_issue_id_issue';
          END IF;
          RETURN NULL;
        END $$
        """
    )
    # As the system (every issue, whoever writes the keys), like the foreign key's check.
    op.execute(f"ALTER FUNCTION closedloop_similarity_key_issue_exists() OWNER TO {SYSTEM}")
    op.execute("REVOKE ALL ON FUNCTION closedloop_similarity_key_issue_exists() FROM PUBLIC")
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER issue_similarity_key_issue_{event.lower()}
            AFTER {event} ON issue_similarity_key REFERENCING NEW TABLE AS new_keys
            FOR EACH STATEMENT EXECUTE FUNCTION closedloop_similarity_key_issue_exists()
            """
        )
    op.execute(
        """
        CREATE FUNCTION closedloop_issue_keys_left() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (
            SELECT 1 FROM issue_similarity_key k JOIN gone g ON g.id = k.issue_id
          ) THEN
            RAISE EXCEPTION 'the issue still has similarity keys'
              USING ERRCODE = 'foreign_key_violation',
                    CONSTRAINT = 'fk_issue_similarity_key_issue_id_issue';
          END IF;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER issue_similarity_keys_left AFTER DELETE ON issue
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION closedloop_issue_keys_left()
        """
    )
    op.execute(
        """
        CREATE FUNCTION closedloop_issue_keys_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          TRUNCATE issue_similarity_key;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER issue_similarity_keys_truncate AFTER TRUNCATE ON issue
        FOR EACH STATEMENT EXECUTE FUNCTION closedloop_issue_keys_truncate()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER issue_similarity_keys_truncate ON issue")
    op.execute("DROP FUNCTION closedloop_issue_keys_truncate()")
    op.execute("DROP TRIGGER issue_similarity_keys_left ON issue")
    op.execute("DROP FUNCTION closedloop_issue_keys_left()")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER issue_similarity_key_issue_{event} ON issue_similarity_key")
    op.execute("DROP FUNCTION closedloop_similarity_key_issue_exists()")
    op.create_foreign_key(FK, "issue_similarity_key", "issue", ["issue_id"], ["id"])
