"""Errors the client may see. Anything else is masked by ``MaskErrors``."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from closedloop import i18n

i18n.register(
    "RequestErrorCode",
    {
        "INVALID_REGION_CODE": ("行政区划代码格式不正确", "Malformed region code"),
        "INVALID_PAGING": ("分页参数不正确", "Invalid paging arguments"),
        "INVALID_ARGUMENT": ("参数不正确", "Invalid argument"),
        "UNAUTHENTICATED": ("需要登录", "Authentication required"),
        "INVALID_PERIOD": ("统计周期无法解析", "The period cannot be parsed"),
        "UNKNOWN_SCHEME": ("未知的评价方案", "Unknown scoring scheme"),
    },
)


class PublicError(GraphQLError):
    """A typed, expected error on a query; shown to the client with its code and label."""

    def __init__(self, code: str, detail: str, locale: str, **extra: Any) -> None:
        label = i18n.label(code, locale, "RequestErrorCode")
        super().__init__(f"{label}: {detail}", extensions={"code": code, **extra})


def should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    # GraphQL errors raised on purpose (ours, permission refusals) are meant for the client.
    if isinstance(original, GraphQLError) or isinstance(error, PublicError):
        return False
    # Validation and syntax errors (no original error) are the client's own and safe to show.
    return original is not None
