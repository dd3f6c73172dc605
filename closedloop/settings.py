"""Runtime configuration, read from the environment (prefix ``CLOSEDLOOP_``).

Every field is listed in the README's configuration table (a test checks it). In
production (``CLOSEDLOOP_ENVIRONMENT=production``) the server refuses to start while any
of ``Settings.problems()`` holds, and the developer conveniences (GraphiQL, introspection,
field suggestions, an open ``/metrics``, console logs) are off unless switched on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "closedloop-development-secret-change-me"
DEV_WEBHOOK_SECRET = "closedloop-webhook-secret"
DEV_PROBLEM_LIST_SECRET = "closedloop-problem-list-secret"


class UnsafeSettings(Exception):
    """The configuration must not serve requests; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("closedloop refuses to start:\n" + "\n".join(f"  - {p}" for p in problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOSEDLOOP_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    # No URL means: start the embedded PostgreSQL (pgserver) in ``data_dir``.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CLOSEDLOOP_DATABASE_URL")
    )
    data_dir: Path = Path(".closedloop")
    # Connections kept open (as many again may open under bursts, and close afterwards).
    # A request holds one connection for its data, so size it to the concurrency a worker
    # sees: below it, every burst opens and closes connections (a new backend, its
    # authentication and codec set-up cost more than a pool page).
    db_pool_size: int = 20
    # The role the API itself connects as (row-level security applies to it); the URL's
    # own user runs migrations and seeding. Empty: use the URL's user for everything.
    app_db_user: str = "closedloop_app"
    app_db_password: str | None = None
    # The role of the system's own work (sweeps, outbox relay, rollup refreshes, seeding),
    # never used to serve a request. Empty: the URL's user does that work.
    system_db_user: str = "closedloop_system"
    system_db_password: str | None = None
    # DATABASE_URL reaches PostgreSQL through PgBouncer in transaction mode: no statement
    # stays prepared on a server connection, and the session settings travel in each
    # transaction (``closedloop.db.database``). LISTEN needs PostgreSQL itself:
    # ``listen_database_url``.
    pgbouncer: bool = False
    # PostgreSQL itself (not a transaction pooler), for the event bus's LISTEN connection
    # (as the request role). Unset: DATABASE_URL.
    listen_database_url: str | None = None
    # Streaming replicas (JSON list of URLs, same roles as DATABASE_URL) for the reads that
    # tolerate lag: dashboards, scores, score history, reports, exports. Empty: all on
    # the primary.
    replica_urls: list[str] = Field(default_factory=list)
    # A replica further behind than this (seconds of WAL not yet replayed), or failing, is
    # taken out of rotation until a check finds it back in bounds; the primary serves.
    replica_max_lag_seconds: float = Field(default=30.0, gt=0)
    # How often each process checks its replicas' lag.
    replica_check_seconds: float = Field(default=5.0, gt=0)
    # The execution budget of one GraphQL request (0: none): past it the request ends with a
    # typed TIMEOUT error, and no statement on the API's connections may run longer
    # (PostgreSQL's statement_timeout, set from the same value).
    request_timeout_seconds: float = Field(default=10.0, ge=0)
    # Seed the demo data set (idempotent) when the server starts; refused in production.
    demo: bool = False

    jwt_secret: str = Field(default=DEV_JWT_SECRET, min_length=32)
    jwt_audience: str = "closedloop"
    jwt_issuer: str = "closedloop"
    # When set, tokens are RS256 and verified against this JWKS (external identity provider).
    jwks_url: str | None = None
    token_ttl_minutes: int = Field(default=12 * 60, ge=1)
    # Tokens living longer than this (exp - iat, or exp - now without iat) are refused.
    max_token_lifetime_minutes: int = Field(default=24 * 60, ge=1)
    # Clock skew allowed when checking exp, nbf and iat.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=600)
    # An external identity provider's tokens (with jwks_url): which claims name the account,
    # carry an enterprise's unified social credit code, its name and region, and a staff
    # member's role and region. An enterprise user whose token carries a valid credit code
    # gets an account at first sign-in; staff only with idp_provision_staff, and only in the
    # roles of idp_staff_roles.
    idp_account_claim: str = Field(default="sub", min_length=1)
    idp_name_claim: str = "name"
    idp_credit_code_claim: str = "uscc"
    idp_enterprise_name_claim: str = "enterprise_name"
    idp_region_claim: str = "region_code"
    idp_role_claim: str = "role"
    idp_provision_staff: bool = False
    idp_staff_roles: list[str] = Field(
        default_factory=lambda: ["CENTER_STAFF", "LEADER", "EVALUATOR"]
    )
    # Channel systems' access tokens (OAuth 2.0 client credentials at /oauth/token): their
    # issuer, and how long one lives (the window in which a captured token can be replayed).
    channel_token_issuer: str = "closedloop-channel"
    channel_token_ttl_minutes: int = Field(default=15, ge=1, le=60)

    cors_origins: list[str] = Field(default_factory=list)
    # Unset: on in development and test, off in production.
    graphiql: bool | None = None
    introspection: bool | None = None
    field_suggestions: bool | None = None
    # --- Query shape and rate limits (closedloop.schema.shape, services.rate_limit). ---
    # Checked before any SQL runs; 0 turns a limit off. Depth, aliases, tokens and
    # directives are GraphQL Armor's defaults: the portal's queries (the pool page with
    # timeline, custody and regions, the dashboard, the reports) fit within them.
    max_query_depth: int = 6
    max_aliases: int = 15
    max_tokens: int = 1000
    max_directives: int = 50
    # Objects an answer may hold (GitHub's node limit, see closedloop.schema.shape). The
    # pool page of 50 issues costs 301; with every issue's timeline and custody (a page
    # of 100 each) and the custody's regions and their parents, 20,151; 100 regions with
    # their children 10,101; a county's dashboard 843.
    max_query_cost: int = 50_000
    # Request bodies above this are refused with 413 before they are read in full.
    max_body_bytes: int = 1_000_000
    # Cost points per window (a query's objects / 100, at least 1): per signed-in account,
    # and per client address for anonymous and failed-authentication traffic (a failed
    # authentication spends one point). rate_limit_points = 0 turns rate limiting off.
    rate_limit_points: int = 1_000
    rate_limit_address_points: int = 100
    rate_limit_window_seconds: int = 60
    # Share the rate-limit counters across processes (redis://host:port/db); default: each
    # process counts for itself.
    redis_url: str | None = None

    # Logs: JSON lines or structlog's console renderer (unset: JSON in production).
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # /metrics: served on this separate port when set (and not on the API's port); else on
    # the API's port, behind ``Authorization: Bearer <metrics_token>`` when a token is set,
    # open in development and test, and refused in production.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_token: str | None = Field(default=None, min_length=16)
    # OpenTelemetry tracing of every request (needs the ``otel`` extra); spans go to the
    # OTLP endpoint of the standard OTEL_EXPORTER_OTLP_* variables.
    otel: bool = False

    # Issue loop.
    rating_window_days: int = 7
    urge_interval_hours: int = 24
    # Background work in each API process (0 disables): lights, auto-close, notifications.
    sweep_interval_seconds: float = 60.0
    relay_interval_seconds: float = 5.0
    webhook_urls: list[str] = Field(default_factory=list)
    webhook_secret: str = DEV_WEBHOOK_SECRET
    outbox_max_attempts: int = 8
    # A folder of further scoring scheme files (*.json), served beside the shipped ones;
    # every file is checked at start-up and a broken one stops it.
    scheme_dir: Path | None = None
    # The 七张问题清单 application of each tier that pushes go to (pushToProblemLists), as
    # JSON: {"330521": "https://…"}; a tier not listed cannot push.
    problem_list_endpoints: dict[str, str] = Field(default_factory=dict)
    # Shared with those applications: signs every push and checks every callback
    # (POST /callbacks/problem-lists), HMAC-SHA256 over "<timestamp>.<body>".
    problem_list_secret: str = DEV_PROBLEM_LIST_SECRET
    # A callback whose timestamp is further than this from now is refused (a replay).
    problem_list_replay_window_seconds: int = Field(default=300, ge=1, le=3600)

    # Sign-in for the pages (/cockpit, /track, /workbench): OIDC authorization code with
    # PKCE, run in the browser against these endpoints; the API verifies the token it
    # gets through jwks_url. Empty: no OIDC button (demo sign-in only with --demo).
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_client_id: str = "closedloop-web"
    oidc_scope: str = "openid profile"
    oidc_token_field: Literal["access_token", "id_token"] = "access_token"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def _default_on(self, value: bool | None) -> bool:
        return (not self.production) if value is None else value

    @property
    def graphiql_on(self) -> bool:
        return self._default_on(self.graphiql)

    @property
    def introspection_on(self) -> bool:
        return self._default_on(self.introspection)

    @property
    def suggestions_on(self) -> bool:
        return self._default_on(self.field_suggestions)

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (self.log_format is None and self.production)

    @property
    def metrics_open(self) -> bool:
        """``/metrics`` on the API's port without a token (development and test only)."""
        return self.metrics_token is None and not self.production

    @property
    def problem_list_secret_usable(self) -> bool:
        """Production never trusts the secret written in the source (callbacks get 401)."""
        return not (self.production and self.problem_list_secret == DEV_PROBLEM_LIST_SECRET)

    def problems(self) -> list[str]:
        """Why this configuration must not serve requests (empty: it may)."""
        found: list[str] = []
        if self.token_ttl_minutes > self.max_token_lifetime_minutes:
            found.append(
                f"CLOSEDLOOP_TOKEN_TTL_MINUTES ({self.token_ttl_minutes}) exceeds "
                f"CLOSEDLOOP_MAX_TOKEN_LIFETIME_MINUTES ({self.max_token_lifetime_minutes}): "
                "minted tokens would be refused"
            )
        if self.pgbouncer and not self.listen_database_url:
            found.append(
                "CLOSEDLOOP_PGBOUNCER is on without CLOSEDLOOP_LISTEN_DATABASE_URL: a "
                "transaction pooler cannot LISTEN, so subscriptions and account changes "
                "would go unheard; set it to PostgreSQL itself"
            )
        grantable = {"CENTER_STAFF", "LEADER", "EVALUATOR"}
        refused = sorted(set(self.idp_staff_roles) - grantable)
        if refused:
            found.append(
                f"CLOSEDLOOP_IDP_STAFF_ROLES names {', '.join(refused)}: claims alone may only "
                f"make {', '.join(sorted(grantable))} accounts"
            )
        if not self.production:
            return found
        if self.jwt_secret == DEV_JWT_SECRET:
            found.append(
                "CLOSEDLOOP_JWT_SECRET is the development secret written in the source: "
                "set a random secret of at least 32 bytes"
            )
        if self.webhook_secret == DEV_WEBHOOK_SECRET:
            found.append(
                "CLOSEDLOOP_WEBHOOK_SECRET is the default written in the source: "
                "set the secret shared with the webhook receivers"
            )
        if self.problem_list_endpoints and not self.problem_list_secret_usable:
            found.append(
                "CLOSEDLOOP_PROBLEM_LIST_SECRET is the default written in the source: "
                "set the secret shared with the 七张问题清单 applications"
            )
        if not self.database_url:
            found.append(
                "DATABASE_URL is not set: production does not run on the embedded database"
            )
        if self.demo:
            found.append("CLOSEDLOOP_DEMO is on: the demo data set is never seeded in production")
        return found

    def check(self) -> None:
        """Raises ``UnsafeSettings`` listing every problem, if there is one."""
        found = self.problems()
        if found:
            raise UnsafeSettings(found)


@lru_cache
def get_settings() -> Settings:
    return Settings()
