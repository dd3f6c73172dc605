"""Scoring scheme versions as data: the ``ScoringSchemeVersion`` node, the check of a
document (``SchemeValidation``, each problem with its path), inputs, payloads and the typed
errors (``SchemeErrorCode``) of ``uploadScoringScheme`` and ``activateScoringScheme``.
A version outside the caller's scope (``scheme.read``) answers like a missing one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON

from closedloop import i18n
from closedloop.domain.schemes import (
    SchemeErrorCode,
    SchemeProblem,
    SchemeVersionError,
    VersionState,
    scheme_from_json,
)
from closedloop.schema.context import Info
from closedloop.schema.evaluation.args import localized
from closedloop.schema.evaluation.schemes import ScoringScheme
from closedloop.schema.node_registry import register_node
from closedloop.schema.payloads import UserError
from closedloop.schema.relay import Node, to_global_id
from closedloop.services.schemes import versions
from closedloop.services.schemes.versions import SchemeVersionRecord

strawberry.enum(SchemeErrorCode, name="SchemeErrorCode", description="评价方案管理错误")
strawberry.enum(
    VersionState, name="SchemeVersionState", description="评价方案版本状态 / a version's state"
)


@strawberry.type(description="评价方案文件的一处问题 / one problem of a scheme document")
class SchemeProblemItem:
    path: str | None = strawberry.field(
        description="问题所在位置，如 indicators[RESPONSE].rule.target；null 为整个文件"
        " / where: null for the document as a whole"
    )
    message: str


def problem_items(info: Info, problems: tuple[SchemeProblem, ...]) -> list[SchemeProblemItem]:
    return [SchemeProblemItem(path=p.path, message=localized(info, p.label)) for p in problems]


@strawberry.type(description="评价方案管理错误 / a scheme administration error")
class SchemeError(UserError):
    code: SchemeErrorCode
    path: str | None = strawberry.field(
        default=None, description="文件中的问题位置 / where in the document (INVALID_SCHEME)"
    )


def scheme_errors(info: Info, exc: SchemeVersionError) -> list[SchemeError]:
    """One error per problem of an invalid document (each with its path), else one."""
    text = i18n.label(exc.code, info.context.locale, "SchemeErrorCode")
    if not exc.problems:
        return [SchemeError(code=exc.code, message=text, field=exc.field)]
    sep = ": " if info.context.locale == i18n.EN else "："
    return [
        SchemeError(
            code=exc.code,
            message=f"{text}{sep}{p.path + ' ' if p.path else ''}{localized(info, p.label)}",
            field=exc.field,
            path=p.path,
        )
        for p in exc.problems
    ]


@strawberry.type(description="评价方案版本 / a stored version of a scoring scheme")
class ScoringSchemeVersion(Node):
    scheme_key: str = strawberry.field(description="方案键（文件的 scheme 字段）/ the key")
    version_label: str
    state: VersionState
    effective_from: dt.date | None = strawberry.field(
        description="生效周期的第一天 / the first day of the period it is in force from"
    )
    effective_period: str | None = strawberry.field(description="生效周期，如 2027-Q1")
    uploaded_by: str
    uploaded_at: dt.datetime
    activated_by: str | None
    activated_at: dt.datetime | None
    version: int = strawberry.field(description="乐观锁版本 / for expectedVersion")
    rec: strawberry.Private[SchemeVersionRecord]

    @classmethod
    def from_record(cls, rec: SchemeVersionRecord) -> ScoringSchemeVersion:
        return cls(
            id=to_global_id("ScoringSchemeVersion", rec.id),
            scheme_key=rec.scheme_key,
            version_label=rec.version_label,
            state=VersionState(rec.state),
            effective_from=rec.effective_from,
            effective_period=rec.effective_period,
            uploaded_by=rec.uploaded_by_name,
            uploaded_at=rec.uploaded_at,
            activated_by=rec.activated_by_name,
            activated_at=rec.activated_at,
            version=rec.version,
            rec=rec,
        )

    @strawberry.field
    def state_label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "SchemeVersionState")

    @strawberry.field(description="方案内容 / the scheme as stored")
    def scheme(self, info: Info) -> ScoringScheme:
        return ScoringScheme.of(info, scheme_from_json(self.rec.document, origin="stored"))

    @strawberry.field(description="方案文件（JSON）/ the document as uploaded")
    def document(self) -> JSON:
        return versions.decoded(self.rec.document)  # type: ignore[no-any-return]


@strawberry.type(description="评价方案检查结果 / the result of validateScoringScheme")
class SchemeValidation:
    valid: bool
    key: str | None = None
    name: str | None = None
    indicator_count: int | None = None
    error: str | None = strawberry.field(default=None, description="首个问题 / the first problem")
    problems: list[SchemeProblemItem] = strawberry.field(
        default_factory=list, description="全部问题及其位置 / every problem, with its path"
    )


@strawberry.input
class UploadScoringSchemeInput:
    document: JSON = strawberry.field(description="评价方案文件（JSON）/ the scheme document")
    version_label: str = strawberry.field(description="版本名，如 2027版 / e.g. 2027 edition")
    idempotency_key: str | None = None


@strawberry.input
class ActivateScoringSchemeInput:
    id: strawberry.ID
    effective_from: str = strawberry.field(
        description="自该周期起生效（月、季或年，未结束）/ in force from this period, e.g. 2027-Q1"
    )
    expected_version: int | None = None
    idempotency_key: str | None = None


@strawberry.input
class ScoringSchemeFilterInput:
    scheme_key: str | None = None
    state: VersionState | None = None


@strawberry.type(description="评价方案版本操作结果 / the result of a scheme version mutation")
class ScoringSchemePayload:
    scheme_version: ScoringSchemeVersion | None
    errors: list[SchemeError]


def validation_of(info: Info, document: Any) -> SchemeValidation:
    try:
        scheme = versions.validate(document)
    except SchemeVersionError as exc:
        items = problem_items(info, exc.problems)
        first = items[0] if items else None
        error = None
        if first is not None:
            error = f"{first.path}: {first.message}" if first.path else first.message
        return SchemeValidation(valid=False, error=error, problems=items)
    return SchemeValidation(
        valid=True,
        key=scheme.key,
        name=localized(info, scheme.label),
        indicator_count=len(scheme.indicators),
    )


@register_node("ScoringSchemeVersion")
async def _version_node(info: Info, key: str) -> ScoringSchemeVersion | None:
    p = info.context.principal
    if not key.isdigit() or p.is_anonymous:
        return None
    found = await versions.versions_by_id(info.context.db, p, [int(key)])
    rec = found.get(int(key))
    return ScoringSchemeVersion.from_record(rec) if rec else None
