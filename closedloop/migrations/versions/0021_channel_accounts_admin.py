"""channel service accounts administered through the API; tokens die with their secret

- An ADMIN creates a channel system's account and rotates its secret through the API
  (``createChannelAccount``, ``rotateChannelSecret``), in its own scope: the request role
  may now INSERT and UPDATE ``channel_client`` rows, but only as an ADMIN and only for a
  CHANNEL account of its subtree (the rule ``closedloop.services.channels.clients`` checks
  first, kept here as the second barrier). It reads the row of any account it reads (an
  account's channel in ``accounts``), but never the secret's hash: the request role loses
  SELECT on that column (only the system role, at the token endpoint, compares secrets).
- ``closedloop_principal`` also answers ``credentials``: a fingerprint of a channel
  account's current secret hash (NULL for other accounts). A channel token carries the
  fingerprint it was issued under and is refused once the secret changed, even while its
  signature and lifetime are still good (a rotation also changes the account row, whose
  NOTIFY makes every process forget the account it remembered).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

APP = "closedloop_app"
SYSTEM = "closedloop_system"
ROLE = "(SELECT current_setting('closedloop.role', true))"
REGION = "(SELECT current_setting('closedloop.region', true))"
_MANAGED = f"""(CASE WHEN {ROLE} = 'ADMIN' AND {REGION} <> '' THEN
  EXISTS (SELECT 1 FROM account a WHERE a.id = channel_client.account_id
    AND a.role = 'CHANNEL' AND starts_with(a.region_code, {REGION}))
  ELSE false END)"""
_OWN = (
    "account_id = (SELECT CASE WHEN current_setting('closedloop.account', true) ~ '^[0-9]{1,9}$'"
    " THEN current_setting('closedloop.account', true)::bigint END)"
)
# The sub-select is itself under the account policy: whoever reads the account.
_READ = f"({_OWN} OR EXISTS (SELECT 1 FROM account a WHERE a.id = channel_client.account_id))"
READABLE = "account_id, channel, client_id, created_at, secret_set_at"


def _principal(credentials: bool) -> None:
    column = ", credentials text" if credentials else ""
    value = (
        ", CASE WHEN c.secret_hash IS NOT NULL"
        " THEN left(encode(sha256(convert_to(c.secret_hash, 'UTF8')), 'hex'), 24) END"
        if credentials
        else ""
    )
    join = " LEFT JOIN channel_client c ON c.account_id = a.id" if credentials else ""
    op.execute("DROP FUNCTION closedloop_principal(text)")
    op.execute(
        f"""
        CREATE FUNCTION closedloop_principal(login text) RETURNS TABLE (
          id integer, username text, display_name text, role text, region_code text,
          board_id integer, department_id integer, enterprise_id integer{column}
        ) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
          SELECT a.id, a.username, a.display_name, a.role,
                 coalesce(a.region_code, e.region_code), a.board_id, a.department_id,
                 a.enterprise_id{value}
          FROM account a LEFT JOIN enterprise e ON e.id = a.enterprise_id{join}
          WHERE a.username = login AND a.active
        $$
        """
    )
    function = "closedloop_principal(text)"
    op.execute(f"ALTER FUNCTION {function} OWNER TO {SYSTEM}")
    op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP}, {SYSTEM}")


def upgrade() -> None:
    op.execute(f"REVOKE SELECT ON channel_client FROM {APP}")
    op.execute(f"GRANT SELECT ({READABLE}) ON channel_client TO {APP}")
    op.execute(f"GRANT INSERT ON channel_client TO {APP}")
    op.execute(f"GRANT UPDATE (secret_hash, secret_set_at) ON channel_client TO {APP}")
    op.execute("DROP POLICY channel_client_select ON channel_client")
    op.execute(
        f"CREATE POLICY channel_client_select ON channel_client FOR SELECT TO {APP} USING {_READ}"
    )
    op.execute(
        f"CREATE POLICY channel_client_insert ON channel_client FOR INSERT TO {APP}"
        f" WITH CHECK ({_MANAGED})"
    )
    op.execute(
        f"CREATE POLICY channel_client_update ON channel_client FOR UPDATE TO {APP}"
        f" USING ({_MANAGED}) WITH CHECK ({_MANAGED})"
    )
    _principal(credentials=True)


def downgrade() -> None:
    _principal(credentials=False)
    op.execute("DROP POLICY channel_client_update ON channel_client")
    op.execute("DROP POLICY channel_client_insert ON channel_client")
    op.execute("DROP POLICY channel_client_select ON channel_client")
    op.execute(
        f"CREATE POLICY channel_client_select ON channel_client FOR SELECT TO {APP} USING ({_OWN})"
    )
    op.execute(f"REVOKE INSERT, UPDATE ON channel_client FROM {APP}")
    op.execute(f"REVOKE SELECT ON channel_client FROM {APP}")
    op.execute(f"GRANT SELECT ON channel_client TO {APP}")
