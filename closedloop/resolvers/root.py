"""The root types, composed from one class per domain (each in its own module)."""

from __future__ import annotations

import strawberry

from closedloop.schema.evaluation import EvaluationMutation, EvaluationQuery
from closedloop.schema.learning import LearningQuery
from closedloop.schema.mutation import IssueMutation, LearningMutation
from closedloop.schema.query import CoreQuery


@strawberry.type
class Query(CoreQuery, LearningQuery, EvaluationQuery):
    pass


@strawberry.type
class Mutation(IssueMutation, LearningMutation, EvaluationMutation):
    pass
