"""Near-duplicate detection for Chinese issue texts (pure: no I/O, no database).

Pipeline
--------
1. ``normalize``: NFKC (full-width -> half-width), lowercase, drop punctuation and whitespace.
2. ``shingles``: character bigrams inside each punctuation-delimited segment. Chinese needs no
   word segmenter for this; bigrams beat trigrams on paraphrases (more overlap) at the same
   noise level, and cost half the hashing time.
3. ``signature``: a 128-slot MinHash built by *one-permutation hashing* with optimal
   densification (Shrivastava, ICML 2017). Each shingle is hashed once with a fixed 64-bit mix
   (splitmix64 finaliser over the packed code points), so a 500-character text costs a few
   hundred microseconds in pure Python instead of 128 hashes per shingle, and the result is
   identical across processes and machines (Python's ``hash()`` is salted per process).
4. ``band_keys``: LSH with ``BANDS`` x ``ROWS`` (32 x 3 = 96 slots). A pair with Jaccard ``s``
   shares at least one band with probability ``1 - (1 - s**3) ** 32``: 0.99 at s=0.5, 0.88 at
   0.4, 0.58 at 0.3, but 0.03 at 0.1 and 0.004 at 0.05. Bigram Jaccard between unrelated issues
   of the same domain is ~0.01-0.02, so at 1,000,000 issues one probe touches at most on the
   order of a thousand rows. Keys are signed 64-bit (PostgreSQL ``bigint``), band index included.
   Forwarded or copied reports (Jaccard 0.7-0.95) are always found this way.
5. ``enterprise_key``: a blocking key for "same enterprise". The same complaint rewritten by
   another channel (hotline transcript vs portal form) only reaches a bigram Jaccard of
   0.06-0.30 (median 0.13), far below what LSH can retrieve at this scale without flooding the
   probe; such duplicates are found through the enterprise, whose key can live in the same
   btree table as the band keys (``candidate_keys``).
6. ``duplicate_score``: weighs text similarity, same enterprise and tag overlap into [0, 1];
   ``is_duplicate`` applies the threshold.
"""

from __future__ import annotations

import hashlib
import re
import struct
import sys
import threading
import unicodedata
from collections.abc import Hashable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import pairwise

from closedloop.caches import BoundedCache

__all__ = [
    "BANDS",
    "DUPLICATE_THRESHOLD",
    "EMPTY",
    "NUM_SLOTS",
    "ROWS",
    "SCHEME_VERSION",
    "DuplicateFeatures",
    "DuplicateScore",
    "IssueText",
    "band_keys",
    "candidate_keys",
    "candidate_probability",
    "compare",
    "compute_text_keys",
    "duplicate_score",
    "enterprise_key",
    "estimated_similarity",
    "is_duplicate",
    "jaccard",
    "many_text_keys",
    "normalize",
    "remember",
    "shingle_keys",
    "shingles",
    "signature",
    "tag_jaccard",
    "text_keys",
    "text_similarity",
]

# Bump when anything that changes signatures or keys changes: stored keys must then be rebuilt.
SCHEME_VERSION = 1

NUM_SLOTS = 128  # power of two: the top 7 hash bits pick the slot, no division needed
_SLOT_SHIFT = 57  # 64 - log2(NUM_SLOTS)
_VALUE_MASK = (1 << _SLOT_SHIFT) - 1
BANDS = 32
ROWS = 3
EMPTY = (1 << 63) - 1  # slot value of an empty text; real values are < 2**57

NGRAM = 2

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
# Fixed seed so signatures never depend on the process; part of the scheme.
_SEED = 0x636C6F7365646C6F  # "closedlo"

_SEPARATORS = re.compile(r"[\W_]+")

# Bigrams of channel boilerplate and function words ("来电人称", "服务专员走访", "恳谈会上提出",
# "希望尽快协调解决"). They differ between a hotline transcript and a portal form of the same
# complaint and are shared by unrelated complaints, so they only blur the comparison.
_BOILERPLATE = frozenset(
    (
        "来电",
        "电人",
        "人称",
        "人是",
        "人说",
        "自称",
        "市民",
        "您好",
        "谢谢",
        "反映",
        "表示",
        "希望",
        "请求",
        "恳请",
        "要求",
        "诉求",
        "协调",
        "尽快",
        "加快",
        "帮忙",
        "给予",
        "支持",
        "解决",
        "核实",
        "处理",
        "企业",
        "公司",
        "有限",
        "限公",
        "我们",
        "他们",
        "我司",
        "我公",
        "自己",
        "一下",
        "一直",
        "已经",
        "目前",
        "至今",
        "现在",
        "没有",
        "问题",
        "相关",
        "部门",
        "情况",
        "进行",
        "需要",
        "无法",
        "一个",
        "这个",
        "那个",
        "可以",
        "能否",
        "不能",
        "什么",
        "时候",
        "怎么",
        "是否",
        "以及",
        "还是",
        "就是",
        "但是",
        "因为",
        "所以",
        "如果",
        "的是",
        "负责",
        "责人",
        "服务",
        "专员",
        "了解",
        "解到",
        "走访",
        "恳谈",
        "谈会",
        "会上",
        "提出",
        "投诉",
        "窗口",
        "咨询",
        "平台",
        "收到",
        "上报",
    )
)
_BOILERPLATE_KEYS = frozenset(ord(w[0]) << 21 | ord(w[1]) for w in _BOILERPLATE)

