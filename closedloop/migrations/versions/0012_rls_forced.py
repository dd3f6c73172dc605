"""row-level security enabled and forced on every tenant table; a system role; least privilege

Before: the API's role ``closedloop_app`` had SELECT/INSERT/UPDATE/DELETE on every table
(``alembic_version`` included), row-level security guarded 5 of 24 tables and was forced on
none, and every policy let a transaction tagged ``closedloop.role = 'SYSTEM'`` see
everything, a tag the API's role could set itself.

Roles
-----
- ``closedloop_app`` serves requests. It sees tenant rows only through the policies below,
  which read the caller's scope from the transaction's settings (``closedloop.role``,
  ``.region``, ``.enterprise``, ``.board``, ``.department``, ``.account``). No value of
  those settings widens it past one caller's scope: there is no "system" value any more,
  and a setting that is not a well-formed number reads as no scope (``_number``).
- ``closedloop_system`` does the system's own work: sweeps, the outbox relay, rollup
  refreshes, imports, seeding. Its policies are granted to the role itself (``TO
  closedloop_system``: PostgreSQL applies a policy by role membership), never by a setting.
- The migrating role (the tables' owner) is subject to the policies too once they are
  forced; unless it is a superuser it is made a member of ``closedloop_system`` so data
  migrations keep working.
Roles are cluster-wide: both are created only when missing and never dropped (another
database of the same cluster may use them).

Authentication looks an account up before any scope exists. ``closedloop_principal(login)``
does it: a SECURITY DEFINER function owned by ``closedloop_system`` that answers the one
active account with exactly that username (the columns a principal needs, nothing else). The
request path keeps a single database role, and that role still cannot list accounts.

The rollup's dirty-slice trigger (migration 0007) runs as ``closedloop_system`` (SECURITY
DEFINER), so the API's role needs no privilege on ``issue_rollup_dirty`` at all.

Reference tables (no row-level security, read by the API's role, written by the system):
``region``, ``center``, ``board``, ``department`` (the administrative tree and its units:
every caller needs names and parents of regions outside its scope, e.g. the tier an issue
was escalated to), ``tag`` (the province's tag library, shared by design) and
``time_limit_rule`` (the published time limits). None holds an enterprise's or a person's
data. ``alembic_version`` is the migrator's alone (the system role may read it for
``/readyz``).

The policies are generated from ``TENANT_TABLES``, one entry per table naming its scope kind
(``_issue``, ``_issue_child``, ``_staff_region``, ...), each kind written once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from dataclasses import dataclass

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"
REFERENCE_TABLES = ("region", "center", "board", "department", "tag", "time_limit_rule")


def _setting(name: str) -> str:
    """The caller's setting, read once per statement (an InitPlan), not once per row."""
    return f"(SELECT current_setting('closedloop.{name}', true))"


def _number(name: str, digits: int = 9) -> str:
    """A numeric setting; anything but plain digits reads as NULL (matches nothing)."""
    value = f"current_setting('closedloop.{name}', true)"
    return f"(SELECT CASE WHEN {value} ~ '^[0-9]{{1,{digits}}}$' THEN {value}::bigint END)"


ROLE = _setting("role")
REGION = _setting("region")
STAFF = "'CENTER_STAFF','LEADER','EVALUATOR','PROVINCE_MONITOR','ADMIN'"
IS_STAFF = f"{ROLE} IN ({STAFF}) AND {REGION} <> ''"

# --- scope kinds -------------------------------------------------------------------------
# Each is a CASE, not an OR of role tests: the planner cannot see into it and keeps using
# the statement's own (indexed, ordered) predicates (see migration 0005).

