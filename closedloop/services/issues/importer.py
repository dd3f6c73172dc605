"""Import one channel's records (e.g. a 12345 hotline export) into the issue library.

Two streaming passes over the file. The first validates every record: its shape (required
fields, credit code, category, tags, time), duplicates inside the file, and, in batches
against the database, whether it was imported before and whether its enterprise is known
and inside the importing account's scope (or may be registered). The second pass submits
the good records in batches (``LOAD_BATCH`` per unit of work, ``bulk_submit.submit_many``:
the rules of ``commands.submit``, applied set-wise; records numbered in different regions in
``STREAMS`` streams written at once), as the importing staff account, with
the record's ``record_id`` as the issue's ``external_id``. Importing is idempotent on
(channel, record_id): a record imported before is counted as already imported and left
alone.

CSV files have a header row; tags are separated by ``;`` or ``|``. JSON lines hold one
object per line; tags are a list of strings. ``received_at`` (ISO 8601, Beijing time when
no offset is given) becomes the issue's submission time.

Reading and checking one record is ``import_records``."""

from __future__ import annotations

import asyncio
import codecs
import multiprocessing
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can, can_on_region
from closedloop.authz.roles import Action, Principal, Target
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.db.driver import any_of
from closedloop.domain.clock import Clock
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import Channel
from closedloop.identity.accounts import principal_for
from closedloop.services.issues import bulk_submit, commands
from closedloop.services.issues.import_records import (
    BATCH,
    COLUMN_OF,
    LOAD_BATCH,
    STREAMS,
    ImportFileError,
    ImportFormat,
    ImportRefused,
    ImportReport,
    Parsed,
    Record,
    RecordRow,
    RowError,
    csv_records,
    detect_format,
    jsonl_records,
    parse_record,
)
from closedloop.services.issues.unit_of_work import CommandTx
from closedloop.settings import Settings

# --- the import ----------------------------------------------------------------------

KEYS_POOL_FROM = 4 * LOAD_BATCH  # records to import from which a worker process pays off


