"""Many submissions on behalf of enterprises in one unit of work: the bulk import's load.

``submit_many`` is ``commands.submit`` for a staff account (or a channel system's
service account, through ``closedloop.services.channels``), applied to a batch of records
set-wise: the same checks (title and content required and bounded, tags cleaned, the
channel given, the credit code valid; the enterprise found in the caller's scope, or
registered when its name and a region inside the caller's scope are given; the external id
not taken), then for every record that passes, the same rows: a number from its origin's
counter, the issue taken in by the caller's center, its first custody span, its
``SUBMITTED`` event and its similarity keys. A few statements per batch instead of a few
per record. A record that fails a check gets its error and is left out; the others go in
together. Each record carries its own submission time (``Submission.at``).

Its callers (the CSV import, a channel system's push) run a batch through ``run_batch`` (one
transaction, run again when it loses a deadlock) and ``submit_batch`` (``submit_many`` in a
savepoint; a batch that meets a conflict with a concurrent writer goes record by record
through ``commands.submit`` instead, in the order of the number counters it takes).
``tests/api/test_bulk_equivalence.py`` checks that ``submit_many`` writes exactly the rows
``commands.submit`` writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from closedloop.authz.enforcer import can, can_on_region
from closedloop.authz.roles import Action, Principal, Role, Target
from closedloop.catalog import get_catalog
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.db.driver import any_of
from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.domain.custody import holder_of
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import HandlingLevel, IssueState
from closedloop.domain.regions import is_valid_code
from closedloop.domain.similarity import IssueText, many_text_keys, remember, text_keys
from closedloop.services.event_bus import publish
from closedloop.services.issues import commands
from closedloop.services.issues.commands import (
    TITLE_MAX,
    SubmitIssue,
    clean_tags,
    issue_number,
    required_credit_code,
    required_text,
)
from closedloop.services.issues.unit_of_work import CommandTx
from closedloop.services.learning.similar import IssueKeys, key_rows, write_keys
from closedloop.settings import Settings

E = IssueErrorCode
T = TypeVar("T")
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
DEADLOCK_ATTEMPTS = 3


def _action(p: Principal) -> Action:
    """Staff submit on behalf of enterprises; a channel system takes in its own records
    (``closedloop.services.channels``, which names its bound channel in every command)."""
    return (
        Action.ISSUE_SUBMIT_FROM_CHANNEL
        if p.role is Role.CHANNEL
        else Action.ISSUE_SUBMIT_ON_BEHALF
    )


@dataclass(frozen=True, slots=True)
class Submission:
    cmd: SubmitIssue
    at: dt.datetime  # when it was submitted (a hotline record's received_at)


@dataclass(slots=True)
class _Checked:
    index: int
    at: dt.datetime
    title: str
    content: str
    tags: list[str]
    credit_code: str
    external_id: str | None
    enterprise_id: int | None = None
    origin: str = ""
    number: str = ""


Result = int | IssueCommandError


def warm(items: Sequence[Submission], pool: Executor | None = None) -> None:
    """Work the records' similarity keys out ahead (``similarity.text_keys`` keeps them),
    in ``pool`` (a worker process: the MinHash is pure Python, and this process's
    interpreter is busy with the batch being written) or here. No I/O: the import runs it
    for the next batch while the database writes the current one. Only a cache is filled:
    what ``submit_many`` writes stays its own."""
    texts = [
        IssueText((item.cmd.title or "").strip(), (item.cmd.content or "").strip()).text
        for item in items
    ]
    if pool is None:
        for text in texts:
            text_keys(text)
    else:
        remember(texts, pool.submit(many_text_keys, texts).result())


async def run_batch(
    db: Database,
    principal: Principal,
    settings: Settings,
    now: dt.datetime,
    work: Callable[[CommandTx], Awaitable[T]],
) -> T:
    """``work`` in one transaction as ``principal``, what it touched published, committed.
    A batch that loses a deadlock to a concurrent writer (a staff command, another batch
    taking counters or rows in another order) runs again from the start: nothing of it was
    written."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            async with db.transaction(principal) as conn:
                tx = CommandTx(conn, principal, now, settings)
                outcome = await work(tx)
                await publish(conn, tx.touched)
                await conn.commit()
                return outcome
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def submit_batch(tx: CommandTx, items: Sequence[Submission]) -> list[Result]:
    """``submit_many`` in a savepoint. A batch that meets a conflict with a concurrent writer
    (a record id or a new enterprise taken in meanwhile) goes record by record through
    ``commands.submit`` instead, each at its own time in a savepoint of its own (a failing
    record leaves nothing behind), in the order of the region each issue is numbered in:
    the per-region number counters stay locked to commit, so concurrent batches take them
    in one order. A record taken in meanwhile (or before, outside the caller's sight)
    answers ``DUPLICATE_EXTERNAL_ID``, as in the set-wise load."""
    touched = set(tx.touched)
    try:
        async with tx.conn.begin_nested():
            return await submit_many(tx, items)
    except IntegrityError:
        tx.touched = touched
    results: dict[int, Result] = {}
    for index in await _lock_order(tx, items):
        results[index] = await _submit_one(tx, items[index])
    return [results[i] for i in range(len(items))]