# Score weights. Text carries the decision: an enterprise often raises several different
# problems under the same tags, so enterprise and tags only tip borderline text evidence.
TEXT_WEIGHT = 0.6
ENTERPRISE_WEIGHT = 0.25
TAG_WEIGHT = 0.15
# Bigram Jaccard (boilerplate removed) at which text evidence counts as complete. Rewritten
# reports of one complaint sit at 0.06-0.3, copies near 1.0: without saturation a paraphrase
# could never outweigh the enterprise and tag terms.
TEXT_SATURATION = 0.25
# Same enterprise and 2/3 of the tags shared -> bigram Jaccard >= ~0.06 is enough; unknown
# enterprise -> >= ~0.11; different enterprise and all tags shared -> >= ~0.15. Chosen for
# precision: a wrong merge hides a complaint, a missed one is still seen by staff.
DUPLICATE_THRESHOLD = 0.5


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a fixed, well-mixed 64-bit permutation."""
    x = (x + _GOLDEN) & _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


def _build_probe_table(length: int) -> tuple[tuple[int, ...], ...]:
    # Densification probe order of every slot, computed once; the same for every process.
    return tuple(
        tuple(_mix64(_SEED ^ (slot << 32) ^ attempt) >> _SLOT_SHIFT for attempt in range(length))
        for slot in range(NUM_SLOTS)
    )


_PROBES = _build_probe_table(2 * NUM_SLOTS)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lowercase, punctuation, symbols and whitespace removed."""
    return "".join(_segments(text))


def _segments(text: str) -> list[str]:
    """Runs of letters and digits, NFKC-folded and lowercased.

    Shingles never span punctuation: a bigram across "，" is an artefact of phrasing. Removing
    punctuation *before* NFKC keeps it cheap: full-width punctuation is in nearly every Chinese
    text and would send the whole string down NFKC's slow path; what remains is usually already
    normalised. Symbols are therefore dropped rather than folded (㎡ is not turned into "m2").
    """
    stripped = " ".join(_SEPARATORS.split(text))
    folded = unicodedata.normalize("NFKC", stripped).lower()  # full-width letters and digits
    return [s for s in _SEPARATORS.split(folded) if s]


def shingles(text: str) -> frozenset[str]:
    """Character bigrams of the normalised text, boilerplate removed (readable form of
    ``shingle_keys``)."""
    out: set[str] = set()
    for seg in _segments(text):
        out.update(seg[i : i + NGRAM] for i in range(len(seg) - NGRAM + 1))
    out -= _BOILERPLATE
    if not out:
        # A text of single characters only: keep them so it is not treated as empty.
        out.update("".join(_segments(text)))
    return frozenset(out)


def shingle_keys(text: str) -> frozenset[int]:
    """Bigrams packed as integers (two 21-bit code points, so the packing is injective),
    boilerplate removed."""
    keys: set[int] = set()
    for seg in _segments(text):
        cps = list(map(ord, seg))
        keys.update([a << 21 | b for a, b in pairwise(cps)])
    keys -= _BOILERPLATE_KEYS
    if not keys:
        # Single code points stay below 2**21 and so never equal a packed bigram.
        keys.update(ord(c) for c in "".join(_segments(text)))
    return frozenset(keys)


def _signature_of_keys(keys: Iterable[int]) -> tuple[int, ...]:
    seeded = [k ^ _SEED for k in keys]
    if not seeded:
        return (EMPTY,) * NUM_SLOTS
    # splitmix64 inlined as list passes: several times faster than a call per shingle.
    hs = [(x + _GOLDEN) & _MASK64 for x in seeded]
    hs = [((x ^ (x >> 30)) * _MIX1) & _MASK64 for x in hs]
    hs = [((x ^ (x >> 27)) * _MIX2) & _MASK64 for x in hs]
    hs = [x ^ (x >> 31) for x in hs]
    # Descending order: the last write per slot is that slot's minimum value.
    hs.sort(reverse=True)
    minima = {h >> _SLOT_SHIFT: h & _VALUE_MASK for h in hs}
    if len(minima) == NUM_SLOTS:
        return tuple(minima[i] for i in range(NUM_SLOTS))
    filled = [minima.get(slot) for slot in range(NUM_SLOTS)]
    return tuple(
        value if value is not None else _densify(slot, filled) for slot, value in enumerate(filled)
    )


