"""account changes are announced: a NOTIFY per inserted, changed or deleted account

Every API process remembers the accounts it has seen (``closedloop.identity.
principal_cache``) and holds subscription sockets open for them. This trigger sends the
username (the old and, when renamed, the new one) on ``closedloop_account_changes`` when
the change commits, so every process drops what it remembers and re-checks its open
sockets at once: a deactivation bites at the next request, not after a time-to-live.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CHANNEL = "closedloop_account_changes"  # closedloop.services.event_bus.ACCOUNT_CHANNEL


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION account_changed_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('{CHANNEL}', OLD.username);
            END IF;
            IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.username <> OLD.username) THEN
                PERFORM pg_notify('{CHANNEL}', NEW.username);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER account_changed AFTER INSERT OR UPDATE OR DELETE ON account"
        " FOR EACH ROW EXECUTE FUNCTION account_changed_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER account_changed ON account")
    op.execute("DROP FUNCTION account_changed_notify()")
