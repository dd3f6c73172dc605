"""The configured database: engines for the request role, the system role and the owner
(``closedloop.db.database``), behind PgBouncer or not, with streaming replicas for the
reads that tolerate lag (``closedloop.db.replicas``), or the embedded PostgreSQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from closedloop.db.database import Database, as_user, make_engine
from closedloop.db.embedded import EmbeddedPostgres
from closedloop.db.migrate import upgrade
from closedloop.db.replicas import ReplicaSet
from closedloop.settings import Settings


async def open_database(settings: Settings) -> tuple[Database, EmbeddedPostgres | None]:
    """The configured database, or the embedded one (migrated and seeded on first start)."""
    embedded = None
    if settings.database_url:
        url = settings.database_url
    else:
        embedded = EmbeddedPostgres(settings.data_dir / "pgdata")
        url = embedded.start()
    pgbouncer = settings.pgbouncer and embedded is None
    admin = make_engine(url, 2, pgbouncer=pgbouncer)
    if embedded is not None:
        await upgrade(admin)
    # The connections that serve requests: no statement outlives a request's budget.
    app = role_engine(
        url,
        settings.app_db_user,
        settings.app_db_password,
        settings.db_pool_size,
        statement_timeout_seconds=settings.request_timeout_seconds,
        pgbouncer=pgbouncer,
    )
    system = role_engine(
        url, settings.system_db_user, settings.system_db_password, 4, pgbouncer=pgbouncer
    )
    listen_url = settings.listen_database_url
    if listen_url and settings.app_db_user:
        listen_url = as_user(listen_url, settings.app_db_user, settings.app_db_password)
    replicas = None
    if settings.replica_urls and embedded is None:
        replicas = ReplicaSet(
            [
                role_engine(
                    replica,
                    settings.app_db_user,
                    settings.app_db_password,
                    settings.db_pool_size,
                    statement_timeout_seconds=settings.request_timeout_seconds,
                )
                or make_engine(replica, settings.db_pool_size)
                for replica in settings.replica_urls
            ],
            max_lag_seconds=settings.replica_max_lag_seconds,
        )
    database = Database(
        app or admin, admin=admin, system=system or admin, listen_url=listen_url, replicas=replicas
    )
    return database, embedded


def url_of(db: Database) -> str:
    """The URL the event bus LISTENs on: PostgreSQL itself as the request role
    (``listen_url``), else the request engine's own URL."""
    return db.listen_url or db.engine.url.render_as_string(hide_password=False)


def role_engine(
    url: str,
    user: str,
    password: str | None,
    pool_size: int,
    statement_timeout_seconds: float = 0.0,
    *,
    pgbouncer: bool = False,
) -> AsyncEngine | None:
    """An engine connecting as ``user`` (None when no user is configured: the URL's own)."""
    if not user:
        return None
    return make_engine(
        as_user(url, user, password),
        pool_size,
        statement_timeout_seconds=statement_timeout_seconds,
        pgbouncer=pgbouncer,
    )
