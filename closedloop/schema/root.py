"""The root types, composed from one class per domain (each in its own module)."""

from __future__ import annotations

import strawberry

from closedloop.schema.learning import LearningQuery
from closedloop.schema.mutation import IssueMutation, LearningMutation
from closedloop.schema.query import CoreQuery


@strawberry.type
class Query(CoreQuery, LearningQuery):
    pass


@strawberry.type
class Mutation(IssueMutation, LearningMutation):
    pass
