"""Tests of the near-duplicate detection domain module, plus an evaluation on a labelled set."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from closedloop.domain import similarity as sim
from closedloop.domain.similarity import (
    BANDS,
    EMPTY,
    NUM_SLOTS,
    ROWS,
    DuplicateFeatures,
    IssueText,
    band_keys,
    candidate_keys,
    candidate_probability,
    compare,
    duplicate_score,
    enterprise_key,
    estimated_similarity,
    is_duplicate,
    normalize,
    shingle_keys,
    shingles,
    signature,
    tag_jaccard,
    text_similarity,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "duplicate_pairs.jsonl"
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

SAMPLE = (
    "我公司浙江德清华宇新材料有限公司因扩大高性能纤维产能，计划在阜溪街道新增工业用地约30亩。"
    "今年3月已向县自然资源和规划局提交用地预审申请，至今两个多月仍未批复。"
)


# --------------------------------------------------------------------------- normalisation


def test_normalize_folds_full_width_and_case() -> None:
    assert normalize("ＡＢＣ　ｄｅｆ１２３") == "abcdef123"
    assert normalize("ISO９００１认证") == "iso9001认证"


def test_normalize_strips_punctuation_and_whitespace() -> None:
    assert normalize("用地， 审批！\n（急）“消防”验收……") == "用地审批急消防验收"
    assert normalize("  \t，。、；：？！  ") == ""
    assert normalize("") == ""


def test_normalize_keeps_digits_and_latin_words() -> None:
    assert normalize("变压器3150kVA，5G基站") == "变压器3150kva5g基站"


# --------------------------------------------------------------------------- shingles


def test_shingles_are_bigrams_within_segments() -> None:
    # No bigram spans the comma ("地审" would be an artefact of punctuation).
    assert shingles("用地，审批") == frozenset({"用地", "审批"})
    assert shingles("消防验收") == frozenset({"消防", "防验", "验收"})


def test_shingles_drop_channel_boilerplate() -> None:
    got = shingles("来电人称企业用地预审慢")
    assert "来电" not in got and "企业" not in got
    assert {"用地", "预审"} <= got


def test_shingles_of_tiny_and_empty_texts() -> None:
    assert shingles("a") == frozenset({"a"})
    assert shingles("，a，b。") == frozenset({"a", "b"})
    assert shingles("") == frozenset()
    assert shingle_keys("") == frozenset()


def test_shingle_keys_match_shingles() -> None:
    for text in (SAMPLE, "用地，审批", "ＡＢＣ１２３", "a", "来电人称企业用地预审慢"):
        strings = shingles(text)
        keys = shingle_keys(text)
        assert len(keys) == len(strings)
        expected = {ord(s[0]) << 21 | ord(s[1]) if len(s) == 2 else ord(s) for s in strings}
        assert keys == expected


def test_full_width_and_half_width_texts_have_equal_shingles() -> None:
    assert shingles("出口退税（２０２４年）ＡＢＣ") == shingles("出口退税(2024年)abc")


# --------------------------------------------------------------------------- signatures


def test_signature_shape_and_range() -> None:
    sig = signature(SAMPLE)
    assert len(sig) == NUM_SLOTS
    assert all(0 <= v < 1 << 57 for v in sig)


def test_signature_is_deterministic_within_a_process() -> None:
    assert signature(SAMPLE) == signature(SAMPLE)
    assert band_keys(signature(SAMPLE)) == band_keys(signature(SAMPLE))


def test_signature_is_deterministic_across_processes() -> None:
    # Different PYTHONHASHSEED values: nothing may depend on Python's salted hash().
    code = (
        "from closedloop.domain.similarity import band_keys, signature, enterprise_key;"
        f"s = signature({SAMPLE!r}); print(list(s)); print(band_keys(s));"
        "print(enterprise_key('E1'))"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    sig_line, keys_line, ent_line = outputs.pop().splitlines()
    assert json.loads(sig_line) == list(signature(SAMPLE))
    assert json.loads(keys_line) == band_keys(signature(SAMPLE))
    assert int(ent_line) == enterprise_key("E1")


def test_signature_ignores_punctuation_and_width_changes() -> None:
    other = SAMPLE.replace("，", ",").replace("。", ".").replace("30", "３０")
    assert signature(other) == signature(SAMPLE)


def test_empty_text_signature_has_no_band_keys() -> None:
    sig = signature("，。 ")
    assert sig == (EMPTY,) * NUM_SLOTS
    assert band_keys(sig) == []
    assert estimated_similarity(sig, sig) == 0.0


def test_tiny_texts_are_densified() -> None:
    sig = signature("用地")  # one shingle: every slot borrows its value
    assert len(set(sig)) == 1 and EMPTY not in sig
    assert len(band_keys(sig)) == BANDS


# --------------------------------------------------------------------------- band keys


def test_band_keys_are_signed_64_bit_one_per_band() -> None:
    keys = band_keys(signature(SAMPLE))
    assert len(keys) == BANDS
    assert all(INT64_MIN <= k <= INT64_MAX for k in keys)
    # Signed, not unsigned: both halves of the bigint range are used.
    many = [
        k for text in (SAMPLE, "消防验收", "出口退税到账慢") for k in band_keys(signature(text))
    ]
    assert min(many) < 0 < max(many)


def test_band_index_is_part_of_the_key() -> None:
    # Identical rows in every band must still give a distinct key per band.
    sig = (12345,) * NUM_SLOTS
    assert len(set(band_keys(sig))) == BANDS


def test_band_keys_reject_a_too_short_signature() -> None:
    with pytest.raises(ValueError):
        band_keys((1,) * (BANDS * ROWS - 1))


def test_candidate_probability_curve() -> None:
    assert candidate_probability(0.0) == 0.0
    assert candidate_probability(1.0) == 1.0
    assert candidate_probability(0.5) > 0.95
    assert candidate_probability(0.4) > 0.85
    assert candidate_probability(0.1) < 0.05
    assert candidate_probability(0.05) < 0.005
    values = [candidate_probability(x / 20) for x in range(21)]
    assert values == sorted(values)
    with pytest.raises(ValueError):
        candidate_probability(1.5)


def _word_text(words: list[str]) -> str:
    # Two-character words separated by commas: each word is exactly one shingle.
    return "，".join(words)


def _pair_with_overlap(rng: random.Random, size: int, shared: int) -> tuple[str, str]:
    pool: set[str] = set()
    while len(pool) < 2 * size - shared:
        pool.add(chr(rng.randint(0x4E00, 0x9FA5)) + chr(rng.randint(0x4E00, 0x9FA5)))
    words = sorted(pool)
    rng.shuffle(words)
    common = words[:shared]
    a = common + words[shared:size]
    b = common + words[size : 2 * size - shared]
    return _word_text(a), _word_text(b)


@pytest.mark.parametrize(("shared", "low", "high"), [(134, 0.93, 1.0), (36, 0.0, 0.10)])
def test_band_collision_rate_matches_theory(shared: int, low: float, high: float) -> None:
    # 200 shingles each: 134 shared -> Jaccard 0.50, 36 shared -> Jaccard 0.099.
    rng = random.Random(shared)
    trials, hits, expected = 300, 0, 0.0
    for _ in range(trials):
        a, b = _pair_with_overlap(rng, 200, shared)
        expected += candidate_probability(text_similarity(a, b))
        if set(band_keys(signature(a))) & set(band_keys(signature(b))):
            hits += 1
    rate = hits / trials
    assert low <= rate <= high
    assert abs(rate - expected / trials) < 0.06


def test_estimated_similarity_tracks_exact_jaccard() -> None:
    rng = random.Random(7)
    errors = []
    for shared in (20, 60, 100, 150, 200):
        for _ in range(20):
            a, b = _pair_with_overlap(rng, 200, shared)
            exact = text_similarity(a, b)
            errors.append(abs(estimated_similarity(signature(a), signature(b)) - exact))
    assert sum(errors) / len(errors) < 0.04
    assert max(errors) < 0.2


def test_unrelated_texts_rarely_collide() -> None:
    rng = random.Random(11)
    texts = [_pair_with_overlap(rng, 120, 0)[0] for _ in range(200)]
    keysets = [set(band_keys(signature(t))) for t in texts]
    collisions = sum(1 for i in range(len(keysets)) for j in range(i) if keysets[i] & keysets[j])
    assert collisions == 0


# --------------------------------------------------------------------------- similarity and score


def test_text_similarity_bounds() -> None:
    assert text_similarity(SAMPLE, SAMPLE) == 1.0
    assert text_similarity(SAMPLE, "") == 0.0
    assert text_similarity("用地预审", "排污许可") == 0.0
    assert 0.0 < text_similarity(SAMPLE, SAMPLE[:40]) < 1.0


def test_tag_jaccard() -> None:
    assert tag_jaccard(["用地", "自然资源"], ["用地"]) == 0.5
    assert tag_jaccard(["ＩＰ"], ["ip"]) == 1.0
    assert tag_jaccard([], ["用地"]) == 0.0


def test_duplicate_score_parts_and_bounds() -> None:
    score = duplicate_score(DuplicateFeatures(0.1, True, 0.5))
    assert score.value == pytest.approx(score.text_part + score.enterprise_part + score.tag_part)
    assert 0.0 <= score.value <= 1.0
    top = duplicate_score(DuplicateFeatures(1.0, True, 1.0))
    assert top.value == pytest.approx(1.0) and top.is_duplicate
    bottom = duplicate_score(DuplicateFeatures(0.0, False, 0.0))
    assert bottom.value == 0.0 and not bottom.is_duplicate


def test_enterprise_evidence_orders_scores() -> None:
    same = duplicate_score(DuplicateFeatures(0.1, True, 0.5)).value
    unknown = duplicate_score(DuplicateFeatures(0.1, None, 0.5)).value
    other = duplicate_score(DuplicateFeatures(0.1, False, 0.5)).value
    assert same > unknown > other


def test_same_enterprise_and_tags_alone_are_not_a_duplicate() -> None:
    # An enterprise raises several problems under one tag: text must carry the decision.
    assert not is_duplicate(duplicate_score(DuplicateFeatures(0.02, True, 1.0)))
    # A verbatim copy from another enterprise record is still flagged.
    assert is_duplicate(duplicate_score(DuplicateFeatures(0.9, False, 0.0)))


def test_is_duplicate_threshold() -> None:
    assert is_duplicate(sim.DUPLICATE_THRESHOLD)
    assert not is_duplicate(sim.DUPLICATE_THRESHOLD - 1e-9)
    assert is_duplicate(0.3, threshold=0.2)


def test_features_are_validated() -> None:
    with pytest.raises(ValueError):
        DuplicateFeatures(1.2, True, 0.0)
    with pytest.raises(ValueError):
        DuplicateFeatures(0.5, True, -0.1)


def test_compare_and_candidate_keys() -> None:
    a = IssueText("用地预审慢", SAMPLE, "E1", frozenset({"用地"}))
    b = IssueText("用地预审慢", SAMPLE, None, frozenset({"用地", "要素保障"}))
    features = compare(a, b)
    assert features.same_enterprise is None
    assert features.text_similarity == 1.0
    assert features.tag_jaccard == 0.5
    keys_a, keys_b = candidate_keys(a), candidate_keys(b)
    assert enterprise_key("E1") in keys_a and len(keys_a) == BANDS + 1
    assert len(keys_b) == BANDS
    assert enterprise_key("E1") != enterprise_key("E2")
    assert INT64_MIN <= enterprise_key("E1") <= INT64_MAX


# --------------------------------------------------------------------------- labelled evaluation


@dataclass(frozen=True)
class _Judged:
    kind: str
    duplicate: bool
    shares_band: bool
    shares_enterprise: bool
    passes_score: bool


def _issue(raw: dict[str, Any]) -> IssueText:
    return IssueText(raw["title"], raw["content"], raw["enterprise"], frozenset(raw["tags"]))


def _load_pairs() -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def judged() -> list[_Judged]:
    out = []
    for pair in _load_pairs():
        a, b = _issue(pair["a"]), _issue(pair["b"])
        keys_a, keys_b = set(candidate_keys(a)), set(candidate_keys(b))
        bands_a, bands_b = set(band_keys(signature(a.text))), set(band_keys(signature(b.text)))
        shares_band = bool(bands_a & bands_b)
        out.append(
            _Judged(
                kind=pair["kind"],
                duplicate=pair["duplicate"],
                shares_band=shares_band,
                shares_enterprise=bool((keys_a & keys_b) - (bands_a & bands_b)),
                passes_score=is_duplicate(duplicate_score(compare(a, b))),
            )
        )
    return out


def _precision_recall(items: list[_Judged], predicted: list[bool]) -> tuple[float, float]:
    tp = sum(1 for j, p in zip(items, predicted, strict=True) if p and j.duplicate)
    fp = sum(1 for j, p in zip(items, predicted, strict=True) if p and not j.duplicate)
    fn = sum(1 for j, p in zip(items, predicted, strict=True) if not p and j.duplicate)
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def test_labelled_set_is_well_formed() -> None:
    pairs = _load_pairs()
    assert len(pairs) >= 220
    share = sum(p["duplicate"] for p in pairs) / len(pairs)
    assert 0.4 <= share <= 0.55
    kinds = Counter(p["kind"] for p in pairs)
    for kind in ("paraphrase", "cross_channel", "shared_words", "unrelated", "forwarded"):
        assert kinds[kind] >= 10, kind
    for p in pairs:
        for side in ("a", "b"):
            issue = p[side]
            assert issue["title"] and issue["content"]
            assert issue["enterprise"] is None or isinstance(issue["enterprise"], str)
            assert isinstance(issue["tags"], list)
    texts = [(p["a"]["content"], p["b"]["content"]) for p in pairs]
    assert all(a != b for a, b in texts), "a pair must not be a trivial copy"


def test_lsh_gated_evaluation(judged: list[_Judged]) -> None:
    """The literal pipeline: a shared LSH band key, then the score.

    LSH is tuned for Jaccard >= ~0.5 and so catches forwarded or copied reports, not
    rewritten ones (cross-channel paraphrases sit at bigram Jaccard 0.06-0.28).
    """
    predicted = [j.shares_band and j.passes_score for j in judged]
    precision, recall = _precision_recall(judged, predicted)
    forwarded = [j for j in judged if j.kind == "forwarded"]
    fwd_recall = sum(j.shares_band and j.passes_score for j in forwarded) / len(forwarded)
    print(f"\nLSH-gated: precision={precision:.3f} recall={recall:.3f} forwarded={fwd_recall:.3f}")
    assert precision >= 0.95
    assert fwd_recall >= 0.95
    assert recall >= 0.25  # measured 0.29: regression guard, not a quality claim


def test_candidate_key_gated_evaluation(judged: list[_Judged]) -> None:
    """The pipeline as deployed: a shared candidate key (LSH band or enterprise), then the score."""
    predicted = [(j.shares_band or j.shares_enterprise) and j.passes_score for j in judged]
    precision, recall = _precision_recall(judged, predicted)
    per_kind: dict[str, list[int]] = {}
    for j, p in zip(judged, predicted, strict=True):
        per_kind.setdefault(j.kind, [0, 0])
        per_kind[j.kind][0] += p
        per_kind[j.kind][1] += 1
    detail = ", ".join(f"{k}={v[0]}/{v[1]}" for k, v in sorted(per_kind.items()))
    print(f"\ncandidate-key-gated: precision={precision:.3f} recall={recall:.3f} ({detail})")
    assert precision >= 0.95  # measured 1.000
    assert recall >= 0.80  # measured 0.849; the misses are anonymous hotline paraphrases
    for kind in ("unrelated", "shared_words", "same_enterprise_other_problem"):
        assert per_kind[kind][0] == 0, kind