class _Importer:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        principal: Principal,
        channel: Channel,
        path: Path,
        fmt: ImportFormat,
        encoding: str,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.principal = principal
        self.channel = channel
        self.path = path
        self.fmt = fmt
        self.encoding = encoding
        self.now = clock.now()
        self.report = ImportReport()
        # The enterprises registered by a record of this file: credit code -> region.
        self.new_enterprises: dict[str, str] = {}

    def records(self) -> Iterator[Record]:
        if self.fmt is ImportFormat.CSV:
            return csv_records(self.path, self.encoding)
        return jsonl_records(self.path, self.encoding)

    def parse(self, line: int, record: dict[str, Any] | RowError) -> Parsed:
        return parse_record(line, record, self.now, self.fmt is ImportFormat.CSV)

    @property
    def scope(self) -> str:
        return f"{self.principal.username} ({self.principal.region_code})"

    # first pass: validate everything, import nothing

    async def validate(self) -> dict[int, str]:
        """The lines to import, each with the region its issue will be numbered in (its
        enterprise's); errors and already imported records go to the report."""
        to_import: dict[int, str] = {}
        first_line: dict[str, int] = {}
        batch: list[RecordRow] = []
        # In the account's scope: a record imported by another scope is not seen here; the
        # unique (channel, external_id) constraint still counts it as imported in pass two.
        async with self.db.read(self.principal) as conn:
            for line, record in self.records():
                self.report.records += 1
                parsed = self.parse(line, record)
                rid = parsed.record_id
                if rid is not None:
                    if rid in first_line:
                        parsed.errors.append(
                            RowError(
                                line,
                                "record_id",
                                f"duplicate record_id {rid} (first on line {first_line[rid]})",
                            )
                        )
                        parsed.row = None
                    else:
                        first_line[rid] = line
                self.report.errors.extend(parsed.errors)
                if parsed.row is not None:
                    batch.append(parsed.row)
                if len(batch) >= BATCH:
                    await self.check_batch(conn, batch, to_import)
                    batch = []
            if batch:
                await self.check_batch(conn, batch, to_import)
        return to_import

    async def check_batch(
        self,
        conn: AsyncConnection,
        batch: Sequence[RecordRow],
        to_import: dict[int, str],
    ) -> None:
        existing = set(
            (
                await conn.execute(
                    sa.select(t.issue.c.external_id).where(
                        t.issue.c.channel == self.channel.value,
                        any_of(t.issue.c.external_id, sorted({r.record_id for r in batch})),
                    )
                )
            ).scalars()
        )
        # Every enterprise of these credit codes, in scope or not (the system's read): one
        # outside the account's scope is refused by name below, never registered twice.
        async with self.db.system_transaction() as system:
            enterprises: dict[str, str] = {
                row.credit_code: row.region_code
                for row in await system.execute(
                    sa.select(t.enterprise.c.credit_code, t.enterprise.c.region_code).where(
                        any_of(t.enterprise.c.credit_code, sorted({r.credit_code for r in batch}))
                    )
                )
            }
        wanted_regions = {r.region_code for r in batch if r.region_code}
        regions = (
            set(
                (
                    await conn.execute(
                        sa.select(t.region.c.code).where(
                            any_of(t.region.c.code, sorted(wanted_regions))
                        )
                    )
                ).scalars()
            )
            if wanted_regions
            else set()
        )
        for row in batch:
            if row.record_id in existing:
                self.report.skipped_existing += 1
                continue
            outcome = self.check_enterprise(row, enterprises, regions)
            if isinstance(outcome, RowError):
                self.report.errors.append(outcome)
            else:
                to_import[row.line] = outcome

    def check_enterprise(
        self,
        row: RecordRow,
        enterprises: dict[str, str],
        regions: set[str],
    ) -> RowError | str:
        """The checks of ``commands._enterprise_for_staff``, made before anything changes:
        the record's error, or the region its enterprise is (or will be registered) in."""
        on_behalf = Action.ISSUE_SUBMIT_ON_BEHALF
        known_region = enterprises.get(row.credit_code)
        if known_region is not None:
            # An enterprise outside the account's scope answers like an unknown one.
            if can_on_region(self.principal, on_behalf, known_region):
                return known_region
            return RowError(
                row.line, "credit_code", f"enterprise not found in the scope of {self.scope}"
            )
        if row.credit_code in self.new_enterprises:
            return self.new_enterprises[row.credit_code]  # registered by an earlier record
        if row.enterprise_name is None or row.region_code is None:
            missing = "enterprise_name" if row.enterprise_name is None else "region_code"
            return RowError(
                row.line,
                missing,
                f"enterprise not found in the scope of {self.scope}; "
                "a new enterprise needs enterprise_name and region_code",
            )
        if row.region_code not in regions:
            return RowError(row.line, "region_code", f"unknown region {row.region_code}")
        if not can_on_region(self.principal, on_behalf, row.region_code):
            return RowError(
                row.line, "region_code", f"region {row.region_code} is outside {self.scope}"
            )
        self.new_enterprises[row.credit_code] = row.region_code
        return row.region_code

    # second pass: submit the good records, a batch per unit of work

    async def load(self, to_import: dict[int, str]) -> None:
        """Submit in batches of ``LOAD_BATCH`` records, each batch in one unit of work
        (``bulk_submit``: the rules of ``commands.submit``, a few statements per batch; a
        batch that meets a conflict goes record by record, so each record still gets its
        own answer). The records are dealt by their numbering region over ``STREAMS``
        streams (``streams``): a stream's batches go in file order one after another, the
        streams' at once on connections of their own. The next batch is read, parsed and
        its similarity keys worked out (in a worker process for a large import) in a thread
        while the database writes the current ones."""
        records = self.records()
        stream_of = streams(Counter(to_import.values()), STREAMS)
        pending: list[list[tuple[RecordRow, bulk_submit.Submission]]] = [[] for _ in range(STREAMS)]
        # A large import works its keys out in a worker process; a small one is done
        # before a process would have started.
        pool = (
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            if len(to_import) >= KEYS_POOL_FROM
            else None
        )

        def take() -> list[tuple[int, list[tuple[RecordRow, bulk_submit.Submission]]]]:
            """The next full batch of some stream, or every stream's last at the end."""
            ready = []
            for line, record in records:
                origin = to_import.get(line)
                if origin is None:
                    continue
                parsed = self.parse(line, record)
                if parsed.row is None:  # the file changed between the passes
                    self.report.errors.extend(parsed.errors)
                    continue
                stream = stream_of[origin]
                pending[stream].append((parsed.row, self.submission(parsed.row)))
                if len(pending[stream]) >= LOAD_BATCH:
                    ready.append((stream, pending[stream]))
                    pending[stream] = []
                    break
            else:
                ready = [(stream, batch) for stream, batch in enumerate(pending) if batch]
                pending[:] = [[] for _ in range(STREAMS)]
            for _, batch in ready:
                bulk_submit.warm([item for _, item in batch], pool)
            return ready

        writing: dict[int, asyncio.Task[None]] = {}
        try:
            ready = await asyncio.to_thread(take)
            while ready:
                for stream, batch in ready:
                    if stream in writing:  # the stream's batch before, first
                        await writing.pop(stream)
                    writing[stream] = asyncio.create_task(self.submit_batch(batch))
                ready = await asyncio.to_thread(take)
        finally:
            try:
                await asyncio.gather(*writing.values())
            finally:
                if pool is not None:
                    pool.shutdown()

    async def submit_batch(self, batch: list[tuple[RecordRow, bulk_submit.Submission]]) -> None:
        items = [item for _, item in batch]

        async def work(tx: CommandTx) -> list[bulk_submit.Result]:
            return await bulk_submit.submit_batch(tx, items)

        now = self.clock.now()
        results = await bulk_submit.run_batch(self.db, self.principal, self.settings, now, work)
        for (row, _), result in zip(batch, results, strict=True):
            self.count(row, result)

    def submission(self, row: RecordRow) -> bulk_submit.Submission:
        """A record as a submission: submitted when it was received (else now)."""
        return bulk_submit.Submission(self.command(row), row.received_at or self.clock.now())

    def command(self, row: RecordRow) -> commands.SubmitIssue:
        return commands.SubmitIssue(
            title=row.title,
            content=row.content,
            channel=self.channel,
            category=row.category,
            tags=row.tags,
            credit_code=row.credit_code,
            enterprise_name=row.enterprise_name,
            enterprise_region=row.region_code,
            external_id=row.record_id,
        )

    def count(self, row: RecordRow, result: int | IssueCommandError) -> None:
        """A record's outcome in the report."""
        if not isinstance(result, IssueCommandError):
            self.report.imported += 1
        elif result.code is IssueErrorCode.DUPLICATE_EXTERNAL_ID:
            self.report.skipped_existing += 1  # imported meanwhile, or by another scope
        else:
            column = COLUMN_OF.get(result.field or "", result.field or "record")
            self.report.errors.append(RowError(row.line, column, result.message("en")))


