"""Text normalisation and n-grams shared by curation and audit.

Example:
    >>> normalize("Hello, World!  ")
    'hello world'
    >>> word_ngrams("a b c d", 3)
    [('a', 'b', 'c'), ('b', 'c', 'd')]
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str:
    """Lowercase, NFKC, punctuation stripped, whitespace collapsed. Memoised: an audit or a
    curation step normalises the same texts for several measures."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = _PUNCT.sub(" ", t)
    return _SPACE.sub(" ", t).strip()


def words(text: str) -> list[str]:
    """Lowercased word tokens."""
    return _WORD.findall(text.lower())


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """Word n-grams of the normalised text."""
    toks = normalize(text).split()
    return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]


__all__ = ["normalize", "word_ngrams", "words"]
