"""PII detection and redaction with Microsoft Presidio, offline.

Without a spaCy model, Presidio runs its pattern recognizers behind a no-op NLP engine. At
the default ``min_score`` these find, offline: EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD,
US_SSN, US_ITIN, IP_ADDRESS, IBAN_CODE, URL, DATE_TIME (numeric forms such as 2023-04-15 or
15/04/2023; "April 15" needs NER), MAC_ADDRESS, UUID, CRYPTO, UK_NHS and MEDICAL_LICENSE
(tested per type). US_PASSPORT, US_DRIVER_LICENSE and US_BANK_NUMBER are not found offline:
their patterns score 0.05-0.3 and Presidio raises them only on context words, which need an
NLP engine. When a spaCy model is installed (``ner: auto`` finds ``en_core_web_lg/md/sm``)
its NER adds PERSON, LOCATION and the like, and context words count.
Nothing is downloaded: the e-mail recognizer's domain check uses tldextract's bundled
suffix list.

Example:
    >>> [s.entity for s in analyze_pii("Write to jane@example.org today.")]  # doctest: +SKIP
    ['EMAIL_ADDRESS']
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from tether.core.registry import register
from tether.core.step import Outcome, Verdict
from tether.curate._private import TextFilter, as_fields
from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)

SPACY_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_trf")


@dataclass(frozen=True)
class PiiSpan:
    entity: str
    start: int
    end: int
    score: float
    text: str


def installed_spacy_model(preferred: str | None = None) -> str | None:
    """The first importable spaCy model (``preferred`` first), or None."""
    import importlib.util

    for name in ((preferred,) if preferred else ()) + SPACY_MODELS:
        if name and importlib.util.find_spec(name) is not None:
            return name
    return None


@lru_cache(maxsize=4)
def _engine(language: str, spacy_model: str | None) -> Any:
    try:
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import EmailRecognizer
    except ImportError as exc:  # pragma: no cover - declared dependencies
        raise ConfigError("presidio-analyzer is not installed", hint="pip install presidio-analyzer") from exc

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer with the bundled public-suffix list (no network)."""

        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline(pattern_text).fqdn)

    reg = RecognizerRegistry(supported_languages=[language])
    reg.load_predefined_recognizers(languages=[language])
    reg.remove_recognizer("EmailRecognizer")
    reg.add_recognizer(OfflineEmailRecognizer(supported_language=language))
    models = [{"lang_code": language, "model_name": spacy_model or "none"}]
    nlp: Any
    if spacy_model:
        nlp = SpacyNlpEngine(models=models)
    else:
        reg.remove_recognizer("SpacyRecognizer")
        nlp = NoOpNlpEngine(models=models)
    return AnalyzerEngine(nlp_engine=nlp, registry=reg, supported_languages=[language])


def _resolve_overlaps(spans: list[PiiSpan]) -> list[PiiSpan]:
    """Keep the best span where spans overlap (higher score, then longer), by position."""
    chosen: list[PiiSpan] = []
    for s in sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if all(s.end <= c.start or s.start >= c.end for c in chosen):
            chosen.append(s)
    return sorted(chosen, key=lambda s: s.start)


def analyze_pii(
    text: str,
    entities: list[str] | None = None,
    min_score: float = 0.4,
    *,
    language: str = "en",
    spacy_model: str | None = None,
) -> list[PiiSpan]:
    """PII spans found in ``text`` (non-overlapping, by position).

    ``spacy_model`` turns on NER (PERSON, LOCATION, ...) with that installed spaCy model;
    without it only Presidio's pattern recognizers run.
    """
    if not text:
        return []
    res = _engine(language, spacy_model).analyze(text=text, language=language, entities=entities,
                                                 score_threshold=min_score)
    spans = [PiiSpan(r.entity_type, r.start, r.end, float(r.score), text[r.start : r.end]) for r in res]
    return _resolve_overlaps(spans)


_FAKERS = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone_number", "CREDIT_CARD": "credit_card_number",
    "US_SSN": "ssn", "IP_ADDRESS": "ipv4", "IBAN_CODE": "iban", "URL": "url", "PERSON": "name",
    "LOCATION": "city", "DATE_TIME": "date", "MAC_ADDRESS": "mac_address", "UUID": "uuid4",
    "US_PASSPORT": "passport_number", "US_BANK_NUMBER": "bban", "NRP": "country", "US_ITIN": "itin",
}