async def _submit_one(tx: CommandTx, item: Submission) -> Result:
    one = CommandTx(tx.conn, tx.principal, item.at, tx.settings)
    try:
        async with tx.conn.begin_nested():
            issue_id = await commands.submit(one, item.cmd)
    except IssueCommandError as exc:
        return exc
    except IntegrityError as exc:
        # The unique (channel, external id) decides: taken in meanwhile by a concurrent
        # writer, or earlier outside this account's sight.
        if "uq_issue_channel_external_id" in str(exc):
            return IssueCommandError(
                E.DUPLICATE_EXTERNAL_ID, "externalId", item.cmd.external_id or ""
            )
        raise
    tx.touched.update(one.touched)
    return issue_id


async def _lock_order(tx: CommandTx, items: Sequence[Submission]) -> list[int]:
    """The items by the region their issue will be numbered in (the enterprise's: known, or
    the region the first record registering it names), then in their own order."""
    codes: dict[int, str] = {}
    for index, item in enumerate(items):
        try:
            codes[index] = normalize_credit_code(item.cmd.credit_code or "")
        except InvalidCreditCode:
            codes[index] = ""
    known = await tx.conn.execute(
        sa.select(t.enterprise.c.credit_code, t.enterprise.c.region_code).where(
            any_of(t.enterprise.c.credit_code, sorted(set(codes.values())))
        )
    )
    region_of: dict[str, str] = {code: region for code, region in known}
    for index in sorted(codes):
        named = items[index].cmd.enterprise_region
        if named and codes[index]:
            region_of.setdefault(codes[index], named)
    return sorted(codes, key=lambda index: (region_of.get(codes[index], ""), index))


async def submit_many(tx: CommandTx, items: Sequence[Submission]) -> list[Result]:
    """Each item's new issue id, or the error that left it out."""
    p = tx.principal
    results: list[Result | None] = [None] * len(items)
    if p.region_code is None or not can(p, _action(p), Target.SELF):
        return [IssueCommandError(E.PERMISSION_DENIED)] * len(items)
    checked = []
    for n, item in enumerate(items):
        try:
            checked.append(_check(n, item))
        except IssueCommandError as exc:
            results[n] = exc
    await _enterprises(tx, items, checked, results)
    await _external_ids(tx, items, checked, results)
    accepted = [c for c in checked if results[c.index] is None]
    if accepted:
        await _numbers(tx, accepted)
        for c, issue_id in zip(accepted, await _insert(tx, items, accepted), strict=True):
            results[c.index] = issue_id
    done = [r for r in results if r is not None]
    assert len(done) == len(items)  # each item has its id or its error
    return done


