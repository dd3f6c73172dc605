"""The operators' command line: ``closedloop accounts create|list|deactivate`` and
``closedloop enterprises import`` (also ``closedloop import enterprises``), through the
same services and rules as the API."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from typer.testing import CliRunner

from closedloop.cli.main import app
from closedloop.db.database import Database
from closedloop.identity.accounts import principal_for
from closedloop.services.demo import credit_code


def _code(region: str) -> str:
    body = uuid.uuid4().hex[:9].upper().replace("I", "1").replace("O", "0")
    return credit_code("91" + region + body)


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke, app, list(args), env={"DATABASE_URL": database_url}
    )
    return result.exit_code, result.stdout, result.stderr


async def test_accounts_from_the_command_line(database_url: str, db: Database) -> None:
    admin = f"zhoushan.admin.{uuid.uuid4().hex[:6]}"
    code, out, err = await _cli(
        database_url, "accounts", "create", admin, "--name", "舟山市管理员",
        "--role", "ADMIN", "--region", "3309",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert f"created account {admin}" in out
    handler = f"dinghai.talent.{uuid.uuid4().hex[:6]}"
    code, out, err = await _cli(
        database_url, "accounts", "create", handler, "--name", "定海区人才板块",
        "--role", "BOARD_HANDLER", "--region", "330902", "--board", "TALENT", "--as", admin,
    )  # fmt: skip
    assert code == 0, (out, err)
    # As that admin, nothing outside 舟山 (3309).
    code, out, err = await _cli(
        database_url, "accounts", "create", f"x.{uuid.uuid4().hex[:6]}", "--name", "x",
        "--role", "CENTER_STAFF", "--region", "3305", "--as", admin,
    )  # fmt: skip
    assert code == 1
    assert "REGION_OUT_OF_SCOPE" in err
    code, out, err = await _cli(database_url, "accounts", "list", "--region-within", "3309")
    assert code == 0, err
    listed = {line.split("\t")[0] for line in out.splitlines()}
    assert {admin, handler} <= listed
    code, out, err = await _cli(database_url, "accounts", "deactivate", handler, "--as", admin)
    assert code == 0, (out, err)
    async with db.read_reference() as conn:
        assert await principal_for(conn, handler) is None
        assert await principal_for(conn, admin) is not None
    code, out, err = await _cli(database_url, "accounts", "deactivate", handler, "--as", admin)
    assert code == 1 and "ALREADY_INACTIVE" in err


async def test_enterprise_registry_import(database_url: str, tmp_path: Path) -> None:
    good, other = _code("330902"), _code("330903")
    csv_file = tmp_path / "registry.csv"
    csv_file.write_text(
        "credit_code,name,region_code,contact\n"
        f"{good},舟山某水产公司,330902,0580-1234567\n"
        "91330902MA0000000X,坏代码,330902,张三\n"
        f"{other},舟山某船舶公司,339999,李四\n",
        encoding="utf-8",
    )
    code, out, err = await _cli(database_url, "enterprises", "import", "--file", str(csv_file))
    assert code == 1
    assert "created 1, updated 0, unchanged 0, rejected 2" in out
    lines = err.splitlines()
    assert lines[0].startswith("line 3: INVALID_CREDIT_CODE")
    assert lines[1].startswith("line 4: REGION_NOT_FOUND")
    # Again, as JSON lines through ``closedloop import enterprises``: idempotent.
    jsonl = tmp_path / "registry.jsonl"
    rows = [
        {"credit_code": good, "name": "舟山某水产公司", "region_code": "330902",
         "contact": "0580-1234567"},
        {"credit_code": other, "name": "舟山某船舶公司", "region_code": "330903",
         "contact_name": "李四"},
    ]  # fmt: skip
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    code, out, err = await _cli(database_url, "import", "enterprises", "--file", str(jsonl))
    assert code == 0, (out, err)
    assert "created 1, updated 0, unchanged 1, rejected 0" in out
