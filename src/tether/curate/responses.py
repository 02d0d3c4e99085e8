"""Filters on model responses: refusals, boilerplate phrases, truncated outputs.

Example:
    >>> find_phrases("I'm sorry, but I can't help with that.", REFUSAL_PHRASES)
    ["i'm sorry, but i can't", "i can't help with"]
    >>> truncation_reason("The answer is forty")
    'no_final_punctuation'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from tether.core.registry import register
from tether.core.step import Verdict
from tether.curate._private import TextFilter

if TYPE_CHECKING:
    from tether.core.context import StepContext

REFUSAL_PHRASES = (
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i cannot assist with",
    "i can't assist with",
    "i cannot help with",
    "i can't help with",
    "i'm unable to help",
    "i am unable to help",
    "i'm unable to provide",
    "i am unable to provide",
    "i cannot provide",
    "i can't provide",
    "i won't be able to",
    "i must decline",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "it is not appropriate for me",
    "it's not appropriate for me",
)
BOILERPLATE_PHRASES = (
    "as an ai language model",
    "as an ai model",
    "as a large language model",
    "as an ai assistant",
    "i am an ai",
    "i'm an ai",
    "my knowledge cutoff",
    "my training data",
    "i don't have personal opinions",
    "i do not have personal opinions",
    "i don't have personal experiences",
    "i hope this helps",
    "feel free to ask",
    "developed by openai",
    "trained by openai",
)

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_SPACE = re.compile(r"\s+")
_FINAL_OK = set(".!?。！？…\"')]}>`*|:;-_~")
_DANGLING = {"and", "or", "but", "the", "a", "an", "of", "to", "with", "for", "in", "on", "is", "are", "that", "because"}


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.translate(_QUOTES).lower())


def find_phrases(text: str, phrases: Sequence[str]) -> list[str]:
    """The ``phrases`` found in ``text`` (case-insensitive, curly quotes and spacing normalised)."""
    t = _norm(text)
    return [p for p in phrases if _norm(p) in t]


def truncation_reason(text: str, finish_reason: str | None = None) -> str | None:
    """Why ``text`` looks cut off, or ``None``: ``finish_reason_length`` (the model hit its
    token limit), ``unclosed_code_block`` (odd number of ```), ``dangling_word`` (ends on a
    conjunction/article/preposition), ``no_final_punctuation``."""
    if finish_reason == "length":
        return "finish_reason_length"
    t = text.rstrip()
    if not t:
        return None
    if t.count("```") % 2 == 1:
        return "unclosed_code_block"
    last = t.split()[-1].lower()
    if last in _DANGLING:
        return "dangling_word"
    if t[-1] not in _FINAL_OK and not t[-1].isdigit():
        return "no_final_punctuation"
    return None


@register
class RefusalFilter(TextFilter):
    """Reject responses that refuse or carry assistant boilerplate."""

    type: ClassVar[str] = "refusal_filter"
    description: ClassVar[str] = "Reject responses containing refusal or boilerplate phrases (refusal, boilerplate)."

    fields: str | list[str] = "response"
    """The column(s) read (the model's answer)."""
    refusal_phrases: list[str] = Field(default_factory=lambda: list(REFUSAL_PHRASES))
    """Phrases that mark a refusal (case-insensitive substrings)."""
    boilerplate_phrases: list[str] = Field(default_factory=lambda: list(BOILERPLATE_PHRASES))
    """Phrases that mark assistant boilerplate; empty to allow them."""
    extra_phrases: list[str] = Field(default_factory=list)
    """More boilerplate phrases, added to the defaults."""

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("phrases")}

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        t = self.text(record)
        refusal = find_phrases(t, self.refusal_phrases)
        boiler = find_phrases(t, [*self.boilerplate_phrases, *self.extra_phrases])
        found = refusal + boiler
        d = {"phrases": found or None}
        if refusal:
            return Verdict(False, "refusal", float(len(found)), d)
        if boiler:
            return Verdict(False, "boilerplate", float(len(found)), d)
        return Verdict(True, "", 0.0, d)


@register
class TruncationFilter(TextFilter):
    """Reject outputs that look cut off."""

    type: ClassVar[str] = "truncation_filter"
    description: ClassVar[str] = (
        "Reject outputs that look cut off: finish reason 'length', an unclosed code block, a "
        "dangling final word, or no final punctuation (truncated)."
    )

    fields: str | list[str] = "response"
    """The column(s) read; the last one is checked for its ending."""
    finish_reason_field: str | None = None
    """A column holding the generation's finish reason ('length' means cut off), if any."""
    require_final_punctuation: bool = True
    """Treat a missing final punctuation mark as truncation."""

    def input_columns(self) -> set[str]:
        return super().input_columns() | ({self.finish_reason_field} if self.finish_reason_field else set())

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("why")}

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        fr = record.get(self.finish_reason_field) if self.finish_reason_field else None
        why = truncation_reason(self.text(record), fr)
        if why == "no_final_punctuation" and not self.require_final_punctuation:
            why = None
        if why:
            return Verdict(False, "truncated", 1.0, {"why": why})
        return Verdict(True, "", 0.0, {"why": None})


__all__ = [
    "BOILERPLATE_PHRASES",
    "REFUSAL_PHRASES",
    "RefusalFilter",
    "TruncationFilter",
    "find_phrases",
    "truncation_reason",
]
