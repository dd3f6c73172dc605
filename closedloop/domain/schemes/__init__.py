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
    SchemeProblem,
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
    MAX_PROBLEMS,
    parse_scheme,
    scheme_from_json,
)
from closedloop.domain.schemes.registry import (
    DEFAULT_SCHEME,
    ServedBounds,
    available_schemes,
    beyond_bounds,
    check_document,
    load_scheme,
    served_bounds,
    use_scheme_directory,
)
from closedloop.domain.schemes.versions import (
    ActiveVersion,
    SchemeErrorCode,
    SchemeVersionError,
    VersionState,
    check_effective_from,
    check_version_label,
    in_force,
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
    "MAX_PROBLEMS",
    "RATING_GRADES",
    "ActiveVersion",
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
    "SchemeErrorCode",
    "SchemeProblem",
    "SchemeVersionError",
    "ScoringError",
    "ServedBounds",
    "Source",
    "UnknownIndicator",
    "UnknownScheme",
    "VersionState",
    "available_schemes",
    "beyond_bounds",
    "check_document",
    "check_effective_from",
    "check_version_label",
    "in_force",
    "load_scheme",
    "parse_scheme",
    "scheme_from_json",
    "served_bounds",
    "use_scheme_directory",
]