def _check(n: int, item: Submission) -> _Checked:
    cmd = item.cmd
    title = required_text(cmd.title, "title", TITLE_MAX)
    content = required_text(cmd.content, "content")
    tags = clean_tags(cmd.tags)
    if cmd.channel is None:
        raise IssueCommandError(E.REQUIRED, "channel")
    if cmd.settled_result is not None:
        raise IssueCommandError(E.INVALID, "settledResult")  # not in a bulk import
    code = required_credit_code(cmd)
    return _Checked(n, item.at, title, content, tags, code, cmd.external_id)


async def _enterprises(
    tx: CommandTx,
    items: Sequence[Submission],
    checked: list[_Checked],
    results: list[Result | None],
) -> None:
    """Each record's enterprise: found in the caller's scope, or registered (once)."""
    p = tx.principal
    e = t.enterprise.c
    codes = sorted({c.credit_code for c in checked})
    found = {
        r.credit_code: (r.id, r.region_code)
        for r in await tx.conn.execute(
            sa.select(e.id, e.credit_code, e.region_code).where(any_of(e.credit_code, codes))
        )
    }
    wanted_regions = sorted(
        {items[c.index].cmd.enterprise_region or "" for c in checked if c.credit_code not in found}
    )
    regions = set(
        (
            await tx.conn.execute(
                sa.select(t.region.c.code).where(any_of(t.region.c.code, wanted_regions))
            )
        ).scalars()
    )
    new: dict[str, tuple[str, str]] = {}  # credit code -> (name, region), first record's
    for c in checked:
        cmd = items[c.index].cmd
        try:
            if c.credit_code in found:
                enterprise_id, region = found[c.credit_code]
                # An enterprise outside the caller's subtree answers like an unknown one.
                if not can_on_region(p, _action(p), region):
                    raise IssueCommandError(E.ENTERPRISE_NOT_FOUND, "creditCode")
                c.enterprise_id, c.origin = enterprise_id, region
                continue
            if c.credit_code in new:
                c.origin = new[c.credit_code][1]
                continue
            if not cmd.enterprise_name or not cmd.enterprise_region:
                raise IssueCommandError(
                    E.ENTERPRISE_NOT_FOUND, "creditCode", "give enterpriseName and enterpriseRegion"
                )
            region = cmd.enterprise_region
            if (
                not is_valid_code(region)
                or not can_on_region(p, _action(p), region)
                or region not in regions
            ):
                raise IssueCommandError(E.REGION_NOT_FOUND, "enterpriseRegion")
            name = required_text(cmd.enterprise_name, "enterpriseName", 200)
            new[c.credit_code] = (name, region)
            c.origin = region
        except IssueCommandError as exc:
            results[c.index] = exc
    if not new:
        return
    registered = {
        r.credit_code: r.id
        for r in await tx.conn.execute(
            sa.text(
                "INSERT INTO enterprise (credit_code, name, region_code)"
                " SELECT * FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]),"
                " CAST(:regions AS text[]))"
                " ON CONFLICT (credit_code) DO NOTHING RETURNING id, credit_code"
            ),
            {
                "codes": list(new),
                "names": [name for name, _ in new.values()],
                "regions": [region for _, region in new.values()],
            },
        )
    }
    for c in checked:
        if c.enterprise_id is None and results[c.index] is None:
            enterprise_id = registered.get(c.credit_code)
            if enterprise_id is None:
                # Registered already, outside the caller's scope (row-level security hid it).
                results[c.index] = IssueCommandError(E.ENTERPRISE_NOT_FOUND, "creditCode")
            else:
                c.enterprise_id = enterprise_id


