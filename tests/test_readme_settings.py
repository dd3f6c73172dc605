"""The README's configuration table lists every setting of ``closedloop.settings``."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from closedloop.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_variables() -> set[str]:
    text = README.read_text("utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def _environment_names(name: str) -> set[str]:
    """The variables that set a field: its aliases, else the prefixed field name."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return {str(choice) for choice in alias.choices}
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper()}


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    listed = _table_variables()
    missing = sorted(
        name for name in Settings.model_fields if not _environment_names(name) & listed
    )
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_the_table_lists_no_setting_that_does_not_exist() -> None:
    known = set().union(*(_environment_names(name) for name in Settings.model_fields))
    assert _table_variables() <= known, sorted(_table_variables() - known)
