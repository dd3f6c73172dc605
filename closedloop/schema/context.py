"""What every resolver gets: the caller, the database, loaders, the clock and the locale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from strawberry.types import Info as StrawberryInfo

from closedloop.authz.roles import Principal
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.schema.loaders import Loaders
from closedloop.schema.reference import REFERENCE
from closedloop.services.event_bus import EventBus
from closedloop.services.issues.records import EnterpriseRecord
from closedloop.services.schemes.catalog import SchemeCatalog
from closedloop.settings import Settings


class Relayed(Protocol):
    """An operation whose frames its group makes (``closedloop.http.fanout``)."""

    async def wait(self) -> bool:
        """Until the operation ends; ``False``: no group makes its frames, it runs alone.
        Raises ``SubscriberDropped`` when it fell too far behind."""
        ...


class FrameSource(Protocol):
    """A group's own stream, told where it is (``closedloop.http.fanout``)."""

    def listening(self) -> None:
        """Its start is known: nothing committed from here on is missed."""

    def sending(self, event_id: int) -> None:
        """The notice yielded next is of this event."""


# Set by the socket's handler in each operation's task; read by subscription resolvers.
RELAYED: ContextVar[Relayed | None] = ContextVar("closedloop_relayed", default=None)


@dataclass
class Context:
    principal: Principal
    db: Database
    clock: Clock
    settings: Settings
    locale: str
    request: Any = None
    response: Any = None
    bus: EventBus | None = None
    # Set by strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # What the API process does when an account changed (set by the HTTP layer: forget
    # it at once here; other processes hear the account trigger's NOTIFY).
    on_account_change: Callable[[str], None] | None = None
    # A subscription group's own stream (``closedloop.http.fanout``): its frames go to
    # every socket of the group; it spends no rate-limit points (they did).
    source: FrameSource | None = None
    # The process's scheme versions in force (the HTTP layer's, kept fresh by the bus);
    # without one, the request reads them once (``scheme_catalog``).
    schemes: SchemeCatalog | None = None

    def account_changed(self, username: str) -> None:
        if self.on_account_change is not None:
            self.on_account_change(username)

    def enterprise_changed(self, rec: EnterpriseRecord) -> None:
        """This process shows the change at once (others within the reference cache's
        time to live)."""
        REFERENCE.put("enterprise", rec.id, rec)

    @cached_property
    def scheme_catalog(self) -> SchemeCatalog:
        if self.schemes is not None:
            return self.schemes
        return SchemeCatalog(self.db, live=lambda: True)  # read once, for this request

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.db, self.principal)

    async def release(self) -> None:
        """The operation is answered: give back the connection the request's loaders held
        (if they opened one); none opens after this."""
        loaders: Loaders | None = self.__dict__.get("loaders")
        if loaders is not None:
            await loaders.release(final=True)

    @cached_property
    def now(self) -> dt.datetime:
        """The request's instant: every light and filter of one answer agrees on it."""
        return self.clock.now()


Info = StrawberryInfo[Context, None]
