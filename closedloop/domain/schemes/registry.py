"""The served schemes: the package's (``closedloop/data/schemes``) and those of the folder
named by ``CLOSEDLOOP_SCHEME_DIR`` (``use_scheme_directory``), keyed by their ``scheme``
field, every file parsed when the folder is set. The only I/O of the schemes package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from closedloop.domain.schemes.errors import InvalidScheme, SchemeProblem, UnknownScheme
from closedloop.domain.schemes.model import Scheme
from closedloop.domain.schemes.parsing import scheme_from_json
from closedloop.domain.schemes.vocabulary import Label

DEFAULT_SCHEME = "HUZHOU_2024"

# Folders of further scheme files (the operator's ``CLOSEDLOOP_SCHEME_DIR``), set at start.
_FOLDERS: list[Path] = []


def use_scheme_directory(folder: Path | None) -> tuple[str, ...]:
    """Serve the shipped schemes and those of ``folder`` (its ``*.json`` files), every file
    parsed now: a broken one raises ``InvalidScheme`` naming it, so start-up stops."""
    _FOLDERS[:] = [] if folder is None else [folder]
    _registry.cache_clear()
    if folder is not None and not folder.is_dir():
        raise InvalidScheme(str(folder), "目录不存在", "no such directory")
    return available_schemes()


@cache
def _registry() -> Mapping[str, Scheme]:
    schemes: dict[str, Scheme] = {}
    for folder in (resources.files("closedloop") / "data" / "schemes", *_FOLDERS):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".json") or not entry.is_file():
                continue
            origin = entry.name if folder not in _FOLDERS else str(entry)
            scheme = scheme_from_json(entry.read_text("utf-8"), origin=origin)
            if scheme.key in schemes:
                raise InvalidScheme(
                    origin, f"方案键 {scheme.key} 重复", f"duplicate key {scheme.key}"
                )
            schemes[scheme.key] = scheme
    return MappingProxyType(schemes)


def available_schemes() -> tuple[str, ...]:
    """Keys of every shipped scheme, sorted."""
    return tuple(sorted(_registry()))


def load_scheme(key: str = DEFAULT_SCHEME) -> Scheme:
    """The shipped scheme with this ``scheme`` key; ``UnknownScheme`` otherwise."""
    try:
        return _registry()[key]
    except KeyError:
        raise UnknownScheme(key) from None


# --- what the API serves -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServedBounds:
    """The longest lists of the package's schemes: the query cost assumes no scheme served
    (from the operator's folder, or uploaded) has longer ones."""

    indicators: int
    adjustments: int
    checks: int  # of one indicator


def _checks(scheme: Scheme) -> int:
    return max(len(getattr(i.rule, "checks", ())) for i in scheme.indicators)


@cache
def served_bounds() -> ServedBounds:
    folder = resources.files("closedloop") / "data" / "schemes"
    shipped = [
        scheme_from_json(e.read_text("utf-8"), origin=e.name)
        for e in folder.iterdir()
        if e.name.endswith(".json") and e.is_file()
    ]
    return ServedBounds(
        indicators=max(len(s.indicators) for s in shipped),
        adjustments=max(len(s.adjustments) for s in shipped),
        checks=max(_checks(s) for s in shipped),
    )


def beyond_bounds(scheme: Scheme) -> SchemeProblem | None:
    """What of ``scheme`` is longer than the API serves, or None when it fits."""
    bounds = served_bounds()
    for path, what_zh, what_en, n, bound in (
        ("indicators", "指标", "indicators", len(scheme.indicators), bounds.indicators),
        ("adjustments", "加减分项", "adjustments", len(scheme.adjustments), bounds.adjustments),
        (
            "indicators",
            "单个指标的检查项",
            "checks of one indicator",
            _checks(scheme),
            bounds.checks,
        ),
    ):
        if n > bound:
            return SchemeProblem(
                path,
                Label(
                    f"有 {n} 个{what_zh}，最多支持 {bound} 个",
                    f"scheme {scheme.key} has {n} {what_en}; at most {bound} are served",
                ),
            )
    return None


def check_document(text: str, *, origin: str = "document") -> Scheme:
    """A scheme document (JSON text) as the API accepts one: valid (``parse_scheme``) and
    within the served bounds. The one check behind ``validateScoringScheme`` and
    ``uploadScoringScheme``; ``InvalidScheme`` lists every problem found."""
    scheme = scheme_from_json(text, origin=origin)
    problem = beyond_bounds(scheme)
    if problem is not None:
        raise InvalidScheme(
            origin,
            f"{problem.path}：{problem.label.zh}",
            f"{problem.path}: {problem.label.en}",
            problems=(problem,),
        )
    return scheme
