"""Evaluation in GraphQL (晾晒评价): the types of schemes, scores and their history, the
cockpit (``dashboard``), external indicator records and red/black list entries. The root
fields are in ``closedloop.resolvers.evaluation``.

Importing any module of this package registers the evaluation enums (``enums``) first.
"""

from closedloop.schema.evaluation import enums as enums
