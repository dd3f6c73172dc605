"""Scoring schemes are data: ``closedloop/data/schemes/*.json`` loaded into typed dataclasses.

A scheme file keeps its transcription (free-text ``formula`` / ``scoring``) for people and
adds machine-readable fields for the code: ``source``, ``rate`` (named counters),
``rule``, ``when_empty`` / ``when_missing`` and the scheme-level ``satisfied_grades``.
The prose is never parsed. Files are keyed by their ``scheme`` field, not their name, and
are validated on load so a broken file fails at start-up, not in the middle of a score.

The package: ``vocabulary`` (labels, rating grades, counters), ``errors``, ``model`` (the
typed scheme), ``parsing`` (what a valid document is) and ``registry`` (the package's and
the operator's folder's files: the only I/O here); ``scoring`` is pure.
"""

from closedloop.domain.schemes.errors import (
    InvalidScheme,
    ScoringError,
    UnknownIndicator,
    UnknownScheme,
)
from closedloop.domain.schemes.model import (
    Adjustment,
    Check,
    ChecksRule,
    DeductPerPointRule,
    Direction,
    EmptyPolicy,
    ExternalPointsRule,
    Gap,
    Indicator,
    RankRule,
    RateSpec,
    RatingCount,
    Rule,
    RuleKind,
    Scheme,
    Source,
)
from closedloop.domain.schemes.parsing import (
    parse_scheme,
    scheme_from_json,
)
from closedloop.domain.schemes.registry import (
    DEFAULT_SCHEME,
    available_schemes,
    load_scheme,
    use_scheme_directory,
)
from closedloop.domain.schemes.vocabulary import (
    BASE_COUNTERS,
    COUNTER_LABELS,
    COUNTER_NAMES,
    DERIVED_COUNTERS,
    RATING_GRADES,
    Label,
)

__all__ = [
    "BASE_COUNTERS",
    "COUNTER_LABELS",
    "COUNTER_NAMES",
    "DEFAULT_SCHEME",
    "DERIVED_COUNTERS",
    "RATING_GRADES",
    "Adjustment",
    "Check",
    "ChecksRule",
    "DeductPerPointRule",
    "Direction",
    "EmptyPolicy",
    "ExternalPointsRule",
    "Gap",
    "Indicator",
    "InvalidScheme",
    "Label",
    "RankRule",
    "RateSpec",
    "RatingCount",
    "Rule",
    "RuleKind",
    "Scheme",
    "ScoringError",
    "Source",
    "UnknownIndicator",
    "UnknownScheme",
    "available_schemes",
    "load_scheme",
    "parse_scheme",
    "scheme_from_json",
    "use_scheme_directory",
]
