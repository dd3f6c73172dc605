"""Runtime configuration, read from the environment (prefix ``CLOSEDLOOP_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "closedloop-development-secret-change-me"


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
    # Seed the demo data set (idempotent) when the server starts.
    demo: bool = False

    jwt_secret: str = Field(default=DEV_JWT_SECRET, min_length=32)
    jwt_audience: str = "closedloop"
    jwt_issuer: str = "closedloop"
    # When set, tokens are RS256 and verified against this JWKS (external identity provider).
    jwks_url: str | None = None
    token_ttl_minutes: int = 12 * 60

    cors_origins: list[str] = Field(default_factory=list)
    graphiql: bool = True
    introspection: bool = True
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000

    # Issue loop.
    rating_window_days: int = 7
    urge_interval_hours: int = 24
    # Background work in each API process (0 disables): lights, auto-close, notifications.
    sweep_interval_seconds: float = 60.0
    relay_interval_seconds: float = 5.0
    webhook_urls: list[str] = Field(default_factory=list)
    webhook_secret: str = "closedloop-webhook-secret"
    outbox_max_attempts: int = 8


@lru_cache
def get_settings() -> Settings:
    return Settings()
