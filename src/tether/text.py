"""Text normalisation and n-grams shared by curation and audit, and the fences that mark
untrusted text as data in the prompts of generation and curation steps.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tether.core.context import StepContext

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


def fence_tag(ctx: StepContext, salt: str) -> str:
    """A randomised delimiter tag for untrusted text, drawn from the step's seeded generator
    (so reruns give the same prompt and hit the cache)."""
    return f"DATA-{ctx.rng('fence:' + salt).getrandbits(64):016x}"


def wrap(text: str, tag: str) -> str:
    """``text`` between ``<tag>`` and ``</tag>``; copies of the tag inside are removed, so the
    text cannot close the fence itself."""
    return f"<{tag}>\n{text.replace(tag, '')}\n</{tag}>"


__all__ = ["fence_tag", "normalize", "word_ngrams", "words", "wrap"]
