"""Expected scoring failures: each a stable ``code`` and a zh/en message."""

from __future__ import annotations

from dataclasses import dataclass

from closedloop.domain.schemes.vocabulary import Label


@dataclass(frozen=True, slots=True)
class SchemeProblem:
    """One thing wrong with a scheme document: where (``indicators[RESPONSE].rule.target``;
    ``None`` for the document as a whole) and what."""

    path: str | None
    label: Label


class ScoringError(ValueError):
    """Base of every expected scoring failure: a stable ``code`` and a zh/en message."""

    def __init__(
        self,
        code: str,
        zh: str,
        en: str,
        *,
        field: str | None = None,
        indicator: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.label = Label(zh, en)
        self.field = field
        self.indicator = indicator

    @property
    def zh(self) -> str:
        return self.label.zh

    @property
    def en(self) -> str:
        return self.label.en


class UnknownScheme(ScoringError):
    def __init__(self, key: str) -> None:
        super().__init__(
            "UNKNOWN_SCHEME",
            f"未知的评价方案：{key}",
            f"unknown scoring scheme: {key}",
            field="scheme",
        )
        self.key = key


class UnknownIndicator(ScoringError):
    def __init__(self, scheme: str, key: str) -> None:
        super().__init__(
            "UNKNOWN_INDICATOR",
            f"评价方案 {scheme} 中没有指标 {key}",
            f"scheme {scheme} has no indicator {key}",
            field="indicator",
            indicator=key,
        )


class InvalidScheme(ScoringError):
    """A scheme document that is not valid: the message names its first problem and
    ``problems`` lists every one found (one per part that could be checked on its own)."""

    def __init__(
        self,
        origin: str,
        detail_zh: str,
        detail_en: str,
        *,
        problems: tuple[SchemeProblem, ...] = (),
    ) -> None:
        super().__init__(
            "INVALID_SCHEME",
            f"评价方案文件 {origin} 无效：{detail_zh}",
            f"invalid scoring scheme {origin}: {detail_en}",
        )
        self.origin = origin
        self.problems = problems or (SchemeProblem(None, Label(detail_zh, detail_en)),)