# Who sees an issue. Mirrors closedloop.tenancy.scope.issue_visibility.
_ISSUE = f"""(CASE
  WHEN {ROLE} = 'ENTERPRISE' THEN enterprise_id = {_number("enterprise")}
  WHEN {ROLE} = 'BOARD_HANDLER' THEN
    holding_region_code = {REGION} AND board_id = {_number("board")}
  WHEN {ROLE} = 'DEPARTMENT_HANDLER' THEN
    holding_region_code = {REGION} AND department_id = {_number("department")}
  WHEN {IS_STAFF} THEN
    starts_with(origin_region_code, {REGION}) OR starts_with(holding_region_code, {REGION})
  ELSE false
END)"""
# The issue a command loaded in scope and locked stays readable to its transaction: an
# escalation's UPDATE must still read its new row, now out of the caller's scope.
_ACTING_ON = f"id = {_number('acting_on', 18)}"
# Rows hanging off an issue follow it (the sub-select is itself under the issue's policy).
_ISSUE_CHILD = "EXISTS (SELECT 1 FROM issue i WHERE i.id = issue_id)"
# Resolving a primary tells the reporters of the duplicates merged into it, on their own
# timelines: those may lie outside the resolver's scope. ``closedloop_merged_into`` (SECURITY
# DEFINER) answers the one id a duplicate was merged into, nothing else.
# (An OR of two tests: the function runs only when the issue itself is out of sight.)
_ISSUE_OR_MERGED_CHILD = (
    f"({_ISSUE_CHILD}"
    " OR EXISTS (SELECT 1 FROM issue i WHERE i.id = closedloop_merged_into(issue_id)))"
)
# Enterprises read the public part of a timeline only.
_PUBLIC_EVENT = f"(public OR {ROLE} IS DISTINCT FROM 'ENTERPRISE')"


def _staff_region(column: str) -> str:
    """Staff of region R: rows whose ``column`` lies in R's subtree."""
    return f"(CASE WHEN {IS_STAFF} THEN starts_with({column}, {REGION}) ELSE false END)"


def _submitter_region(column: str) -> str:
    """Whoever submits issues (staff, an enterprise): rows of its own region's subtree."""
    return (
        f"(CASE WHEN {IS_STAFF} OR ({ROLE} = 'ENTERPRISE' AND {REGION} <> '')"
        f" THEN starts_with({column}, {REGION}) ELSE false END)"
    )


# The case library is shared with every staff tier of the case's province (一地突破、全域共享).
_STAFF_PROVINCE = f"(CASE WHEN {IS_STAFF} THEN province_code = left({REGION}, 2) ELSE false END)"
# An enterprise: itself; staff and handlers: the enterprises of their subtree (a handler
# resolving a primary notifies the reporters of its merged duplicates); anyone: the
# enterprise of an issue they see (an issue held here may come from elsewhere).
_ENTERPRISE = f"""(CASE
  WHEN {ROLE} = 'ENTERPRISE' THEN id = {_number("enterprise")}
  WHEN {ROLE} IN ({STAFF},'BOARD_HANDLER','DEPARTMENT_HANDLER') AND {REGION} <> ''
    AND starts_with(region_code, {REGION}) THEN true
  ELSE EXISTS (SELECT 1 FROM issue i WHERE i.enterprise_id = enterprise.id)
END)"""
# An account: the caller's own; an enterprise's accounts to whoever sees the enterprise
# (who rated a resolution); staff and handlers also the accounts along their region's line
# (their subtree and the tiers above, whose names appear on records and lists).
_ACCOUNT = f"""(CASE
  WHEN id = {_number("account")} THEN true
  WHEN enterprise_id IS NOT NULL THEN
    EXISTS (SELECT 1 FROM enterprise e WHERE e.id = account.enterprise_id)
  WHEN {ROLE} IN ({STAFF},'BOARD_HANDLER','DEPARTMENT_HANDLER') AND {REGION} <> '' THEN
    starts_with(region_code, {REGION}) OR starts_with({REGION}, region_code)
  ELSE false
END)"""
_OWN_KEY = f"account_id = {_number('account')}"


@dataclass(frozen=True)
class Tenant:
    """What the API's role may do to one table's rows: each command's condition (``None``:
    never; the role gets no privilege for it). The system role may do everything."""

    table: str
    select: str | None
    insert: str | None = None
    update: str | None = None
    # UPDATE's check on the new row (default: the same as ``update``).
    update_check: str | None = None


