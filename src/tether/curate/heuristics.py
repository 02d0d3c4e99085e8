"""Heuristic filters: length bounds, Gopher repetition, symbol and alphabetic ratios.

The repetition and ratio definitions follow Gopher (Rae et al. 2021, appendix A1) as
implemented in datatrove's ``GopherRepetitionFilter`` / ``GopherQualityFilter``; the
default thresholds are Gopher's. Three departures, all for short texts and measured on real
model answers (``tests/curate/test_heuristics.py``): the top n-gram fraction counts only an
n-gram that repeats, without overlaps; whitespace-only lines are not lines; and texts under
``SHORT_TEXT_WORDS`` words are judged on recurring repetition only (see
:class:`RepetitionFilter`).

Example:
    >>> repetition_stats("a\\na\\nb")["dup_line_frac"]
    0.3333333333333333
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import accumulate
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, model_validator

from tether.core.registry import register
from tether.core.step import Verdict
from tether.curate._private import TextFilter

if TYPE_CHECKING:
    from tether.core.context import StepContext

_PARA = re.compile(r"\n{2,}")
_LINE = re.compile(r"\n+")
_ALPHA = re.compile(r"[^\W\d_]", re.UNICODE)

#: Gopher's thresholds: top n-gram character fraction (n=2..4), duplicated n-gram fraction (n=5..10).
GOPHER_TOP_NGRAM = {2: 0.20, 3: 0.18, 4: 0.16}
GOPHER_DUP_NGRAM = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
#: Below this many words a text gets the short-text n-gram rule (Gopher's shortest document).
SHORT_TEXT_WORDS = 50
#: The short-text rule: the top n-gram must occur this often, and this many n-grams must repeat.
SHORT_MIN_COUNT, SHORT_MIN_HITS = 3, 2


def _dups(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them) — an item counts from its 2nd occurrence."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def top_ngram_char_frac(words: list[str], n: int, text_len: int, min_count: int = 2,
                        ids: list[int] | None = None, ends: list[int] | None = None) -> float:
    """Characters covered by the most frequent word n-gram (joined by spaces, times its count)
    over the text length, counted only when that n-gram occurs at least ``min_count`` times.

    Gopher's statistic measures repetition: in a text whose n-grams are all distinct the most
    frequent one occurs once and covers no repeated text, so the fraction is 0 (datatrove's
    ``find_top_duplicate`` counts it anyway, which rejects most texts under ~20 words).
    Overlapping occurrences ("the the the") are counted once, so the fraction is at most 1.
    """
    if ids is None or ends is None:
        ids, ends = _word_ids(words)
    keys = list(zip(*(ids[i:] for i in range(n)), strict=False)) if len(ids) >= n else []  # n-gram i: ids[i:i+n]
    if not keys or text_len == 0:
        return 0.0
    top, count = Counter(keys).most_common(1)[0]
    if count < max(2, min_count):
        return 0.0
    # occurrences counted without overlap ("0, 0, 0, ..." would otherwise cover over 100%)
    occurrences, next_free, first = 0, 0, -1
    for i in (i for i, k in enumerate(keys) if k == top):
        if i >= next_free:
            occurrences += 1
            next_free = i + n
            first = i if first < 0 else first
    gram_len = ends[first + n] - ends[first] + (n - 1)  # its words and the spaces between them
    return gram_len * occurrences / text_len


def _dup_ngrams(words: list[str], n: int, ids: list[int] | None = None,
                ends: list[int] | None = None) -> tuple[int, int]:
    """Characters in word n-grams that repeat an earlier one, and how many repeat.

    An n-gram is its words (as word ids), not their concatenation, so "ab c" and "a bc" are
    two n-grams; its characters are its words' (``ends``: cumulative word lengths). The
    keys are built in C (``zip``), and a text whose n-grams are all distinct skips the scan.
    """
    if ids is None or ends is None:
        ids, ends = _word_ids(words)
    keys = list(zip(*(ids[i:] for i in range(n)), strict=False)) if len(ids) >= n else []  # n-gram i: ids[i:i+n]
    if len(set(keys)) == len(keys):
        return 0, 0
    seen: set[tuple[int, ...]] = set()
    repeated = hits = idx = 0
    m = len(keys)
    while idx < m:
        key = keys[idx]
        if key in seen:
            repeated += ends[idx + n] - ends[idx]
            hits += 1
            idx += n
        else:
            seen.add(key)
            idx += 1
    return repeated, hits


def _word_ids(words: list[str]) -> tuple[list[int], list[int]]:
    """Each word's id (its hash: equal words, equal ids) and the words' cumulative lengths,
    both computed in C."""
    return list(map(hash, words)), [0, *accumulate(map(len, words))]


def dup_ngram_char_frac(words: list[str], n: int, text_len: int, min_hits: int = 1) -> float:
    """Characters in word n-grams that repeat an earlier n-gram (non-overlapping after a hit,
    as datatrove's ``find_all_duplicate``) over the text length; 0 when fewer than
    ``min_hits`` n-grams repeat."""
    repeated, hits = _dup_ngrams(words, n)
    return repeated / text_len if text_len and hits >= min_hits else 0.0


def repetition_stats(text: str, min_count: int = 2, min_hits: int = 1) -> dict[str, float]:
    """Gopher repetition fractions of ``text``: duplicate lines/paragraphs (by count and by
    characters), top n-gram fractions (``top_2``..``top_4``) and duplicated n-gram
    fractions (``dup_5``..``dup_10``). Blank and whitespace-only lines are not lines.
    ``min_count``/``min_hits`` are passed to :func:`top_ngram_char_frac` and
    :func:`dup_ngram_char_frac`."""
    paras = [p for p in _PARA.split(text.strip()) if p.strip()]
    lines = [ln for ln in _LINE.split(text) if ln.strip()]
    n = len(text)
    out: dict[str, float] = {}
    dp, dpc = _dups(paras)
    dl, dlc = _dups(lines)
    out["dup_para_frac"] = dp / len(paras) if paras else 0.0
    out["dup_para_char_frac"] = dpc / n if n else 0.0
    out["dup_line_frac"] = dl / len(lines) if lines else 0.0
    out["dup_line_char_frac"] = dlc / n if n else 0.0
    words = text.split()
    # Shortcuts that change no value: when no k-gram occurs min_count times, no longer one
    # does (each occurrence holds its k-gram prefix); when the scan finds no repeated k-gram
    # at all, every k-gram is distinct, and so is every longer one. Most texts stop early.
    ids, ends = _word_ids(words)
    zero = False
    for k in sorted(GOPHER_TOP_NGRAM):
        out[f"top_{k}"] = 0.0 if zero else top_ngram_char_frac(words, k, n, min_count, ids, ends)
        zero = zero or out[f"top_{k}"] == 0.0
    zero = False
    for k in sorted(GOPHER_DUP_NGRAM):
        if zero:
            out[f"dup_{k}"] = 0.0
            continue
        repeated, hits = _dup_ngrams(words, k, ids, ends)
        out[f"dup_{k}"] = repeated / n if n and hits >= min_hits else 0.0
        zero = hits == 0
    return out


def text_ratios(text: str) -> dict[str, float]:
    """``symbol_word_ratio`` ('#', '...' and '…' per word), ``alpha_word_frac`` (words with
    an alphabetic character) and ``non_alpha_char_frac`` (non-space characters that are not
    letters, over non-space characters)."""
    words = text.split()
    nw = len(words)
    symbols = text.count("#") + text.count("...") + text.count("…")
    chars = [c for c in text if not c.isspace()]
    non_alpha = sum(1 for c in chars if not c.isalpha())
    return {
        "symbol_word_ratio": symbols / nw if nw else 0.0,
        "alpha_word_frac": sum(1 for w in words if _ALPHA.search(w)) / nw if nw else 0.0,
        "non_alpha_char_frac": non_alpha / len(chars) if chars else 0.0,
    }


@register
class LengthFilter(TextFilter):
    """Reject texts outside character and word bounds."""

    type: ClassVar[str] = "length_filter"
    description: ClassVar[str] = "Reject texts shorter or longer than character/word bounds (too_short, too_long)."

    min_chars: int | None = Field(None, ge=0)
    """Fewest characters kept."""
    max_chars: int | None = Field(None, ge=1)
    """Most characters kept."""
    min_words: int | None = Field(1, ge=0)
    """Fewest whitespace-separated words kept."""
    max_words: int | None = Field(None, ge=1)
    """Most words kept."""

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("chars")}

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        t = self.text(record)
        nc, nw = len(t), len(t.split())
        d = {"chars": nc}
        if (self.min_chars is not None and nc < self.min_chars) or (self.min_words is not None and nw < self.min_words):
            return Verdict(False, "too_short", float(nw), d)
        if (self.max_chars is not None and nc > self.max_chars) or (self.max_words is not None and nw > self.max_words):
            return Verdict(False, "too_long", float(nw), d)
        return Verdict(True, "", float(nw), d)


@register
class RepetitionFilter(TextFilter):
    """Gopher repetition filter: repeated lines, paragraphs and n-grams.

    Gopher's fractions were set on web documents (its quality filter keeps documents of 50
    words or more). In a short answer one n-gram seen twice ("is a named location in memory
    that stores ..." in a 32-word definition) already covers more than Gopher's fraction, so
    in texts of fewer than ``short_text_words`` words the n-gram rules count only repetition
    that recurs: the top n-gram must occur at least 3 times, and at least 2 n-grams must
    repeat an earlier one. Degenerate short texts ("the the the ...", a sentence said five
    times) are still rejected; a short text is never rejected only for being short.
    """

    type: ClassVar[str] = "repetition_filter"
    description: ClassVar[str] = (
        "Gopher repetition filter: duplicate lines/paragraphs and repeated n-grams "
        "(repeated_lines, repeated_paragraphs, top_ngram_repetition, repeated_ngrams)."
    )

    max_dup_line_frac: float | None = 0.30
    """Most share of lines that repeat an earlier line (Gopher: .30); None: not checked."""
    max_dup_para_frac: float | None = 0.30
    """Most share of paragraphs that repeat an earlier paragraph (Gopher: .30); None: not checked."""
    max_dup_line_char_frac: float | None = 0.20
    """Most share of characters in repeated lines (Gopher: .20); None: not checked."""
    max_dup_para_char_frac: float | None = 0.20
    """Most share of characters in repeated paragraphs (Gopher: .20); None: not checked."""
    max_top_ngram_frac: dict[int, float] = Field(default_factory=lambda: dict(GOPHER_TOP_NGRAM))
    """n -> most characters the most frequent word n-gram may cover (Gopher: 2: .20, 3: .18, 4: .16)."""
    max_dup_ngram_frac: dict[int, float] = Field(default_factory=lambda: dict(GOPHER_DUP_NGRAM))
    """n -> most characters in repeated word n-grams (Gopher: 5: .15 ... 10: .10)."""
    short_text_words: int = Field(SHORT_TEXT_WORDS, ge=0)
    """Texts with fewer words get the short-text n-gram rule (see the class docstring); 0: Gopher's rules for all."""

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("failed"), self.col("short_text")}

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        t = self.text(record)
        words = t.split()
        short = len(words) < self.short_text_words
        min_count, min_hits = (SHORT_MIN_COUNT, SHORT_MIN_HITS) if short else (2, 1)
        s = repetition_stats(t, min_count, min_hits)
        checks: list[tuple[str, float | None, str]] = [
            ("dup_line_frac", self.max_dup_line_frac, "repeated_lines"),
            ("dup_para_frac", self.max_dup_para_frac, "repeated_paragraphs"),
            ("dup_line_char_frac", self.max_dup_line_char_frac, "repeated_lines"),
            ("dup_para_char_frac", self.max_dup_para_char_frac, "repeated_paragraphs"),
        ]
        for n, lim in self.max_top_ngram_frac.items():
            key = f"top_{n}"
            if key not in s:
                s[key] = top_ngram_char_frac(words, n, len(t), min_count)
            checks.append((key, lim, "top_ngram_repetition"))
        for n, lim in self.max_dup_ngram_frac.items():
            key = f"dup_{n}"
            if key not in s:
                s[key] = dup_ngram_char_frac(words, n, len(t), min_hits)
            checks.append((key, lim, "repeated_ngrams"))
        worst = max((float(s[k]) for k, limit, _ in checks if limit is not None), default=0.0)
        for key, limit, reason in checks:
            if limit is not None and s[key] > limit:
                return Verdict(False, reason, s[key], {"failed": key, "short_text": short})
        return Verdict(True, "", worst, {"failed": None, "short_text": short})