async def _external_ids(
    tx: CommandTx,
    items: Sequence[Submission],
    checked: list[_Checked],
    results: list[Result | None],
) -> None:
    """A record whose (channel, external id) is taken, or taken by an earlier record of the
    batch, is refused."""
    by_channel: dict[str, list[_Checked]] = defaultdict(list)
    for c in checked:
        if c.external_id is not None and results[c.index] is None:
            given = items[c.index].cmd.channel
            assert given is not None
            by_channel[given.value].append(c)
    for channel, group in by_channel.items():
        taken = set(
            (
                await tx.conn.execute(
                    sa.select(t.issue.c.external_id).where(
                        t.issue.c.channel == channel,
                        any_of(t.issue.c.external_id, sorted({c.external_id for c in group})),
                    )
                )
            ).scalars()
        )
        for c in group:
            assert c.external_id is not None
            if c.external_id in taken:
                results[c.index] = IssueCommandError(
                    E.DUPLICATE_EXTERNAL_ID, "externalId", c.external_id
                )
            taken.add(c.external_id)


async def _numbers(tx: CommandTx, accepted: list[_Checked]) -> None:
    """Numbers from each origin's counter for the year, in batch order: one statement for
    every counter (taken in a fixed order, so concurrent batches never deadlock)."""
    counts = Counter((c.origin, c.at.year) for c in accepted)
    keys = sorted(counts)
    rows = await tx.conn.execute(
        sa.text(
            "INSERT INTO issue_number (region_code, year, last)"
            " SELECT * FROM unnest(CAST(:regions AS text[]), CAST(:years AS int[]),"
            " CAST(:counts AS int[]))"
            " ON CONFLICT (region_code, year)"
            " DO UPDATE SET last = issue_number.last + excluded.last"
            " RETURNING region_code, year, last"
        ),
        {
            "regions": [region for region, _ in keys],
            "years": [year for _, year in keys],
            "counts": [counts[k] for k in keys],
        },
    )
    next_of = {(r.region_code, r.year): r.last - counts[(r.region_code, r.year)] for r in rows}
    for c in accepted:
        key = (c.origin, c.at.year)
        next_of[key] += 1
        c.number = issue_number(c.origin, c.at.year, next_of[key])


async def _insert(
    tx: CommandTx, items: Sequence[Submission], accepted: list[_Checked]
) -> list[int]:
    """The issues, their first custody spans, events and similarity keys."""
    p = tx.principal
    holding = p.region_code
    assert holding is not None
    level, state = HandlingLevel.CENTER, IssueState.SUBMITTED
    catalog = get_catalog()
    channels: list[str] = []
    proactive: list[bool] = []
    categories: list[str | None] = []
    tags: list[str] = []
    for c in accepted:
        cmd = items[c.index].cmd
        assert cmd.channel is not None
        channel = catalog.channel(cmd.channel.value)
        assert channel is not None
        channels.append(cmd.channel.value)
        proactive.append(channel.proactive)
        categories.append(cmd.category.value if cmd.category else None)
        tags.append(orjson.dumps(c.tags).decode())
    times = [c.at for c in accepted]
    numbers = [c.number for c in accepted]
    await tx.conn.execute(_CHECKS_PLANNED_ONCE)
    inserted = await tx.conn.execute(
        _ISSUES,
        {
            "numbers": numbers,
            "titles": [c.title for c in accepted],
            "contents": [c.content for c in accepted],
            "enterprise_ids": [c.enterprise_id for c in accepted],
            "origins": [c.origin for c in accepted],
            "holding": holding,
            "channels": channels,
            "proactive": proactive,
            "external_ids": [c.external_id for c in accepted],
            "categories": categories,
            "tags": tags,
            "level": level.value,
            "state": state.value,
            "submitted_by": p.account_id,
            "created": times,
        },
    )
    id_of = {number: int(issue_id) for issue_id, number in inserted}
    ids = [id_of[number] for number in numbers]
    holder = holder_of(holding, level.value, None, None, state.value)
    keys: list[IssueKeys] = []
    for c, issue_id in zip(accepted, ids, strict=True):
        text = IssueText(c.title, c.content, str(c.enterprise_id), frozenset(c.tags))
        keys.append(key_rows(issue_id, text, c.origin, c.at))
    # Each table's rows as one statement over arrays (``unnest``): one plan, not one per row
    # (the API's connections plan every statement afresh: ``plan_cache_mode``).
    await tx.conn.execute(
        _CUSTODY,
        {
            "issue_ids": ids,
            "region": holder.region_code,
            "level": holder.handling_level,
            "board": holder.board_id,
            "department": holder.department_id,
            "started": times,
        },
    )
    await tx.conn.execute(
        _EVENTS,
        {
            "issue_ids": ids,
            "occurred": times,
            "actor_id": p.account_id,
            "actor_name": tx.actor_name,
            "to_state": state.value,
            "payloads": [
                orjson.dumps({"channel": channel, "number": c.number}).decode()
                for c, channel in zip(accepted, channels, strict=True)
            ],
        },
    )
    await write_keys(tx.conn, keys)
    tx.touched.update(ids)
    return ids


