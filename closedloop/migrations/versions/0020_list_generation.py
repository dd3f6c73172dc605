"""red/black list entries raise their slice's generation, so a kept dashboard keeps its lists

A dashboard shows the red and black lists of its region and period (``list_entry``, newest
50 of each kind with the name of whoever added them). A kept dashboard (migration 0019,
``closedloop.services.evaluation.dashboard_cache``) now keeps them too, so every write a
kept list depends on raises the generation of the slice it falls in, in the writer's
transaction, as a refresh does for the issues:

- an entry added, changed or removed: the slice of its region's county and its month
  (``left(region_code, 6)``, the month of ``listed_on``), before and after;
- an account renamed, or moved to another region or enterprise (the name shown, and who
  may read it): the slices of every entry it added;
- TRUNCATE of ``list_entry`` (tests): every slice.

Both functions are SECURITY DEFINER, owned by ``closedloop_system`` (the request role has no
privilege on ``issue_rollup_slice``), as the rollup's dirty-slice trigger.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SYSTEM = "closedloop_system"
STAMP = """
  INSERT INTO issue_rollup_slice (county_code, month, generation)
  SELECT county_code, month, (SELECT nextval('issue_rollup_generation')) FROM ({slices}) AS s
  ON CONFLICT (county_code, month) DO UPDATE SET generation = excluded.generation;"""
ENTRY_SLICE = (
    "SELECT left({row}.region_code, 6) AS county_code,"
    " date_trunc('month', {row}.listed_on)::date AS month"
)
FUNCTIONS = ("closedloop_list_entry_stamp()", "closedloop_list_adder_stamp()")


def upgrade() -> None:
    old = STAMP.format(slices=ENTRY_SLICE.format(row="OLD"))
    new = STAMP.format(slices=ENTRY_SLICE.format(row="NEW"))
    op.execute(
        f"""
        CREATE FUNCTION closedloop_list_entry_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'TRUNCATE' THEN
            UPDATE issue_rollup_slice SET generation = (SELECT nextval('issue_rollup_generation'));
            RETURN NULL;
          END IF;
          IF TG_OP <> 'INSERT' THEN {old}
          END IF;
          IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT'
              OR left(OLD.region_code, 6) <> left(NEW.region_code, 6)
              OR date_trunc('month', OLD.listed_on) <> date_trunc('month', NEW.listed_on)) THEN
            {new}
          END IF;
          RETURN NULL;
        END $$
        """
    )
    adder = STAMP.format(
        slices="SELECT DISTINCT left(region_code, 6) AS county_code,"
        " date_trunc('month', listed_on)::date AS month FROM list_entry WHERE added_by = NEW.id"
    )
    op.execute(
        f"""
        CREATE FUNCTION closedloop_list_adder_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          {adder}
          RETURN NULL;
        END $$
        """
    )
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} SECURITY DEFINER SET search_path = public, pg_temp")
        op.execute(f"ALTER FUNCTION {function} OWNER TO {SYSTEM}")
    op.execute(
        "CREATE TRIGGER list_entry_stamp AFTER INSERT OR UPDATE OR DELETE ON list_entry"
        " FOR EACH ROW EXECUTE FUNCTION closedloop_list_entry_stamp()"
    )
    op.execute(
        "CREATE TRIGGER list_entry_truncate_stamp AFTER TRUNCATE ON list_entry"
        " FOR EACH STATEMENT EXECUTE FUNCTION closedloop_list_entry_stamp()"
    )
    op.execute(
        "CREATE TRIGGER account_list_stamp AFTER UPDATE ON account FOR EACH ROW WHEN ("
        "OLD.display_name IS DISTINCT FROM NEW.display_name"
        " OR OLD.region_code IS DISTINCT FROM NEW.region_code"
        " OR OLD.enterprise_id IS DISTINCT FROM NEW.enterprise_id)"
        " EXECUTE FUNCTION closedloop_list_adder_stamp()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER account_list_stamp ON account")
    op.execute("DROP TRIGGER list_entry_truncate_stamp ON list_entry")
    op.execute("DROP TRIGGER list_entry_stamp ON list_entry")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
