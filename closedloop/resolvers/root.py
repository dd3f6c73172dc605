"""The root types, composed from one class per domain (each in its own module)."""

from __future__ import annotations

import strawberry

from closedloop.resolvers.accounts import AccountMutation, AccountQuery
from closedloop.resolvers.evaluation import EvaluationMutation, EvaluationQuery
from closedloop.resolvers.learning import LearningQuery
from closedloop.resolvers.mutation import IssueMutation, LearningMutation
from closedloop.resolvers.query import CoreQuery
from closedloop.resolvers.rules import RulesMutation, RulesQuery
from closedloop.resolvers.schemes import SchemeMutation, SchemeQuery


@strawberry.type
class Query(CoreQuery, LearningQuery, EvaluationQuery, AccountQuery, RulesQuery, SchemeQuery):
    pass


@strawberry.type
class Mutation(
    IssueMutation,
    LearningMutation,
    EvaluationMutation,
    AccountMutation,
    RulesMutation,
    SchemeMutation,
):
    pass