def _densify(slot: int, filled: list[int | None]) -> int:
    # Optimal densification: borrow from the first non-empty slot of a fixed random probe
    # sequence, so that two sets borrow from the same place and stay comparable.
    for other in _PROBES[slot]:
        value = filled[other]
        if value is not None:
            return value
    # Probe sequence exhausted (only for tiny sets): deterministic circular scan.
    for step in range(1, NUM_SLOTS):
        value = filled[(slot + step) % NUM_SLOTS]
        if value is not None:
            return value
    raise AssertionError("unreachable: minima is not empty")


def signature(text: str) -> tuple[int, ...]:
    """MinHash signature of ``NUM_SLOTS`` non-negative ints (< 2**57, fit a bigint).

    The empty text yields ``EMPTY`` in every slot and no band keys.
    """
    return _signature_of_keys(shingle_keys(text))


def _key(person: bytes, payload: bytes) -> int:
    digest = hashlib.blake2b(payload, digest_size=8, person=person).digest()
    return int.from_bytes(digest, "big", signed=True)


_BAND_PERSON = b"cl-lsh-v%d" % SCHEME_VERSION
_ENTERPRISE_PERSON = b"cl-ent-v%d" % SCHEME_VERSION
_BAND_HASHER = hashlib.blake2b(digest_size=8, person=_BAND_PERSON)


def band_keys(sig: Sequence[int], bands: int = BANDS, rows: int = ROWS) -> list[int]:
    """One signed 64-bit key per band; the band index is hashed in, so bands never mix."""
    if bands * rows > len(sig):
        raise ValueError(f"{bands} bands x {rows} rows exceed a signature of {len(sig)} slots")
    if all(v == EMPTY for v in sig):
        return []  # empty texts must not all collide with each other
    pack = struct.Struct(f">H{rows}Q").pack
    digests = []
    for band in range(bands):
        # A copy of a keyed hasher is cheaper than a new one (``_key``, same digest).
        hasher = _BAND_HASHER.copy()
        hasher.update(pack(band, *sig[band * rows : (band + 1) * rows]))
        digests.append(hasher.digest())
    return [int.from_bytes(d, "big", signed=True) for d in digests]


def enterprise_key(enterprise: str) -> int:
    """Blocking key for 'same enterprise'; hashed in its own namespace, so it can share the
    band-key table without ever equalling a band key by construction of the input."""
    return _key(_ENTERPRISE_PERSON, enterprise.strip().encode("utf-8"))


def candidate_probability(similarity: float, bands: int = BANDS, rows: int = ROWS) -> float:
    """Probability that two texts of Jaccard ``similarity`` share at least one band."""
    if not 0.0 <= similarity <= 1.0:
        raise ValueError("similarity must be in [0, 1]")
    return float(1.0 - (1.0 - similarity**rows) ** bands)


def estimated_similarity(sig_a: Sequence[int], sig_b: Sequence[int]) -> float:
    """Jaccard estimate from two signatures (fraction of equal slots)."""
    if len(sig_a) != len(sig_b) or not sig_a:
        raise ValueError("signatures must be non-empty and of equal length")
    if all(v == EMPTY for v in sig_a) or all(v == EMPTY for v in sig_b):
        return 0.0
    return sum(1 for x, y in zip(sig_a, sig_b, strict=True) if x == y) / len(sig_a)


def jaccard(a: AbstractSet[Hashable], b: AbstractSet[Hashable]) -> float:
    """Exact Jaccard of two sets; 0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def text_similarity(a: str, b: str) -> float:
    """Exact Jaccard of the bigram sets, in [0, 1]; 0 when either text is empty."""
    ka, kb = shingle_keys(a), shingle_keys(b)
    if not ka or not kb:
        return 0.0
    return jaccard(ka, kb)


def tag_jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard of tag sets (case- and width-insensitive); 0 when either side has no tags."""
    sa = {normalize(t) for t in a} - {""}
    sb = {normalize(t) for t in b} - {""}
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