def streams(records_of: Counter[str], count: int) -> dict[str, int]:
    """Each numbering region's stream: the largest regions first, each to the stream with
    the fewest records so far, so the streams carry about as many records each. A region
    stays in one stream: its number counter is held from numbering to commit, so two
    batches of one region would only wait for each other, and its records keep their file
    order in their numbers."""
    load = [0] * count
    stream_of: dict[str, int] = {}
    for region, records in sorted(records_of.items(), key=lambda item: (-item[1], item[0])):
        stream = load.index(min(load))
        stream_of[region] = stream
        load[stream] += records
    return stream_of


async def import_issues(
    db: Database,
    clock: Clock,
    settings: Settings,
    *,
    channel: Channel,
    path: Path,
    username: str,
    fmt: ImportFormat | None = None,
    encoding: str = "utf-8-sig",
) -> ImportReport:
    """Validate every record of ``path``, then import the good ones as ``username``.

    Raises ``ImportRefused`` when the import cannot start (unknown format, unknown account,
    an account that may not submit issues on behalf of enterprises). A file that cannot be
    read as a whole (bad header, wrong encoding) is reported on its line; then nothing is
    imported.
    """
    fmt = fmt or detect_format(path)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror}") from exc
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ImportRefused(f"unknown encoding {encoding}") from exc
    async with db.read_reference() as conn:
        principal = await principal_for(conn, username)
    if principal is None:
        raise ImportRefused(f"unknown or inactive account {username}")
    if principal.region_code is None or not can(
        principal, Action.ISSUE_SUBMIT_ON_BEHALF, Target.SELF
    ):
        raise ImportRefused(
            f"{username} ({principal.role}) may not submit issues on behalf of enterprises"
        )
    importer = _Importer(db, clock, settings, principal, channel, path, fmt, encoding)
    report = importer.report
    try:
        to_import = await importer.validate()
        await importer.load(to_import)
    except ImportFileError as exc:  # unreadable: the first pass fails before importing anything
        report.errors.append(exc.error)
    report.errors.sort(key=lambda e: e.line)
    return report
