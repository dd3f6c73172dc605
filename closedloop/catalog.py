"""The reference catalogs shipped with the project (``closedloop/data/catalog.json``).

Board, department, channel and category keys come from the catalog; English
labels, which the catalog does not carry, are kept here next to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

BOARD_EN = {
    "GENERAL": "General intake",
    "POLICY": "Policy services",
    "SCI_TECH": "Science and innovation services",
    "TALENT": "Talent services",
    "FINANCE": "Financial services",
    "LEGAL": "Legal services",
    "IP": "Intellectual property",
    "OPENING": "Opening-up services",
    "INVESTMENT": "Investment project approval",
    "REGISTRATION": "Business registration",
    "FALLBACK": "Fallback office",
}

DEPARTMENT_EN = {
    "TALENT_OFFICE": "Talent office",
    "DEVELOPMENT_REFORM": "Development and reform",
    "ECONOMY_INFO": "Economy and information technology",
    "SCIENCE_TECH": "Science and technology",
    "PUBLIC_SECURITY": "Public security",
    "FINANCE_BUREAU": "Finance bureau",
    "HUMAN_RESOURCES": "Human resources and social security",
    "NATURAL_RESOURCES": "Natural resources and planning",
    "ECOLOGY_ENVIRONMENT": "Ecology and environment",
    "CONSTRUCTION": "Housing and construction",
    "TRANSPORT": "Transport",
    "COMMERCE": "Commerce",
    "MARKET_REGULATION": "Market regulation",
    "EMERGENCY": "Emergency management",
    "FINANCIAL_OFFICE": "Financial office",
    "JUSTICE": "Justice",
}

CHANNEL_EN = {
    "ONLINE_PORTAL": "Online enterprise service portal",
    "CENTER_WINDOW": "Service center window",
    "HOTLINE_12345": "12345 hotline",
    "BUSINESS_COMPLAINT_LINE": "Business environment complaint line",
    "DIALOGUE_MEETING": "Government-enterprise dialogue meeting",
    "QIXIAOBANG": "Zhejiang enterprise home / Qixiaobang",
    "GOOD_BAD_REVIEW": "Government service good/bad review",
    "PEOPLES_CONGRESS": "People's congress liaison network",
    "CPPCC": "CPPCC social information",
    "TALENT_LOUNGE": "Talent lounge",
    "POLICE_11087": "Police 110-87",
    "GRASSROOTS_PLATFORM": "Grassroots governance platforms",
    "SUPERIOR_ASSIGNED": "Assigned by a superior or leader",
    "INSPECTION": "Found by inspection",
    "DEPARTMENT_REPORT": "Department analysis report",
    "SERVICE_STAFF": "Found by service staff",
    "SYSTEM_CAPTURE": "Captured by the system",
}

CATEGORY_EN = {
    "COMPLAINT": "Complaint",
    "REPORT": "Report",
    "SERVICE_REQUEST": "Service request",
    "CONSULTATION": "Consultation",
    "APPEAL": "Problem or appeal",
    "SUGGESTION": "Suggestion",
}

# The dedicated route each guided category leaves the center for.
DEDICATED_ROUTES = {
    "COMPLAINT": ("营商环境投诉处理渠道", "Business-environment complaint handling"),
    "REPORT": ("举报受理渠道", "Report (whistle-blowing) handling"),
    "SERVICE_REQUEST": ("政务服务办事渠道", "Government service counter"),
}


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Board(Entry):
    lead: str | None


@dataclass(frozen=True, slots=True)
class Channel(Entry):
    proactive: bool


@dataclass(frozen=True, slots=True)
class Category(Entry):
    guided: bool


@dataclass(frozen=True, slots=True)
class Catalog:
    boards: tuple[Board, ...]
    departments: tuple[Entry, ...]
    channels: tuple[Channel, ...]
    categories: tuple[Category, ...]
    rating_grades: tuple[Entry, ...]

    def channel(self, key: str) -> Channel | None:
        return next((c for c in self.channels if c.key == key), None)

    def category(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)


def _raw() -> dict[str, Any]:
    text = (resources.files("closedloop") / "data" / "catalog.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache
def get_catalog() -> Catalog:
    raw = _raw()
    grades_en = {
        "SATISFIED": "Satisfied",
        "FAIRLY_SATISFIED": "Fairly satisfied",
        "BASICALLY_SATISFIED": "Basically satisfied",
        "UNSATISFIED": "Unsatisfied",
    }
    return Catalog(
        boards=tuple(
            Board(b["key"], b["zh"], BOARD_EN[b["key"]], b.get("lead")) for b in raw["boards"]
        ),
        departments=tuple(
            Entry(d["key"], d["zh"], DEPARTMENT_EN[d["key"]]) for d in raw["departments_16"]
        ),
        channels=tuple(
            Channel(c["key"], c["zh"], CHANNEL_EN[c["key"]], bool(c["proactive"]))
            for c in raw["channels"]
        ),
        categories=tuple(
            Category(c["key"], c["zh"], CATEGORY_EN[c["key"]], c["key"] in DEDICATED_ROUTES)
            for c in raw["categories"]
        ),
        rating_grades=tuple(
            Entry(g["key"], g["zh"], grades_en[g["key"]]) for g in raw["rating_grades"]
        ),
    )


def _register_labels() -> None:
    from closedloop import i18n

    catalog = get_catalog()
    i18n.register("Channel", {c.key: (c.zh, c.en) for c in catalog.channels})
    i18n.register("Category", {c.key: (c.zh, c.en) for c in catalog.categories})
    i18n.register("BoardKey", {b.key: (b.zh, b.en) for b in catalog.boards})
    i18n.register("DepartmentKey", {d.key: (d.zh, d.en) for d in catalog.departments})


_register_labels()