@dataclass(frozen=True, slots=True)
class IssueText:
    """What duplicate detection needs to know about one issue."""

    title: str
    content: str
    enterprise: str | None = None  # None: not identified (e.g. an anonymous hotline caller)
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def text(self) -> str:
        # The newline keeps title and content in separate shingle segments.
        return f"{self.title}\n{self.content}"


@dataclass(frozen=True, slots=True)
class DuplicateFeatures:
    """Evidence about one candidate pair."""

    text_similarity: float  # exact bigram Jaccard, [0, 1]
    same_enterprise: bool | None  # None when either side's enterprise is unknown
    tag_jaccard: float  # [0, 1]

    def __post_init__(self) -> None:
        for name in ("text_similarity", "tag_jaccard"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclass(frozen=True, slots=True)
class DuplicateScore:
    """Combined score and its parts (the parts sum to ``value``; shown to staff as 'why')."""

    value: float
    text_part: float
    enterprise_part: float
    tag_part: float

    @property
    def is_duplicate(self) -> bool:
        return is_duplicate(self.value)


def duplicate_score(features: DuplicateFeatures) -> DuplicateScore:
    """Weighted evidence in [0, 1].

    Text similarity is saturated at ``TEXT_SATURATION``. Same enterprise counts fully, an
    unknown enterprise half (it neither supports nor refutes), a different enterprise not at
    all: two enterprises hit by the same road works are a common problem, not one issue.
    """
    text = min(1.0, features.text_similarity / TEXT_SATURATION)
    if features.same_enterprise is None:
        enterprise = 0.5
    else:
        enterprise = 1.0 if features.same_enterprise else 0.0
    text_part = TEXT_WEIGHT * text
    enterprise_part = ENTERPRISE_WEIGHT * enterprise
    tag_part = TAG_WEIGHT * features.tag_jaccard
    value = min(1.0, max(0.0, text_part + enterprise_part + tag_part))
    return DuplicateScore(value, text_part, enterprise_part, tag_part)


def is_duplicate(score: DuplicateScore | float, threshold: float = DUPLICATE_THRESHOLD) -> bool:
    value = score.value if isinstance(score, DuplicateScore) else score
    return value >= threshold


def compare(a: IssueText, b: IssueText) -> DuplicateFeatures:
    """Features of a pair, computed from the texts (exact, not estimated)."""
    same: bool | None = None
    if a.enterprise and b.enterprise:
        same = a.enterprise.strip() == b.enterprise.strip()
    return DuplicateFeatures(
        text_similarity=text_similarity(a.text, b.text),
        same_enterprise=same,
        tag_jaccard=tag_jaccard(a.tags, b.tags),
    )


def _memo_size(text: str, keys: tuple[int, ...]) -> int:
    return sys.getsizeof(text) + sys.getsizeof(keys)


# The latest texts' band keys, filled ahead by the bulk import (``remember``) and read by
# whoever writes an issue's keys: two import batches ahead of the one being written, and
# room for the API's reads. Its keys are client texts, so it is bounded in bytes too, like
# every process-wide cache. Locked: the import fills it from a thread while the event loop
# reads it, and cachetools' caches are not thread-safe.
_memo: BoundedCache[str, tuple[int, ...]] = BoundedCache(
    "similarity-text-keys", 8192, 64 * 1024 * 1024, _memo_size
)
_memo_lock = threading.Lock()


def compute_text_keys(text: str) -> tuple[int, ...]:
    """The LSH band keys of a text (pure: a worker process may run it)."""
    return tuple(band_keys(signature(text)))


def many_text_keys(texts: Sequence[str]) -> list[tuple[int, ...]]:
    """``compute_text_keys`` of each text (one call for a batch handed to a worker)."""
    return [compute_text_keys(text) for text in texts]


def remember(texts: Sequence[str], keys: Sequence[tuple[int, ...]]) -> None:
    """Keep texts' keys worked out elsewhere (``many_text_keys`` in a worker process) for
    ``text_keys``."""
    with _memo_lock:
        for text, found in zip(texts, keys, strict=True):
            _memo[text] = found


def text_keys(text: str) -> tuple[int, ...]:
    """The LSH band keys of a text, memoised: the bulk import works a batch's out ahead,
    while the batch before it is being written (``bulk_submit.warm``)."""
    with _memo_lock:
        keys = _memo.get(text)
    if keys is None:
        keys = compute_text_keys(text)
        with _memo_lock:
            _memo[text] = keys
    return keys


def candidate_keys(issue: IssueText) -> list[int]:
    """Everything to index for an issue: its LSH band keys plus its enterprise key."""
    keys = list(text_keys(issue.text))
    if issue.enterprise and issue.enterprise.strip():
        keys.append(enterprise_key(issue.enterprise))
    return keys
