"""The error codes of rules and endpoints administration (time-limit rules, webhook
endpoints), with zh-CN and English labels. Pure: the services in
``closedloop.services.rules`` raise ``RuleError``; what they share with account
administration (scope, versions, idempotency keys, regions) keeps the same code names."""

from __future__ import annotations

import enum

from closedloop import i18n


class RuleErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    REQUIRED = "REQUIRED"
    INVALID_REGION_CODE = "INVALID_REGION_CODE"
    REGION_NOT_FOUND = "REGION_NOT_FOUND"
    REGION_OUT_OF_SCOPE = "REGION_OUT_OF_SCOPE"
    INVALID_TIME_LIMIT = "INVALID_TIME_LIMIT"
    INVALID_URL = "INVALID_URL"
    INVALID_SECRET = "INVALID_SECRET"
    INVALID_EVENT_KIND = "INVALID_EVENT_KIND"


i18n.register(
    "RuleErrorCode",
    {
        **i18n.WRITE_ERROR_LABELS,
        **i18n.REGION_ERROR_LABELS,
        "INVALID_TIME_LIMIT": ("时限天数不在允许范围内", "The number of days is out of range"),
        "INVALID_URL": ("推送地址须为 http(s) 网址", "The URL must be an http(s) URL"),
        "INVALID_SECRET": ("密钥长度不符合要求", "The secret's length is out of range"),
        "INVALID_EVENT_KIND": (
            "事件类型须为大写字母、数字和下划线",
            "An event kind is upper-case letters, digits and underscores",
        ),
    },
)


class RuleError(Exception):
    """An expected failure of rules or endpoints administration: reported with its code
    and the input field at fault; nothing is written."""

    def __init__(self, code: RuleErrorCode, field: str | None = None, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.field = field
        self.detail = detail

    def message(self, locale: str) -> str:
        text = i18n.label(self.code, locale, "RuleErrorCode")
        if not self.detail:
            return text
        return f"{text} ({self.detail})" if locale == i18n.EN else f"{text}（{self.detail}）"


def rule_failure(code: str, field: str | None) -> RuleError:
    """A failure the administration's unit of work reports by code name (a permission
    refused, a reused idempotency key) as a rules error."""
    return RuleError(RuleErrorCode(code), field)
