"""``labels``: every enum's values with zh-CN and English labels, for front-end i18n."""

from __future__ import annotations

import strawberry

from closedloop import i18n
from closedloop.schema.context import Info


@strawberry.type(description="一个枚举值的中英文名称 / an enum value's labels")
class EnumValueLabel:
    value: str
    zh: str
    en: str
    label: str


@strawberry.type
class EnumLabels:
    enum: str
    values: list[EnumValueLabel]


def resolve_labels(info: Info, enums: list[str] | None = None) -> list[EnumLabels]:
    names = enums if enums is not None else i18n.enum_names()
    out = []
    for name in names:
        values = [
            EnumValueLabel(
                value=v, zh=zh, en=en, label=en if info.context.locale == i18n.EN else zh
            )
            for v, zh, en in i18n.labels_of(name)
        ]
        if values:
            out.append(EnumLabels(enum=name, values=values))
    return out
