"""The package's shape (issue #20): layers point down only (the import-linter contracts in
``.importlinter``) and no module outside ``migrations/`` exceeds 600 lines."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "closedloop"
MAX_LINES = 600


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_over_600_lines() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "migrations"]
    assert len(modules) > 50, "the walk found too few modules to be looking at the package"
    too_long = {str(p.relative_to(ROOT)): n for p in modules if (n := _lines(p)) > MAX_LINES}
    assert not too_long, f"split these modules (at most {MAX_LINES} lines each): {too_long}"


def test_import_contracts_hold() -> None:
    # Prints the broken contracts and the imports that break them.
    status = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    assert status == EXIT_STATUS_SUCCESS