TENANT_TABLES = (
    Tenant(
        "issue",
        select=f"{_ISSUE} OR {_ACTING_ON}",
        insert=_ISSUE,
        # Escalation and returning a delegation move a row out of the caller's subtree: the
        # caller must see the row before the change, not after.
        update=_ISSUE,
        update_check="true",
    ),
    Tenant(
        "issue_event",
        select=f"{_ISSUE_CHILD} AND {_PUBLIC_EVENT}",
        insert=_ISSUE_OR_MERGED_CHILD,
    ),
    Tenant("issue_custody", select=_ISSUE_CHILD, insert=_ISSUE_CHILD, update=_ISSUE_CHILD),
    Tenant("issue_rating", select=_ISSUE_CHILD, insert=_ISSUE_CHILD),
    Tenant("problem_list_entry", select=_ISSUE_CHILD, insert=_ISSUE_CHILD, update=_ISSUE_CHILD),
    Tenant("issue_similarity_key", select=_ISSUE_CHILD, insert=_ISSUE_CHILD),
    Tenant("callback_item", select=_ISSUE_CHILD, insert=_ISSUE_CHILD, update=_ISSUE_CHILD),
    # Notifications are written with the change they report; only the relay reads them.
    Tenant("outbox", select=None, insert=_ISSUE_OR_MERGED_CHILD),
    Tenant("idempotency_key", select=_OWN_KEY, insert=_OWN_KEY, update=_OWN_KEY),
    Tenant(
        "issue_number",
        select=_submitter_region("region_code"),
        insert=_submitter_region("region_code"),
        update=_submitter_region("region_code"),
    ),
    Tenant("enterprise", select=_ENTERPRISE, insert=_staff_region("region_code")),
    Tenant("account", select=_ACCOUNT),
    Tenant("model_case", select=_STAFF_PROVINCE, insert=_STAFF_PROVINCE),
    Tenant(
        "callback_sample",
        select=_staff_region("region_code"),
        insert=_staff_region("region_code"),
    ),
    Tenant(
        "indicator_record",
        select=_staff_region("region_code"),
        insert=_staff_region("region_code"),
        update=_staff_region("region_code"),
    ),
    Tenant(
        "list_entry",
        select=_staff_region("region_code"),
        insert=_staff_region("region_code"),
    ),
    # Sums of issues, read like them by staff; only the system refreshes them.
    Tenant("issue_rollup", select=_staff_region("county_code")),
    Tenant("issue_rollup_dirty", select=None),
)

# Policies before this migration, dropped here (downgrade puts them back).
_OLD_POLICIES = {
    "issue": ("issue_select", "issue_insert", "issue_update"),
    "issue_event": ("issue_event_select", "issue_event_insert", "issue_event_update"),
    "issue_custody": ("issue_custody_select", "issue_custody_insert", "issue_custody_update"),
    "problem_list_entry": (
        "problem_list_entry_select",
        "problem_list_entry_insert",
        "problem_list_entry_update",
    ),
    "issue_rollup": ("issue_rollup_select", "issue_rollup_write"),
    "issue_rating": ("issue_rating_select", "issue_rating_insert", "issue_rating_update"),
}


def _privileges(tenant: Tenant) -> list[str]:
    granted = [("SELECT", tenant.select), ("INSERT", tenant.insert), ("UPDATE", tenant.update)]
    return [name for name, condition in granted if condition is not None]


