"""What a shared case must not show (issue #17): enterprise names, credit codes, personal
names, phone numbers, ID-card numbers and addresses, each replaced by a typed placeholder.

Pure rules on the text and on the words a part-of-speech tagger found in it: the tagger
(jieba, loaded once per process) lives in ``closedloop.services.learning.redaction``, since
it reads its dictionary from disk on first use. Numbers are found by their shape and check
characters (the credit code's rule is ``domain.credit_code``); enterprises by their legal
form, addresses by their chain of places ending in a village or a door number, both reaching
left over the tagged words up to a verb, a preposition or a role; names where the tagger
tags one or where the text says a person stands (after a role, before a title or a reporting
verb), starting with a surname."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from stdnum.cn import ric

from closedloop.domain.credit_code import CREDIT_CODE_SHAPE, is_credit_code
from closedloop.domain.surnames import surname_at


class Kind(StrEnum):
    ENTERPRISE = "ENTERPRISE"
    CREDIT_CODE = "CREDIT_CODE"
    PERSON = "PERSON"
    PHONE = "PHONE"
    ID_CARD = "ID_CARD"
    ADDRESS = "ADDRESS"


PLACEHOLDERS: dict[Kind, str] = {
    Kind.ENTERPRISE: "【企业】",
    Kind.CREDIT_CODE: "【信用代码】",
    Kind.PERSON: "【姓名】",
    Kind.PHONE: "【电话】",
    Kind.ID_CARD: "【身份证】",
    Kind.ADDRESS: "【地址】",
}

# The loop's own vocabulary: never part of a redacted span (the tagger is told them too).
PROTECTED_TERMS: tuple[str, ...] = (
    "营商环境", "企业码", "七张问题清单", "最多跑一次", "亩均论英雄", "亩均效益", "浙里办",
    "浙政钉", "专精特新", "标准地", "三服务", "一件事", "规上企业", "小微企业", "高新技术企业",
    "金山银山", "绿水青山", "红黑榜", "金名片", "安吉白茶", "助企服务员", "驻企服务员",
    "首席服务员", "企业服务中心",
)  # fmt: skip


@dataclass(frozen=True)
class Token:
    word: str
    flag: str  # the tagger's part of speech (jieba's tag set: nr a name, ns a place, v a verb)
    known: bool  # a dictionary word, not one the tagger inferred
    start: int
    end: int


Tagged = tuple[str, str, bool]  # word, part of speech, in the dictionary


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: Kind


def place_tokens(text: str, tagged: Iterable[Tagged]) -> list[Token]:
    """Tagged words with their offsets; the words must spell the text exactly."""
    out: list[Token] = []
    at = 0
    for word, flag, known in tagged:
        if text[at : at + len(word)] != word:
            raise ValueError(f"tagged words do not spell the text at {at}")
        out.append(Token(word, flag, known, at, at + len(word)))
        at += len(word)
    if at != len(text):
        raise ValueError("tagged words stop before the end of the text")
    return out


# --- numbers -----------------------------------------------------------------------------

_ALNUM18 = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{18}(?![0-9A-Za-z])")
_ID18 = re.compile(r"\d{17}[\dXx]")
_ID15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])")
_BIRTH = re.compile(r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")
_MOBILE = r"(?:(?:\+|00)?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}"
_LANDLINE = r"(?:[(（]0\d{2,3}[)）]\s?|0\d{2,3}[-－\s]?)\d{7,8}(?:\s?(?:转|分机|-)\s?\d{1,5})?"
_PHONE = re.compile(rf"(?<![\d+])(?:{_MOBILE}|{_LANDLINE})(?!\d)")
# A local number without its area code, where the text says it is a phone number.
_LOCAL_PHONE = re.compile(r"(?:电话|座机|手机|热线|传真|号码)[是为:：\s]{0,2}(\d{7,8})(?!\d)")


def _id_check_ok(number: str) -> bool:
    return str(ric.calc_check_digit(number.upper())) == number[-1].upper()


def _number_kind(s: str) -> Kind | None:
    """An 18-character run: an ID-card number or a credit code (check characters first;
    a miskeyed one is still hidden, by the shape of its birth date)."""
    if _ID18.fullmatch(s):
        if _id_check_ok(s):
            return Kind.ID_CARD
        if is_credit_code(s):
            return Kind.CREDIT_CODE
        return Kind.ID_CARD if _BIRTH.fullmatch(s[6:14]) else Kind.CREDIT_CODE
    return Kind.CREDIT_CODE if CREDIT_CODE_SHAPE.fullmatch(s) else None


def number_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _ALNUM18.finditer(text):
        kind = _number_kind(m.group())
        if kind is not None:
            spans.append(Span(m.start(), m.end(), kind))
    spans += [Span(m.start(), m.end(), Kind.ID_CARD) for m in _ID15.finditer(text)]
    spans += [Span(m.start(), m.end(), Kind.PHONE) for m in _PHONE.finditer(text)]
    spans += [Span(m.start(1), m.end(1), Kind.PHONE) for m in _LOCAL_PHONE.finditer(text)]
    return spans


# --- words that end a name, an enterprise or an address to their left --------------------

ROLES = (
    "法定代表人", "法人代表", "实际控制人", "负责人", "联系人", "经办人", "来电人", "投诉人",
    "反映人", "举报人", "申请人", "代理人", "委托人", "当事人", "签收人", "收件人", "户主",
    "业主", "股东", "员工", "职工", "工人", "客户", "村民", "居民", "网格员", "服务员", "财务",
    "出纳", "司机", "店主", "房东", "租户", "法人", "职员",
)  # fmt: skip
TITLES = (
    "总经理", "副总经理", "董事长", "经理", "副书记", "副主任", "副局长", "副市长", "副县长",
    "副镇长", "省长", "区长", "乡长", "主席", "总监", "总工", "女士", "先生", "小姐", "主任",
    "书记", "局长", "科长", "处长", "所长", "站长", "队长", "厂长", "镇长", "县长", "市长",
    "村长", "部长",
    "社长", "行长", "组长", "会计", "老师", "师傅", "老板", "律师", "医生", "警官", "专员",
    "秘书", "助理", "阿姨", "大姐", "总",
)  # fmt: skip
REPORTING = (
    "反映", "来电", "投诉", "表示", "称", "说", "指出", "要求", "咨询", "答复", "回复", "批示",
    "承诺", "认为", "提出", "强调", "介绍", "留言", "上报", "举报", "申请", "是", "在", "和",
    "与", "及", "的", "于", "对", "向", "把", "被", "已", "也", "都", "等", "代表", "担任",
)  # fmt: skip
_NAMING = ("我叫", "名叫", "叫做", "姓名")
_BEFORE_PLACE = (
    "位于", "地址", "住址", "住在", "地处", "坐落", "整治", "反映", "投诉", "举报", "协调",
    "联系", "起诉", "走访", "检查", "处罚", "认定", "推荐", "督促", "帮助", "经营", "入职",
    "任职", "收购", "对接", "支持", "要求", "称", "说", "表示", "是", "在", "于", "为",
    "担任", "代表", "关于", "针对", "属于", "包括", "其中", "系",
)  # fmt: skip
_STOP_FLAGS = ("p", "c", "u", "r", "x", "y", "e", "o", "w", "d", "t", "q")
_STOP_WORDS = frozenset(ROLES + TITLES + _BEFORE_PLACE + _NAMING) | {"我", "本", "该", "其"}


def _stops(tok: Token) -> bool:
    return (
        tok.word in _STOP_WORDS
        or tok.flag.startswith(_STOP_FLAGS)
        or not all("\u4e00" <= ch <= "\u9fff" or ch.isalnum() or ch in "()（）" for ch in tok.word)
    )


def _reach_left(tokens: Sequence[Token], anchor: int, limit: int) -> int:
    """Where a name ending after ``anchor`` begins: the words before it up to a stop word,
    never further left than ``limit``."""
    start = anchor
    for tok in reversed(tokens):
        if tok.end > anchor:
            if tok.start < anchor:
                start = tok.start
            continue
        if tok.end <= limit or _stops(tok) or tok.end != start:
            break
        start = max(tok.start, limit)
    return start


# --- enterprises and addresses --------------------------------------------------------------

_ORG_SUFFIX = re.compile(
    r"(?:股份有限公司|有限责任公司|有限公司|专业合作社|合作社|商行|经营部|超市|厂|店)"
    r"(?![镇乡村区县市路街])"
)
_SHORT_SUFFIXES = ("超市", "厂", "店")
_CJK = "[\u4e00-\u9fff]"
_ADMIN = rf"(?:{_CJK}{{2,6}}?(?:省|自治区))?(?:{_CJK}{{2,6}}?市)?(?:{_CJK}{{1,6}}?(?:县|区))?"
_TOWN = rf"{_CJK}{{1,6}}?(?:镇|乡|街道)"
_DOOR = r"\d+(?:号|弄)(?:\d+(?:幢|栋|单元|室|楼|号))*"
_ROAD = rf"{_CJK}{{1,8}}?(?:路|街|大道|巷|弄)"
_ADDRESS = re.compile(
    rf"{_ADMIN}(?:{_TOWN})?(?P<road>{_ROAD}{_DOOR})"
    rf"|{_ADMIN}{_TOWN}(?P<village>{_CJK}{{1,3}}?村(?:\d+组)?(?:\d+号)?)"
)


def enterprise_spans(text: str, tokens: Sequence[Token], known: Iterable[str] = ()) -> list[Span]:
    spans: list[Span] = []
    for name in sorted({n for n in known if len(n) >= 2}, key=len, reverse=True):
        spans += [
            Span(m.start(), m.end(), Kind.ENTERPRISE) for m in re.finditer(re.escape(name), text)
        ]
    ends = {t.end for t in tokens}
    for m in _ORG_SUFFIX.finditer(text):
        if m.end() not in ends:
            continue
        start = _reach_left(tokens, m.start(), max(0, m.start() - 30))
        shortest = 4 if m.group() in _SHORT_SUFFIXES else 2
        if m.start() - start >= shortest:
            spans.append(Span(start, m.end(), Kind.ENTERPRISE))
    return spans


def _is_place(tok: Token) -> bool:
    return tok.flag.startswith("ns") or tok.word.endswith(
        ("省", "市", "县", "区", "镇", "乡", "街道")
    )


def address_spans(text: str, tokens: Sequence[Token]) -> list[Span]:
    spans: list[Span] = []
    by_start = {t.start: t for t in tokens}
    for m in _ADDRESS.finditer(text):
        # The chain may have begun inside the words before it: start after the last of them
        # that is a verb, a preposition or a role.
        start = m.start()
        fine = m.start("road") if m.group("road") else m.start("village")
        for tok in tokens:
            if tok.end > fine:
                break
            if tok.end > m.start() and _stops(tok):
                start = max(start, tok.end)
        # and after a common word that only names what stands there (厂址/n 德清县/ns)
        while (word := by_start.get(start)) and (place := by_start.get(word.end)):
            common = word.known and word.flag[:1] in "nva" and not word.flag.startswith("ns")
            if not (common and _is_place(place) and place.end <= fine):
                break
            start = word.end
        if m.end() - start >= 3:
            spans.append(Span(start, m.end(), Kind.ADDRESS))
    return spans


# --- personal names ---------------------------------------------------------------------------

_NAME_FLAGS = ("nr", "nrfg", "nrt")
_PLACE_ENDINGS = ("省", "市", "县", "区", "镇", "乡", "村", "路", "街", "港", "湖", "山", "籍")
_CLAUSE = "，。；：！？、,.;:!?（(“\"' \n"
_JOINED = ("与", "和", "及", "、", "同", "跟")
_NOT_A_SURNAME = ("p", "c", "d", "r", "u", "q", "f", "v", "a", "m", "t", "y", "e", "o")
_FUNCTION_FLAGS = ("p", "c", "u", "r", "y", "e", "o", "x", "w")
_SPEAKING = (
    "反映", "称", "说", "表示", "投诉", "来电", "介绍", "指出", "认为", "答复", "回复", "要求",
    "咨询", "举报", "留言", "批示",
)  # fmt: skip
_PERSON_VERBS = ("联系", "请", "据", "由", "找", "通知", "委托", "让", "给", "邀请", "告知", "陪同")
# Words after which a name may stand (a one-character title such as 总 is too loose).
_CUES = ROLES + tuple(t for t in TITLES if len(t) > 1) + _NAMING + _PERSON_VERBS
_KIN = ("兄弟", "姐妹", "夫妇", "夫妻", "父子", "母女", "两人", "二人", "等人", "同志")


def _is_cjk(s: str) -> bool:
    return bool(s) and all("\u4e00" <= ch <= "\u9fff" for ch in s)


class _Words:
    """The text with its tagged words, indexed by where they start and end."""

    def __init__(self, text: str, tokens: Sequence[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.by_start = {t.start: t for t in tokens}
        self.by_end = {t.end: t for t in tokens}
        self.ends = set(self.by_end)
        self.starts = [t.start for t in tokens]

    def within(self, start: int, end: int) -> Sequence[Token]:
        """The words that begin in ``[start, end)``."""
        return self.tokens[
            bisect.bisect_left(self.starts, start) : bisect.bisect_left(self.starts, end)
        ]

    def ends_a_name(self, end: int) -> bool:
        """Whether a name may end at ``end``: a verb, a title, punctuation... follows."""
        if end >= len(self.text) or not _is_cjk(self.text[end]):
            return True
        nxt = self.by_start.get(end)
        if nxt is None:
            return False
        return (
            nxt.flag.startswith(("v", "p", "c", "u", "x", "d", "r", "y", "m", "t"))
            or nxt.word.startswith(TITLES + REPORTING + _KIN)
            or nxt.word in ("男", "女")
        )

    def introduced(self, tok: Token) -> bool:
        """The word stands where a person is named: at the head of a clause, after a
        preposition, a conjunction, a role, a title or a verb that takes a person."""
        prev = self.by_end.get(tok.start)
        return prev is None or prev.flag.startswith(("x", "p", "c")) or prev.word in _CUES

    def given_name_ok(self, start: int, end: int) -> bool:
        """One or two characters after a surname that may be a given name: no function
        word, title, role or reporting verb among them."""
        part = self.text[start:end]
        if not _is_cjk(part) or end not in self.ends:
            return False
        if any(word in part for word in REPORTING + TITLES + ROLES + _KIN):
            return False
        inside = self.within(start, end)
        if inside and len(inside[-1].word) == 1 and inside[-1].flag.startswith("d"):
            return False  # 高明均反映: 均 is an adverb, not a given name
        return not any(tok.flag.startswith(_FUNCTION_FLAGS) for tok in inside)

    def name_at(self, at: int, *, strict: bool = False) -> Span | None:
        """A name that begins with a surname at ``at``; the given name is one or two
        characters, the longer when the words allow it. ``strict`` (no other sign that a
        person stands there): the surname is not a function word as tagged (从/p, 常常/d,
        向/p) and a reporting verb, a preposition or punctuation follows."""
        surname = surname_at(self.text, at)
        if not surname:
            return None
        first = self.by_start.get(at)
        if first is None and strict:
            return None
        for given in (2, 1):
            end = at + surname + given
            if end <= len(self.text) and self.given_name_ok(at + surname, end):
                if not self.ends_a_name(end):
                    continue
                if strict and (
                    not self.speaks_after(end) or self.function_word(first, surname, end)
                ):
                    continue
                return Span(at, end, Kind.PERSON)
        return None

    @staticmethod
    def function_word(first: Token | None, surname: int, end: int) -> bool:
        """The surname's character is a function word as tagged: alone (从/p, 向/p) or
        as part of a longer word that runs into the given name (常常/d 会)."""
        if first is None or surname == 2 or first.flag.startswith(_NAME_FLAGS):
            return False
        if len(first.word) == surname:
            return first.flag.startswith(_NOT_A_SURNAME)
        # a known word running from the surname into the given name (常态/n 化); a place
        # word may be the tagger's wrong cut of a name (沈国/ns 强)
        return first.known and first.end < end and not first.flag.startswith(("ns", "nz"))

    def speaking(self, end: int) -> bool:
        nxt = self.by_start.get(end)
        return nxt is not None and nxt.word in _SPEAKING

    def speaks_after(self, end: int) -> bool:
        nxt = self.by_start.get(end)
        return (
            nxt is None
            or nxt.word in _SPEAKING + _JOINED + ("是", "在", "等")
            or nxt.flag.startswith(("x", "p", "c"))
        )


def _strip_title(word: str) -> str:
    for title in TITLES:
        if word.endswith(title) and len(word) > len(title):
            return word[: -len(title)]
    return word


def _single_word_name(w: _Words, found: Span) -> bool:
    """A name that is one dictionary word (李娜, 冷静, but also 公司, 顾客) at the head of a
    clause is taken for a name only before a reporting verb unless it is a noun, or, tagged
    as a name, before a preposition or punctuation (李娜在, 白雪，)."""
    words = w.within(found.start, found.end)
    if len(words) != 1 or not words[0].known:
        return True
    nxt = w.by_start.get(found.end)
    named = words[0].flag.startswith(_NAME_FLAGS)
    if nxt is not None and nxt.word in _SPEAKING:
        return named or not words[0].flag.startswith("n")  # 冷静反映, not 公司反映
    return named and (nxt is None or nxt.flag.startswith(("p", "x", "c")))


def person_spans(text: str, tokens: Sequence[Token]) -> list[Span]:
    w = _Words(text, tokens)
    spans: list[Span] = []
    # 1. Names the tagger tagged (a title it glued on stays outside: 李女士 -> 李; a joining
    # word too: 和林芳 -> 林芳), and a tagged surname with its given name (邱/nr 建华/nz).
    # Two-character dictionary words tagged as names (许可, 高峰, 顾客, 师傅 in jieba's
    # dictionary) count only where the text says a person stands (the rules below); three
    # characters are mostly people's names there (王丽萍), taken where a person is named
    # (not 生产许可证, 的农家乐).
    for tok in tokens:
        start, word = tok.start, _strip_title(tok.word)
        if word[:1] in _JOINED and len(word) >= 3:
            start, word = start + 1, word[1:]
        surname = surname_at(text, start)
        if not tok.flag.startswith(_NAME_FLAGS) or not surname:
            continue
        if len(word) == surname:
            if found := w.name_at(start):
                spans.append(found)
            continue
        if word.endswith(_PLACE_ENDINGS) or word in ROLES or len(word) > surname + 2:
            continue
        if tok.known and (len(word) < 3 or not w.introduced(tok)):
            continue
        end = start + len(word)
        if len(word) == 2 and not (w.introduced(tok) or w.speaking(end)):
            continue  # two characters the tagger guessed after a noun: 安吉白茶
        if w.ends_a_name(end):
            spans.append(Span(start, end, Kind.PERSON))
    # 2. A name or a surname before a title: 张经理, 王总, 陈晓燕女士, 欧阳娟女士.
    bounds = w.ends | set(w.by_start)
    for title in sorted(TITLES, key=len, reverse=True):
        for m in re.finditer(title, text):
            if m.end() not in bounds:
                continue
            for size, given in itertools.product((2, 1), (2, 1, 0)):
                at = m.start() - given - size
                if at < 0 or surname_at(text, at) != size or at not in w.by_start:
                    continue
                if given and (
                    not w.given_name_ok(at + size, m.start())
                    or w.function_word(w.by_start[at], size, m.start())
                ):
                    continue
                spans.append(Span(at, m.start(), Kind.PERSON))
                break
    # 3. 老沈, 小钱 said of a person: at the head of a clause, before a verb.
    for m in re.finditer(f"[老小]{_CJK}", text):
        head = m.start() == 0 or text[m.start() - 1] in _CLAUSE
        if head and surname_at(text, m.start() + 1) == 1 and w.ends_a_name(m.end()):
            spans.append(Span(m.start(), m.end(), Kind.PERSON))
    # 4. After a role, a title, "我叫" or a verb that takes a person, as a whole word:
    # 负责人沈国强, 厂长杨志明, 联系人：宋佳, 据金海峰介绍, 已联系王丽萍.
    for cue in _CUES:
        for m in re.finditer(rf"{cue}[：:\s是为]?", text):
            if m.end() in bounds and (found := w.name_at(m.end())):
                spans.append(found)
    # 5. At the head of a clause, before a reporting verb: 佘建军反映, 萧建华是.
    for at in range(len(text)):
        if at in w.by_start and (at == 0 or text[at - 1] in _CLAUSE):
            found = w.name_at(at, strict=True)
            if found is not None and _single_word_name(w, found):
                spans.append(found)
    # 6. A second name joined to one found: 许国平与许国安, 何秀兰与高明.
    for span in sorted(spans, key=lambda s: s.start):
        if text[span.end : span.end + 1] in _JOINED and (found := w.name_at(span.end + 1)):
            spans.append(found)
    return spans


# --- putting it together -------------------------------------------------------------------------

_PRIORITY = (Kind.ID_CARD, Kind.CREDIT_CODE, Kind.PHONE, Kind.ENTERPRISE, Kind.ADDRESS)


def find_spans(
    text: str, tagged: Iterable[Tagged], enterprise_names: Iterable[str] = ()
) -> list[Span]:
    """Everything to hide, without overlaps: numbers first, then enterprises, addresses
    and names; a span that would cut into one of the loop's own terms is dropped."""
    tokens = place_tokens(text, tagged)
    found = number_spans(text)
    candidates = (
        enterprise_spans(text, tokens, enterprise_names)
        + address_spans(text, tokens)
        + person_spans(text, tokens)
    )
    protected = [(m.start(), m.end()) for term in PROTECTED_TERMS for m in re.finditer(term, text)]
    rank = {kind: i for i, kind in enumerate((*_PRIORITY, Kind.PERSON))}
    ordered = sorted(found + candidates, key=lambda s: (rank[s.kind], -(s.end - s.start), s.start))
    taken: list[Span] = []
    for span in ordered:
        if any(span.start < e and s < span.end for s, e in protected):
            continue
        if any(span.start < t.end and t.start < span.end for t in taken):
            continue
        taken.append(span)
    return sorted(taken, key=lambda s: s.start)


def apply_spans(text: str, spans: Sequence[Span]) -> str:
    out: list[str] = []
    at = 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[at : span.start])
        out.append(PLACEHOLDERS[span.kind])
        at = span.end
    out.append(text[at:])
    return "".join(out)


def redact(text: str, tagged: Iterable[Tagged], enterprise_names: Iterable[str] = ()) -> str:
    return apply_spans(text, find_spans(text, tagged, enterprise_names))
