"""Scoring schemes from the operator's folder (``CLOSEDLOOP_SCHEME_DIR``): served beside the
shipped ones; a broken file stops start-up with a message naming it; any document can be
checked through ``validateScoringScheme`` before it is dropped in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from closedloop.domain import schemes
from closedloop.http.app import create_app
from closedloop.settings import Settings, UnsafeSettings
from tests.conftest import Api

VALIDATE = """query($d: JSON!) { validateScoringScheme(document: $d) {
  valid key name indicatorCount error } }"""


def shipped() -> dict[str, Any]:
    text = (resources.files("closedloop") / "data" / "schemes" / "huzhou_2024.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    schemes.use_scheme_directory(None)  # back to the shipped schemes for every other test


def test_a_folder_adds_its_schemes(folder: Path) -> None:
    document = {**shipped(), "scheme": "QUZHOU_2026"}
    (folder / "quzhou_2026.json").write_text(json.dumps(document, ensure_ascii=False))
    assert "QUZHOU_2026" not in schemes.available_schemes()
    keys = schemes.use_scheme_directory(folder)
    assert {"QUZHOU_2026", schemes.DEFAULT_SCHEME} <= set(keys)
    assert schemes.load_scheme("QUZHOU_2026").max_total == schemes.load_scheme().max_total


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({**shipped(), "max_total": 1}), "max_total"),
        (json.dumps(shipped()), "duplicate key HUZHOU_2024"),
    ],
)
def test_a_broken_scheme_stops_start_up_with_a_clear_message(
    folder: Path, text: str, reason: str
) -> None:
    (folder / "broken.json").write_text(text)
    settings = Settings(environment="test", jwt_secret="t" * 40, scheme_dir=folder)
    with pytest.raises(UnsafeSettings) as refused:
        create_app(settings)
    message = str(refused.value)
    assert "CLOSEDLOOP_SCHEME_DIR" in message and "broken.json" in message and reason in message


def test_a_missing_folder_stops_start_up(folder: Path) -> None:
    settings = Settings(environment="test", jwt_secret="t" * 40, scheme_dir=folder / "nope")
    with pytest.raises(UnsafeSettings, match="no such directory"):
        create_app(settings)


async def test_a_document_is_validated_through_the_api(api: Api) -> None:
    ok = await api.gql(VALIDATE, {"d": {**shipped(), "scheme": "X_2026"}}, as_="admin")
    assert ok["validateScoringScheme"] == {
        "valid": True,
        "key": "X_2026",
        "name": ok["validateScoringScheme"]["name"],
        "indicatorCount": len(shipped()["indicators"]),
        "error": None,
    }
    bad = await api.gql(VALIDATE, {"d": {**shipped(), "max_total": 1}}, as_="admin")
    assert bad["validateScoringScheme"]["valid"] is False
    assert "max_total" in bad["validateScoringScheme"]["error"]
