"""Language identification with py3langid (its model ships inside the wheel; nothing is downloaded).

Example:
    >>> detect_language("Ceci est une phrase écrite en français.")[0]
    'fr'
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from tether.core.registry import register
from tether.core.step import Verdict
from tether.curate._private import TextFilter
from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.core.context import StepContext


@lru_cache(maxsize=1)
def _identifier() -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("py3langid is not installed", hint="pip install py3langid") from exc
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> tuple[str, float]:
    """The most likely ISO 639-1 language code of ``text`` and its probability (0..1)."""
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


@register
class LanguageFilter(TextFilter):
    """Keep texts in the wanted languages, identified with confidence."""

    type: ClassVar[str] = "language_filter"
    description: ClassVar[str] = (
        "Keep texts whose identified language (py3langid) is in languages with at least "
        "min_score probability (wrong_language, low_language_confidence)."
    )

    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    """ISO 639-1 codes to keep (py3langid knows 97 languages)."""
    min_score: float = Field(0.5, ge=0, le=1)
    """Least probability of the identified language."""

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("language")}

    def setup(self, ctx: StepContext) -> None:
        known = set(_identifier().nb_classes)
        unknown = sorted(set(self.languages) - known)
        ctx.require(not unknown, f"unknown language code(s) {', '.join(unknown)}",
                    hint="use ISO 639-1 codes such as en, fr, de, zh")

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        lang, prob = detect_language(self.text(record))
        d = {"language": lang}
        if lang not in self.languages:
            return Verdict(False, "wrong_language", prob, d)
        if prob < self.min_score:
            return Verdict(False, "low_language_confidence", prob, d)
        return Verdict(True, "", prob, d)


__all__ = ["LanguageFilter", "detect_language"]