@register
class RatioFilter(TextFilter):
    """Gopher quality ratios: symbols per word, words with letters, non-letter characters."""

    type: ClassVar[str] = "ratio_filter"
    description: ClassVar[str] = (
        "Reject texts with too many symbols per word, too few alphabetic words, or too many "
        "non-letter characters (too_many_symbols, too_few_alpha_words, too_much_non_alpha)."
    )

    max_symbol_word_ratio: float | None = 0.1
    """Most '#', '...' and '…' per word (Gopher: 0.1)."""
    min_alpha_word_frac: float | None = 0.8
    """Fewest words containing a letter, as a fraction (Gopher: 0.8)."""
    max_non_alpha_char_frac: float | None = 0.5
    """Most non-space characters that are not letters, as a fraction."""

    @model_validator(mode="after")
    def _bounds(self) -> RatioFilter:
        for name in ("max_symbol_word_ratio", "min_alpha_word_frac", "max_non_alpha_char_frac"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        return self

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        r = text_ratios(self.text(record))
        if self.max_symbol_word_ratio is not None and r["symbol_word_ratio"] > self.max_symbol_word_ratio:
            return Verdict(False, "too_many_symbols", r["symbol_word_ratio"], r)
        if self.min_alpha_word_frac is not None and r["alpha_word_frac"] < self.min_alpha_word_frac:
            return Verdict(False, "too_few_alpha_words", r["alpha_word_frac"], r)
        if self.max_non_alpha_char_frac is not None and r["non_alpha_char_frac"] > self.max_non_alpha_char_frac:
            return Verdict(False, "too_much_non_alpha", r["non_alpha_char_frac"], r)
        return Verdict(True, "", r["non_alpha_char_frac"], r)

    def output_columns(self) -> set[str]:
        return {self.col(k) for k in ("score", "symbol_word_ratio", "alpha_word_frac", "non_alpha_char_frac")}


__all__ = [
    "GOPHER_DUP_NGRAM",
    "GOPHER_TOP_NGRAM",
    "LengthFilter",
    "RatioFilter",
    "RepetitionFilter",
    "dup_ngram_char_frac",
    "repetition_stats",
    "text_ratios",
    "top_ngram_char_frac",
]
