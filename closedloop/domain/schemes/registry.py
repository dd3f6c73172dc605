"""The served schemes: the package's (``closedloop/data/schemes``) and those of the folder
named by ``CLOSEDLOOP_SCHEME_DIR`` (``use_scheme_directory``), keyed by their ``scheme``
field, every file parsed when the folder is set. The only I/O of the schemes package."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from closedloop.domain.schemes.errors import InvalidScheme, UnknownScheme
from closedloop.domain.schemes.model import Scheme
from closedloop.domain.schemes.parsing import scheme_from_json

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
