"""The root types, composed from one class per domain (each in its own module)."""

from __future__ import annotations

import strawberry

from closedloop.schema.mutation import IssueMutation
from closedloop.schema.query import CoreQuery


@strawberry.type
class Query(CoreQuery):
    pass


@strawberry.type
class Mutation(IssueMutation):
    pass
