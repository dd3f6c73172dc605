"""Fault: the server is killed (SIGKILL) in the middle of a burst of mutations. A real
``closedloop serve`` process; afterwards, for every issue, its version, its events, its
custody ledger and its outbox agree (each command wrote all of them or none), and every
change the server acknowledged is there."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bench.served import free_port
from closedloop.db.database import Database
from closedloop.identity.tokens import mint_token
from closedloop.schema.relay import from_global_id
from closedloop.settings import Settings
from tests.api.issue_helpers import PAYLOAD
from tests.live import WAIT, until, until_healthy

pytestmark = pytest.mark.usefixtures("clean_issues")

ISSUES = 6


@pytest.fixture
def served(database_url: str, settings: Settings) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CLOSEDLOOP_ENVIRONMENT": "test",
        "CLOSEDLOOP_JWT_SECRET": settings.jwt_secret,
        "CLOSEDLOOP_SWEEP_INTERVAL_SECONDS": "0",
        "CLOSEDLOOP_RELAY_INTERVAL_SECONDS": "0",
        "CLOSEDLOOP_RATE_LIMIT_POINTS": "0",
    }
    command = Path(sys.executable).parent / "closedloop"
    process = subprocess.Popen(
        [str(command), "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process, f"http://127.0.0.1:{port}"
    if process.poll() is None:
        process.kill()
    process.wait(WAIT)


def _mutation(name: str) -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


async def test_sigkill_mid_burst_leaves_every_issue_consistent(
    served: tuple[subprocess.Popen[bytes], str], settings: Settings, db: Database
) -> None:
    process, url = served
    enterprise = {"Authorization": f"Bearer {mint_token(settings, 'ent.xinshi-silk')}"}
    center = {"Authorization": f"Bearer {mint_token(settings, 'xinshi.center')}"}
    acknowledged: dict[str, int] = {}  # issue id -> the newest version the server confirmed

    await until_healthy(url)
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:

        async def call(name: str, input_: dict[str, Any], headers: dict[str, str]) -> Any:
            body = {"query": _mutation(name), "variables": {"input": input_}}
            response = await client.post("/graphql", json=body, headers=headers)
            result = response.json()["data"][name]
            assert result["errors"] == [], result["errors"]
            return result["issue"]

        issues = [
            await call("submitIssue", {"title": f"用工问题{n}", "content": "缺挡车工"}, enterprise)
            for n in range(ISSUES)
        ]

        async def burst(issue: dict[str, Any]) -> None:
            """Accept, then notes, one after another, until the server dies."""
            try:
                issue = await call(
                    "acceptIssue", {"id": issue["id"], "expectedVersion": issue["version"]}, center
                )
                acknowledged[issue["id"]] = issue["version"]
                for n in range(1000):
                    note = {"text": f"研判{n}", "public": n % 2 == 0}
                    issue = await call(
                        "addIssueNote",
                        {"id": issue["id"], "expectedVersion": issue["version"], **note},
                        center,
                    )
                    acknowledged[issue["id"]] = issue["version"]
            except (httpx.TransportError, ValueError):
                return  # the server is gone

        tasks = [asyncio.ensure_future(burst(issue)) for issue in issues]
        await until(lambda: sum(acknowledged.values()) >= ISSUES * 8)
        process.send_signal(signal.SIGKILL)  # mid-burst: requests are in flight
        await asyncio.gather(*tasks)
    assert process.wait(WAIT) == -signal.SIGKILL

    async with db.admin.connect() as conn:
        state = {
            r.id: r
            for r in await conn.execute(sa.text("SELECT id, version, state FROM issue ORDER BY id"))
        }
        events = defaultdict(list)
        for r in await conn.execute(
            sa.text("SELECT issue_id, type, occurred_at FROM issue_event ORDER BY id")
        ):
            events[r.issue_id].append(r)
        custody = defaultdict(list)
        for r in await conn.execute(
            sa.text("SELECT issue_id, started_at, ended_at FROM issue_custody ORDER BY id")
        ):
            custody[r.issue_id].append(r)
        outbox = defaultdict(list)
        for r in await conn.execute(
            sa.text("SELECT issue_id, topic, created_at FROM outbox ORDER BY id")
        ):
            outbox[r.issue_id].append(r)

    assert len(state) == ISSUES
    for issue_id, issue in state.items():
        timeline = events[issue_id]
        instants = {e.occurred_at for e in timeline}
        # One event per command, one version per command: nothing half-written.
        assert issue.version == len(timeline), (issue_id, issue.version, len(timeline))
        # The custody ledger: exactly one holder now, each change at an event's instant.
        assert sum(1 for c in custody[issue_id] if c.ended_at is None) == 1
        assert {c.started_at for c in custody[issue_id]} <= instants
        # The outbox: every notification written with its event; acceptance notified.
        assert {o.created_at for o in outbox[issue_id]} <= instants
        accepted = [e.occurred_at for e in timeline if e.type == "ACCEPTED"]
        notified = {o.created_at for o in outbox[issue_id]}
        assert all(at in notified for at in accepted)
    # Every change the server acknowledged survived the kill.
    assert len(acknowledged) == ISSUES
    for global_id, version in acknowledged.items():
        decoded = from_global_id(global_id)
        assert decoded is not None
        assert state[int(decoded[1])].version >= version