# A foreign key checks each row it writes with a query of its own (eight a record here,
# four of the issue's, two each of custody and event). The API's connections plan every
# statement for its values (``plan_cache_mode = force_custom_plan``, ``database.make_engine``),
# and those checks with them: each was planned again, row after row (about half of the
# issue, custody and event inserts' time at 1M, bench/RESULTS.md). PostgreSQL's default for
# the rest of the batch's transaction (a savepoint rolled back takes it back) plans them once
# per connection; this batch's own statements are one-shot ``INSERT … SELECT FROM unnest``,
# whose plan no value changes. Behind PgBouncer the default holds already.
_CHECKS_PLANNED_ONCE = sa.text("SELECT set_config('plan_cache_mode', 'auto', true)")
# In the records' order (ids from the sequence in that order, as one by one); each row's
# tags as a JSON list (an array of arrays must be rectangular).
_ISSUES = sa.text(
    "INSERT INTO issue (number, title, content, enterprise_id, origin_region_code,"
    " holding_region_code, channel, proactive, external_id, category, tags, handling_level,"
    " state, submitted_by, created_at, updated_at)"
    " SELECT r.number, r.title, r.content, r.enterprise_id, r.origin, :holding, r.channel,"
    " r.proactive, r.external_id, r.category,"
    " ARRAY(SELECT jsonb_array_elements_text(CAST(r.tags AS jsonb))), :level, :state,"
    " CAST(:submitted_by AS integer), r.created, r.created"
    " FROM unnest(CAST(:numbers AS text[]), CAST(:titles AS text[]), CAST(:contents AS text[]),"
    " CAST(:enterprise_ids AS bigint[]), CAST(:origins AS text[]), CAST(:channels AS text[]),"
    " CAST(:proactive AS boolean[]), CAST(:external_ids AS text[]),"
    " CAST(:categories AS text[]), CAST(:tags AS text[]), CAST(:created AS timestamptz[]))"
    " WITH ORDINALITY AS r(number, title, content, enterprise_id, origin, channel, proactive,"
    " external_id, category, tags, created, n)"
    " ORDER BY r.n"
    " RETURNING id, number"
)
_CUSTODY = sa.text(
    "INSERT INTO issue_custody (issue_id, region_code, handling_level, board_id,"
    " department_id, started_at)"
    " SELECT i, :region, :level, CAST(:board AS integer), CAST(:department AS integer), s"
    " FROM unnest(CAST(:issue_ids AS bigint[]), CAST(:started AS timestamptz[])) AS r(i, s)"
)
_EVENTS = sa.text(
    "INSERT INTO issue_event (issue_id, occurred_at, actor_id, actor_name, type, from_state,"
    " to_state, public, message, payload)"
    " SELECT i, o, CAST(:actor_id AS integer), :actor_name, 'SUBMITTED', NULL, :to_state,"
    " true, NULL, CAST(p AS jsonb)"
    " FROM unnest(CAST(:issue_ids AS bigint[]), CAST(:occurred AS timestamptz[]),"
    " CAST(:payloads AS text[])) AS r(i, o, p)"
)