def _create_role(name: str) -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
            CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        EXCEPTION WHEN duplicate_object THEN NULL;  -- created meanwhile by another database
        END $$
        """
    )


def _grant_identity_sequence(table: str) -> None:
    """A table written without RETURNING gets its new id from ``nextval`` first
    (SQLAlchemy's pre-execution), which needs USAGE on the identity's sequence."""
    op.execute(
        f"""
        DO $$ DECLARE seq text; BEGIN
          FOR seq IN SELECT pg_get_serial_sequence('{table}', a.attname) FROM pg_attribute a
            WHERE a.attrelid = '{table}'::regclass AND a.attidentity <> '' LOOP
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {APP}', seq);
          END LOOP;
        END $$
        """
    )


def _functions() -> None:
    op.execute(
        """
        CREATE FUNCTION closedloop_principal(login text) RETURNS TABLE (
          id integer, username text, display_name text, role text, region_code text,
          board_id integer, department_id integer, enterprise_id integer
        ) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT a.id, a.username, a.display_name, a.role,
                 coalesce(a.region_code, e.region_code), a.board_id, a.department_id,
                 a.enterprise_id
          FROM account a LEFT JOIN enterprise e ON e.id = a.enterprise_id
          WHERE a.username = login AND a.active
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION closedloop_merged_into(duplicate bigint) RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT merged_into_id FROM issue WHERE id = duplicate
        $$
        """
    )
    for function in ("closedloop_principal(text)", "closedloop_merged_into(bigint)"):
        op.execute(f"ALTER FUNCTION {function} OWNER TO {SYSTEM}")
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP}, {SYSTEM}")


def upgrade() -> None:
    _create_role(APP)
    _create_role(SYSTEM)
    # A migrator that is not a superuser must pass the system's policies from now on.
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            EXECUTE format('GRANT {SYSTEM} TO %I', current_user);
          END IF;
        END $$
        """
    )
    # Least privilege: start from nothing.
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP}, {SYSTEM}")
    tenant_names = ", ".join(t.table for t in TENANT_TABLES)
    reference_names = ", ".join(REFERENCE_TABLES)
    op.execute(f"GRANT SELECT ON {reference_names} TO {APP}")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tenant_names}, {reference_names} TO {SYSTEM}"
    )
    op.execute(f"GRANT SELECT ON alembic_version TO {SYSTEM}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {SYSTEM}")
    _functions()  # the policies call them
    for table, names in _OLD_POLICIES.items():
        for name in names:
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    for tenant in TENANT_TABLES:
        table = tenant.table
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_system ON {table} TO {SYSTEM} USING (true) WITH CHECK (true)"
        )
        privileges = _privileges(tenant)
        if privileges:
            op.execute(f"GRANT {', '.join(privileges)} ON {table} TO {APP}")
        if tenant.insert is not None:
            _grant_identity_sequence(table)
        if tenant.select is not None:
            op.execute(
                f"CREATE POLICY {table}_select ON {table} FOR SELECT TO {APP}"
                f" USING ({tenant.select})"
            )
        if tenant.insert is not None:
            op.execute(
                f"CREATE POLICY {table}_insert ON {table} FOR INSERT TO {APP}"
                f" WITH CHECK ({tenant.insert})"
            )
        if tenant.update is not None:
            op.execute(
                f"CREATE POLICY {table}_update ON {table} FOR UPDATE TO {APP}"
                f" USING ({tenant.update}) WITH CHECK ({tenant.update_check or tenant.update})"
            )
    # The dirty-slice trigger writes as the system, whoever changed the issue.
    op.execute(
        "ALTER FUNCTION closedloop_rollup_mark() SECURITY DEFINER SET search_path = public, pg_temp"
    )
    op.execute(f"ALTER FUNCTION closedloop_rollup_mark() OWNER TO {SYSTEM}")
    op.execute("DROP FUNCTION IF EXISTS closedloop_sees(integer, text, text, integer, integer)")


def downgrade() -> None:
    op.execute("ALTER FUNCTION closedloop_rollup_mark() OWNER TO CURRENT_USER")
    op.execute("ALTER FUNCTION closedloop_rollup_mark() SECURITY INVOKER RESET search_path")
    op.execute("DROP FUNCTION closedloop_principal(text)")
    op.execute("DROP FUNCTION closedloop_merged_into(bigint)")
    for tenant in TENANT_TABLES:
        table = tenant.table
        for name in ("system", "select", "insert", "update"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{name} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        if table not in _OLD_POLICIES:
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    # The policies of migrations 0005, 0007 and 0010, with their "SYSTEM" tag.
    system_or = f"{ROLE} = 'SYSTEM' OR "
    acting_on = "id = (SELECT nullif(current_setting('closedloop.acting_on', true), '')::bigint)"
    old_issue = _ISSUE.replace("(CASE", f"(CASE WHEN {ROLE} = 'SYSTEM' THEN true", 1)
    op.execute(f"CREATE POLICY issue_select ON issue FOR SELECT USING ({old_issue} OR {acting_on})")
    op.execute(f"CREATE POLICY issue_insert ON issue FOR INSERT WITH CHECK ({old_issue})")
    op.execute(
        f"CREATE POLICY issue_update ON issue FOR UPDATE USING ({old_issue}) WITH CHECK (true)"
    )
    op.execute("ALTER TABLE issue_rating FORCE ROW LEVEL SECURITY")  # as 0010 left it
    for table in ("issue_event", "issue_custody", "problem_list_entry", "issue_rating"):
        visible = _ISSUE_CHILD + (f" AND {_PUBLIC_EVENT}" if table == "issue_event" else "")
        op.execute(f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({visible})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({_ISSUE_CHILD})")
    op.execute(
        "CREATE POLICY issue_rollup_select ON issue_rollup FOR SELECT"
        f" USING ({system_or}{_staff_region('county_code')})"
    )
    op.execute(
        "CREATE POLICY issue_rollup_write ON issue_rollup FOR ALL"
        f" USING ({ROLE} = 'SYSTEM') WITH CHECK ({ROLE} = 'SYSTEM')"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {SYSTEM}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP}"
    )
