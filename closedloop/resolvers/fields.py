"""The root mutation fields' one shape: a resolver module per mutation, signed-in callers."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import strawberry

from closedloop.schema.payloads import SignedIn


def signed_in_mutation(module: ModuleType, description: str) -> Any:
    """The field resolved by ``module.resolve`` (typed ``Any`` so that the root types can
    annotate each field with its own payload)."""
    return strawberry.mutation(
        resolver=module.resolve,
        description=description,
        permission_classes=[SignedIn],
    )
