"""Redaction of shared cases with jieba's part-of-speech tagger, loaded once per process.

jieba (MIT; the most used Chinese segmenter on PyPI, pure Python with its dictionary in the
wheel, no model download) tags personal names ``nr``; the rules that decide what is hidden
live in ``closedloop.domain.redaction``. The tagger stays out of the domain because it reads
its dictionary (and writes its cache) on first use: that I/O happens here, once, guarded by
a lock, and ``warm()`` lets a process pay the ~1 s at start instead of in a request."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

from closedloop.domain.redaction import PROTECTED_TERMS, Tagged, redact

if TYPE_CHECKING:
    import jieba.posseg

_lock = threading.Lock()
_tagger: jieba.posseg.POSTokenizer | None = None


def tagger() -> jieba.posseg.POSTokenizer:
    """The tagger, made at the first call. jieba itself is imported then too (0.4 s of CPU):
    a process that never redacts (most commands, the data generator's builders) never
    pays for it."""
    global _tagger
    if _tagger is None:
        with _lock:
            if _tagger is None:
                # jieba 0.42's sources hold regular expressions with invalid escapes ("\."):
                # compiled without a cached .pyc, they warn (an error under -W error). The
                # warning is jieba's alone.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", SyntaxWarning)
                    import jieba
                    import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                words = jieba.Tokenizer()
                words.initialize()
                for term in PROTECTED_TERMS:
                    words.add_word(term, freq=10_000, tag="nz")
                _tagger = jieba.posseg.POSTokenizer(words)
    return _tagger


def warm() -> None:
    """Load the dictionary now (a process that will share cases calls this at start)."""
    tagger()


def tag(text: str) -> list[Tagged]:
    """Each word with its part of speech and whether the dictionary knows it (a name the
    tagger inferred is not in it)."""
    pos = tagger()
    freq = pos.tokenizer.FREQ
    return [(pair.word, pair.flag, freq.get(pair.word, 0) > 0) for pair in pos.cut(text)]


def redact_text(text: str, enterprise_names: Iterable[str] = ()) -> str:
    return redact(text, tag(text), enterprise_names)
