"""Measured recall of the redaction (issue #17) on tests/data/redaction_corpus.txt (the
corpus the rules were written against) and tests/data/redaction_heldout.txt (written after,
never tuned on), through the real tagger: jieba, loaded once per process.

An entity counts as found when one span of its own kind covers it whole. The bars: names
≥ 0.95, phone numbers, ID numbers and credit codes 1.0; enterprises and addresses ≥ 0.9.
Nothing outside the marked entities is hidden in the corpus, and no policy term of
tests/data/policy_terms.txt is ever touched."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from closedloop.domain.redaction import PLACEHOLDERS, Kind, find_spans
from closedloop.services.learning import redaction

DATA = Path(__file__).parent.parent / "data"
KINDS = {
    "企业": Kind.ENTERPRISE,
    "信用代码": Kind.CREDIT_CODE,
    "姓名": Kind.PERSON,
    "电话": Kind.PHONE,
    "身份证": Kind.ID_CARD,
    "地址": Kind.ADDRESS,
}
BARS = {
    Kind.PERSON: 0.95,
    Kind.PHONE: 1.0,
    Kind.ID_CARD: 1.0,
    Kind.CREDIT_CODE: 1.0,
    Kind.ENTERPRISE: 0.9,
    Kind.ADDRESS: 0.9,
}
MARK = re.compile(r"\{(.+?):(.+?)\}")


def read_corpus(name: str) -> list[tuple[str, list[tuple[int, int, Kind]]]]:
    """Each line's plain text and its marked entities (start, end, kind)."""
    out = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, marks, at = "", [], 0
        for m in MARK.finditer(line):
            text += line[at : m.start()]
            marks.append((len(text), len(text) + len(m.group(2)), KINDS[m.group(1)]))
            text += m.group(2)
            at = m.end()
        out.append((text + line[at:], marks))
    return out


def recall(name: str) -> tuple[dict[Kind, float], Counter[Kind], list[str]]:
    found: Counter[Kind] = Counter()
    total: Counter[Kind] = Counter()
    extra: list[str] = []
    for text, marks in read_corpus(name):
        spans = find_spans(text, redaction.tag(text))
        for start, end, kind in marks:
            total[kind] += 1
            if any(s.kind is kind and s.start <= start and end <= s.end for s in spans):
                found[kind] += 1
        extra += [
            text[s.start : s.end]
            for s in spans
            if not any(start <= s.start and s.end <= end for start, end, _ in marks)
        ]
    return {k: found[k] / total[k] for k in total}, total, extra


def test_the_corpus_is_large_and_varied() -> None:
    lines = read_corpus("redaction_corpus.txt")
    assert len(lines) >= 150
    kinds = Counter(kind for _, marks in lines for *_, kind in marks)
    assert kinds[Kind.PERSON] >= 150 and all(kinds[k] >= 5 for k in Kind)
    marked = [text[s:e] for text, marks in lines for s, e, k in marks]
    assert any(m.endswith("X") for m in marked)  # ID numbers with X
    assert {"欧阳晓峰", "诸葛明辉", "亓官敏", "禚文博", "隗晓丽"} <= set(marked)  # rare surnames


@pytest.mark.parametrize("corpus", ["redaction_corpus.txt", "redaction_heldout.txt"])
def test_recall(corpus: str) -> None:
    rates, total, extra = recall(corpus)
    assert set(total) == set(BARS)
    low = {k.value: round(r, 3) for k, r in rates.items() if r < BARS[k]}
    assert low == {}
    assert extra == []  # nothing outside the marked entities


def test_policy_terms_survive() -> None:
    terms = [
        line.strip()
        for line in (DATA / "policy_terms.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(terms) >= 40
    frames = ("{}是今年的重点工作。", "企业反映{}落实不到位。", "县里推进{}，企业满意。", "{}")
    damaged = [
        frame.format(term)
        for term in terms
        for frame in frames
        if term not in redaction.redact_text(frame.format(term))
    ]
    assert damaged == []
    # and every term in the corpus sentences comes out whole
    for text, _ in read_corpus("redaction_corpus.txt"):
        out = redaction.redact_text(text)
        assert [t for t in terms if t in text and t not in out] == []


def test_placeholders_are_typed_and_the_code_is_not_a_sentence() -> None:
    out = redaction.redact_text(
        "新市丝绸织造有限公司（91330521MA28C7LQ2F）联系人张伟，电话13905720000，"
        "身份证号33050319820602178X，地址德清县新市镇工业园区东路18号。"
    )
    assert out == (
        f"{PLACEHOLDERS[Kind.ENTERPRISE]}（{PLACEHOLDERS[Kind.CREDIT_CODE]}）联系人"
        f"{PLACEHOLDERS[Kind.PERSON]}，电话{PLACEHOLDERS[Kind.PHONE]}，身份证号"
        f"{PLACEHOLDERS[Kind.ID_CARD]}，地址{PLACEHOLDERS[Kind.ADDRESS]}。"
    )


def test_the_tagger_loads_once_per_process() -> None:
    first = redaction.tagger()
    redaction.warm()
    assert redaction.tagger() is first


def test_jieba_is_imported_by_the_first_redaction_only() -> None:
    """The handlers import the learning services (the data generator's builders run them):
    they do not pay for jieba's import until something is redacted."""
    probe = (
        "import sys; import closedloop.services.learning.commands, bench.generator.generate;"
        " assert 'jieba' not in sys.modules, 'imported';"
        " from closedloop.services.learning import redaction; redaction.tagger();"
        " assert 'jieba.posseg' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=Path(__file__).parents[2])
