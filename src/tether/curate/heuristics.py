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


def top_ngram_char_frac(words: list[str], n: int, text_len: int, min_count: int = 2) -> float:
    """Characters covered by the most frequent word n-gram (joined by spaces, times its count)
    over the text length, counted only when that n-gram occurs at least ``min_count`` times.

    Gopher's statistic measures repetition: in a text whose n-grams are all distinct the most
    frequent one occurs once and covers no repeated text, so the fraction is 0 (datatrove's
    ``find_top_duplicate`` counts it anyway, which rejects most texts under ~20 words).
    Overlapping occurrences ("the the the") are counted once, so the fraction is at most 1.
    """
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams or text_len == 0:
        return 0.0
    gram, count = Counter(grams).most_common(1)[0]
    if count < max(2, min_count):
        return 0.0
    # occurrences counted without overlap ("0, 0, 0, ..." would otherwise cover over 100%)
    occurrences, next_free = 0, 0
    for i, g in enumerate(grams):
        if i >= next_free and g == gram:
            occurrences += 1
            next_free = i + n
    return len(gram) * occurrences / text_len


def dup_ngram_char_frac(words: list[str], n: int, text_len: int, min_hits: int = 1) -> float:
    """Characters in word n-grams that repeat an earlier n-gram (non-overlapping after a hit,
    as datatrove's ``find_all_duplicate``) over the text length; 0 when fewer than
    ``min_hits`` n-grams repeat."""
    seen: set[str] = set()
    repeated = hits = idx = 0
    while idx < len(words) - n + 1:
        gram = "".join(words[idx : idx + n])
        if gram in seen:
            repeated += len(gram)
            hits += 1
            idx += n
        else:
            seen.add(gram)
            idx += 1
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
    for k in GOPHER_TOP_NGRAM:
        out[f"top_{k}"] = top_ngram_char_frac(words, k, n, min_count)
    for k in GOPHER_DUP_NGRAM:
        out[f"dup_{k}"] = dup_ngram_char_frac(words, k, n, min_hits)
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
