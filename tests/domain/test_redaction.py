"""The redaction rules, table by table, on hand-tagged words (no tagger: jieba's tag set,
``known`` for a dictionary word). The corpus and its measured recall, through the real
tagger, are in tests/unit/test_redaction_corpus.py."""

from __future__ import annotations

import pytest

from closedloop.domain.redaction import (
    Kind,
    find_spans,
    number_spans,
    place_tokens,
    redact,
)

K = True  # a dictionary word
G = False  # a word the tagger inferred

# (text, the numbers found in it with their kind)
NUMBERS = [
    # an ID number whose check character is X, inside a sentence (no \b between CJK and digits)
    ("身份证号33050319820602178X，", [("33050319820602178X", Kind.ID_CARD)]),
    ("身份证号33050319820602178x。", [("33050319820602178x", Kind.ID_CARD)]),
    # a credit code with a valid check character, beside full-width brackets
    ("（91330521MA28C7LQ2F）", [("91330521MA28C7LQ2F", Kind.CREDIT_CODE)]),
    # an all-digit credit code is told from an ID number by the check characters
    ("代码913305217046050080", [("913305217046050080", Kind.CREDIT_CODE)]),
    # miskeyed: an ID number with a wrong check digit is still hidden, as an ID number
    ("证号330503198703265551有误", [("330503198703265551", Kind.ID_CARD)]),
    # the 15-digit ID numbers issued before 1999
    ("老证号330521850602165", [("330521850602165", Kind.ID_CARD)]),
    ("电话13905720000。", [("13905720000", Kind.PHONE)]),
    ("手机+86 138 5720 4567", [("+86 138 5720 4567", Kind.PHONE)]),
    ("（139-5728-6612）", [("139-5728-6612", Kind.PHONE)]),
    ("电话0572-5123488转8012，", [("0572-5123488转8012", Kind.PHONE)]),
    ("电话(0572)6058812", [("(0572)6058812", Kind.PHONE)]),
    ("0571-87654321", [("0571-87654321", Kind.PHONE)]),
    # a local number without its area code, where the text says it is a phone number
    ("座机：2221234", [("2221234", Kind.PHONE)]),
    # not phone numbers: an amount, a date, the 12345 hotline, a seven-digit count
    ("补助800000元，2024-05-12，12345热线，共1234567件", []),
    # an 18-letter English word is no code (I, O, S, V, Z never appear in one)
    ("ABCDEFGHIJKLMNOPQR", []),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_numbers(text: str, expected: list[tuple[str, Kind]]) -> None:
    found = [(text[s.start : s.end], s.kind) for s in number_spans(text)]
    assert found == expected


# (text, tagged words, the redacted text)
WORDS = [
    (
        "张经理反映",
        [("张", "q", K), ("经理", "n", K), ("反映", "v", K)],
        "【姓名】经理反映",
    ),
    (  # the tagger glued the title to the name: only the name goes
        "李女士来电",
        [("李女士", "nr", G), ("来电", "v", K)],
        "【姓名】女士来电",
    ),
    (  # after a role, three characters the tagger cut wrongly (沈国/ns 强/n)
        "负责人沈国强表示",
        [("负责人", "n", K), ("沈国", "ns", K), ("强", "n", K), ("表示", "v", K)],
        "负责人【姓名】表示",
    ),
    (  # a tagged surname with its given name; a reporting verb is no given name
        "经办人钱江称，",
        [("经办人", "n", K), ("钱江", "nr", K), ("称", "v", K), ("，", "x", G)],
        "经办人【姓名】称，",
    ),
    (  # a rare compound surname at the head of a clause, before a reporting verb
        "澹台明月反映",
        [("澹台", "nr", K), ("明月", "t", K), ("反映", "v", K)],
        "【姓名】反映",
    ),
    (  # a second name joined to the first
        "许国平与许国安兄弟",
        [
            ("许国", "ns", K),
            ("平", "v", K),
            ("与", "p", K),
            ("许", "m", K),
            ("国安", "nz", K),
            ("兄弟", "n", K),
        ],
        "【姓名】与【姓名】兄弟",
    ),
    (  # dictionary words jieba tags as names are not names without a sign of a person
        "用电负荷高峰时段，补办卫生许可。",
        [
            ("用电", "n", K),
            ("负荷", "n", K),
            ("高峰", "nr", K),
            ("时段", "n", K),
            ("，", "x", G),
            ("补办", "v", K),
            ("卫生", "an", K),
            ("许可", "nr", K),
            ("。", "x", G),
        ],
        "用电负荷高峰时段，补办卫生许可。",
    ),
    (  # a surname that is a preposition here is no name (向 + 全省)
        "向全省推广",
        [("向", "p", K), ("全省", "n", K), ("推广", "v", K)],
        "向全省推广",
    ),
    (  # one dictionary noun at the head of a clause is no name (公司反映)
        "公司反映，",
        [("公司", "n", K), ("反映", "v", K), ("，", "x", G)],
        "公司反映，",
    ),
    (  # enterprise: reaches left over its words up to the verb
        "投诉安吉云上茶业有限公司产品",
        [
            ("投诉", "v", K),
            ("安吉", "nr", K),
            ("云", "n", K),
            ("上", "f", K),
            ("茶业", "n", K),
            ("有限公司", "n", K),
            ("产品", "n", K),
        ],
        "投诉【企业】产品",
    ),
    (  # 厂 is a suffix only at the end of a word (not 厂区), and not 店 in 八里店镇
        "金星五金厂工人在厂区，吴兴区八里店镇潞村",
        [
            ("金星", "nz", K),
            ("五金厂", "n", K),
            ("工人", "n", K),
            ("在", "p", K),
            ("厂区", "n", K),
            ("，", "x", G),
            ("吴兴区", "nr", K),
            ("八里", "m", K),
            ("店", "n", K),
            ("镇", "n", K),
            ("潞", "g", K),
            ("村", "n", K),
        ],
        "【企业】工人在厂区，【地址】",
    ),
    (  # an address ends at a door number; the verb before it stays
        "位于安吉县递铺街道胜利西路2号，",
        [
            ("位于", "v", K),
            ("安吉县", "ns", K),
            ("递", "v", K),
            ("铺", "v", K),
            ("街道", "n", K),
            ("胜利", "vn", K),
            ("西路", "ns", K),
            ("2", "m", G),
            ("号", "m", K),
            ("，", "x", G),
        ],
        "位于【地址】，",
    ),
    (  # a town or a road without a number is a place, not an address
        "新市镇工业园区东路施工",
        [("新市镇", "ns", K), ("工业园区", "n", K), ("东路", "ns", K), ("施工", "vn", K)],
        "新市镇工业园区东路施工",
    ),
    (  # the loop's own terms are never cut (英雄 is tagged as a place)
        "亩均论英雄",
        [("亩均", "j", K), ("论", "n", K), ("英雄", "ns", K)],
        "亩均论英雄",
    ),
]


@pytest.mark.parametrize(("text", "tagged", "expected"), WORDS)
def test_words(text: str, tagged: list[tuple[str, str, bool]], expected: str) -> None:
    assert redact(text, tagged) == expected


def test_the_enterprise_s_own_names_are_hidden_wherever_they_stand() -> None:
    text = "新市丝绸织造的新市丝绸织造有限公司"
    tagged = [
        ("新市", "ns", K),
        ("丝绸", "n", K),
        ("织造", "v", K),
        ("的", "uj", K),
        ("新市", "ns", K),
        ("丝绸", "n", K),
        ("织造", "v", K),
        ("有限公司", "n", K),
    ]
    out = redact(text, tagged, ["新市丝绸织造有限公司", "新市丝绸织造"])
    assert out == "【企业】的【企业】"


def test_spans_never_overlap_and_numbers_come_first() -> None:
    text = "联系人王刚13905720000"
    tagged = [("联系人", "n", K), ("王刚", "nr", K), ("13905720000", "m", G)]
    spans = find_spans(text, tagged)
    assert [(text[s.start : s.end], s.kind) for s in spans] == [
        ("王刚", Kind.PERSON),
        ("13905720000", Kind.PHONE),
    ]


def test_tagged_words_must_spell_the_text() -> None:
    with pytest.raises(ValueError):
        place_tokens("王刚说", [("王刚", "nr", K)])
    with pytest.raises(ValueError):
        place_tokens("王刚说", [("王", "nr", K), ("钢", "n", K), ("说", "v", K)])