def fake_value(entity: str, original: str, salt: str = "") -> str:
    """A fake value for ``entity``, the same for the same ``original`` (and ``salt``) every time."""
    from faker import Faker

    seed = int.from_bytes(hashlib.sha256(f"{salt}\0{entity}\0{original}".encode()).digest()[:8], "big")
    fk = Faker("en_US")
    fk.seed_instance(seed)
    method = _FAKERS.get(entity)
    if method is None:
        return f"<{entity}_{seed % 100000:05d}>"
    return str(getattr(fk, method)())


def redact(text: str, spans: list[PiiSpan], how: Literal["mask", "replace"], salt: str = "") -> str:
    """``text`` with each span masked as ``<ENTITY>`` or replaced by a consistent fake value."""
    out, pos = [], 0
    for s in spans:
        out.append(text[pos : s.start])
        out.append(f"<{s.entity}>" if how == "mask" else fake_value(s.entity, s.text, salt))
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


@register
class Pii(TextFilter):
    """Detect PII with Presidio: flag, mask, replace with fakes, or reject."""

    type: ClassVar[str] = "pii"
    description: ClassVar[str] = (
        "Detect PII (Presidio patterns, plus spaCy NER when a model is installed) and flag, mask, "
        "replace with consistent fake values, or reject (pii); counts by entity type go to the manifest."
    )

    action: Literal["flag", "mask", "replace", "reject"] = "mask"
    """flag: mark only; mask: <ENTITY>; replace: consistent fake values; reject: set the record aside."""
    entities: list[str] | None = None
    """Entity types to look for (Presidio names, e.g. EMAIL_ADDRESS, PHONE_NUMBER); all if unset."""
    min_score: float = Field(0.4, ge=0, le=1)
    """Least Presidio confidence of a finding."""
    language: str = "en"
    """Language of the texts (Presidio recognizer set)."""
    ner: Literal["auto", "on", "off"] = "auto"
    """auto: use spaCy NER when a model is installed; on: require one; off: patterns only."""
    spacy_model: str | None = None
    """The spaCy model for NER (default: the first of en_core_web_lg/md/sm/trf installed)."""
    salt: str = ""
    """Salt of the fake values (replace): same value + same salt -> same fake."""

    def output_columns(self) -> set[str]:
        return {self.col("score"), self.col("entities")}

    def _model(self) -> str | None:
        if self.ner == "off":
            return None
        found = installed_spacy_model(self.spacy_model)
        if found is None and self.ner == "on":
            raise ConfigError(
                f"step {self.instance_name}: ner: on, but no spaCy model is installed",
                hint="pip install an en_core_web_* model, or set ner: auto",
            )
        return found

    def setup(self, ctx: StepContext) -> None:
        model = self._model()
        log.info("%s: PII with %s", ctx.step_name, f"spaCy NER ({model}) + patterns" if model else "patterns only")
        ctx.stats["ner_model"] = model
        ctx.stats.setdefault("by_entity", {})
        _engine(self.language, model)

    def _decide(self, record: dict[str, Any], ctx: StepContext) -> tuple[Verdict, dict[str, str]]:
        model = ctx.stats["ner_model"] if "ner_model" in ctx.stats else self._model()
        counts = ctx.stats.setdefault("by_entity", {})
        found: list[str] = []
        updates: dict[str, str] = {}
        for f in as_fields(self.fields):
            v = record.get(f)
            if not isinstance(v, str) or not v:
                continue
            spans = analyze_pii(v, self.entities, self.min_score, language=self.language, spacy_model=model)
            for s in spans:
                counts[s.entity] = counts.get(s.entity, 0) + 1
                found.append(s.entity)
            if spans and self.action in ("mask", "replace"):
                updates[f] = redact(v, spans, self.action, self.salt)
        d = {"entities": sorted(set(found)) or None}
        if found and self.action == "reject":
            return Verdict(False, "pii", float(len(found)), d), {}
        return Verdict(True, "", float(len(found)), d), updates

    def keep(self, record, ctx: StepContext) -> Verdict:  # noqa: ANN001
        return self._decide(record, ctx)[0]

    async def _one(self, record: dict[str, Any], ctx: StepContext) -> Outcome:
        v, updates = self._decide(record, ctx)
        rec = self.annotate({**record, **updates}, v)
        return Outcome(kept=[rec]) if v.keep else Outcome(rejected=[(rec, v)])


__all__ = ["Pii", "PiiSpan", "analyze_pii", "fake_value", "installed_spacy_model", "redact"]
