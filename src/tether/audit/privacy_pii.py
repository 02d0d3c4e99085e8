"""PII in the synthetic data: which records hold PII (by entity type) against the real data's
own rate, and which hold a PII value that only the private data has.

Detection uses presidio-analyzer's pattern recognizers (no spaCy model, nothing downloaded)
for e-mail addresses, phone, card, SSN, IBAN and IP values; URLs are those with a scheme or
``www.`` (``df.info`` or ``setup.py`` in code are not URLs). A value is one whole detected
entity: overlapping detections are resolved to the most certain, longest one (the domain
inside an e-mail address is not a URL of its own), and documentation placeholders
(``example.com``, ``555`` numbers, test card numbers, private IPs) are not PII. Each text is
analysed once per process, and presidio reads only the windows around cheap hints (an
``@``, a long enough number).

Example:
    >>> sorted(pii_values("Write to jane.doe@mailbox.org or see https://www.python.org/."))
    ['EMAIL_ADDRESS:jane.doe@mailbox.org', 'URL:https://www.python.org']
    >>> pii_values("Write to jane.doe@example.com.")  # a documentation placeholder
    set()
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from tether.audit.base import MetricResult, metric, wilson_ci

log = logging.getLogger(__name__)

F = "privacy"
PII_PRESENCE = metric(F, "pii_presence_rate", higher_is_better=False, bounds=(0.0, 1.0),
                      description="Share of synthetic records holding personal PII (e-mail, phone, card, SSN, "
                                  "IBAN, IP; URLs apart), by entity type, beside the real data's own rates.")
PII = metric(F, "pii_replay_rate", higher_is_better=False, bounds=(0.0, 1.0),
             description="Share of synthetic records that contain a PII value found only in the private data, "
                         "beside the same rate for values found only in the holdout.")

PII_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "US_SSN", "URL")
#: Entity types that public text of any kind essentially never holds: without real data to
#: compare with, a synthetic set that holds them is flagged.
SENSITIVE = ("CREDIT_CARD", "US_SSN", "IBAN_CODE")
#: One-sided significance level of each PII test (the family runs several tests).
ALPHA = 0.005
#: Smallest departure a PII test flags: this many records, and this share of the records.
MIN_RECORDS, MIN_EXCESS = 3, 0.01

# a cheap look at the text: where it may hold an entity, and of which types (presidio's
# recognizers cost about a millisecond a text, so they read only windows around these hints)
_EMAIL_HINT = re.compile(r"\w@\w")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`()\[\]{}|\\^]+", re.I)  # a URL needs a scheme or www.
_NUMBER = re.compile(r"\d[\d\-. ()/]{5,}\d")  # phone, card, SSN, IBAN and IPv4 values all hold one
_IP_HINT = re.compile(r"\d\.\d{1,3}\.\d")
_IBAN_HINT = re.compile(r"[A-Z]{2}\d{2}")
_MARGIN = 80  # characters kept on each side of a hint (context words, an e-mail's local part)


def _windows(text: str) -> list[tuple[int, int, list[str]]]:
    """``(start, end, entity types)`` of the stretches of ``text`` that may hold PII: each
    hint widened by :data:`_MARGIN` and out to whitespace, overlapping stretches merged."""
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    if "@" in text:
        spans += [(m.start(), m.end(), ("EMAIL_ADDRESS",)) for m in _EMAIL_HINT.finditer(text)]
    for m in _NUMBER.finditer(text):
        types = ["PHONE_NUMBER", "CREDIT_CARD", "US_SSN"]
        if _IP_HINT.search(text, max(0, m.start() - 4), m.end()):
            types.append("IP_ADDRESS")
        if _IBAN_HINT.search(text, max(0, m.start() - 40), m.end()):
            types.append("IBAN_CODE")
        spans.append((m.start(), m.end(), tuple(types)))
    out: list[tuple[int, int, list[str]]] = []
    for a, b, kinds in sorted(spans):
        a = max(0, a - _MARGIN)
        ws = text.rfind(" ", 0, a)
        a = 0 if ws < 0 else ws
        b = min(len(text), b + _MARGIN)
        ws = min((i for i in (text.find(" ", b), text.find("\n", b)) if i >= 0), default=len(text))
        b = ws if ws - b < 2000 else b
        if out and a <= out[-1][1]:
            pa, pb, pk = out[-1]
            out[-1] = (pa, max(pb, b), pk + [k for k in kinds if k not in pk])
        else:
            out.append((a, b, list(kinds)))
    return out


_DIGITS_ONLY = ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE")
_URL_START = re.compile(r"^(?:https?://|www\.)", re.I)
_EMAIL_OK = re.compile(r"^[^@\s/]+@[^@\s/]+\.[a-z]{2,}$", re.I)
_ANALYZER: Any = None


def pii_analyzer() -> Any:
    """A presidio AnalyzerEngine with pattern recognizers only (no spaCy model); the e-mail
    check uses tldextract's bundled suffix list, so nothing is downloaded."""
    global _ANALYZER
    if _ANALYZER is None:
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
        from presidio_analyzer.predefined_recognizers import EmailRecognizer

        offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

        class OfflineEmailRecognizer(EmailRecognizer):
            """Presidio's e-mail recognizer with the bundled public-suffix list."""

            def validate_result(self, pattern_text: str) -> bool:
                return bool(offline(pattern_text).fqdn)

        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"])
        registry.recognizers = [r for r in registry.recognizers
                                if r.__class__.__name__ not in ("SpacyRecognizer", "EmailRecognizer")
                                and any(e in PII_ENTITIES for e in r.supported_entities)]
        registry.add_recognizer(OfflineEmailRecognizer(supported_language="en"))
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        _ANALYZER = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    return _ANALYZER


_EXAMPLE_DOMAIN = re.compile(r"(?:^|[@./])(?:example|test|invalid|localhost)(?:\.[a-z]{2,4})?(?:[/:]|$)")
_TEST_CARDS = frozenset({"4111111111111111", "4242424242424242", "4012888888881881", "5555555555554444",
                         "5105105105105100", "378282246310005", "371449635398431", "6011111111111117"})


def _placeholder(entity: str, v: str) -> bool:
    """A documentation or code placeholder, not anyone's data: reserved example domains
    (RFC 2606), digit runs like 1234567890 or 9999999999, 555 phone exchanges (fictional by
    convention), well-known test card numbers, loopback / private / documentation IPs."""
    if entity in ("EMAIL_ADDRESS", "URL"):
        host = v.split("@", 1)[-1] if entity == "EMAIL_ADDRESS" else re.sub(r"^https?://", "", v)
        return bool(_EXAMPLE_DOMAIN.search(host.split("/", 1)[0] + "/"))
    if entity == "IP_ADDRESS":
        import ipaddress

        try:
            return not ipaddress.ip_address(v).is_global
        except ValueError:
            return False
    if entity in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN"):
        d = re.sub(r"\D", "", v)
        if len(set(d)) <= 2 or d in "01234567890123456789" or d in "98765432109876543210":
            return True
        if entity == "PHONE_NUMBER" and len(d) in (10, 11) and d[-7:-4] == "555":
            return True
        return entity == "CREDIT_CARD" and d in _TEST_CARDS
    return False


def _clean(entity: str, raw: str) -> str | None:
    v = raw.strip().strip("\"'<>()[]{}").rstrip(".,;:!?/_").lower()
    if entity in _DIGITS_ONLY:
        v = re.sub(r"\W", "", v)
    elif entity == "URL" and not _URL_START.match(v):
        return None  # a bare domain-like word (``df.info``, ``setup.py``) is not a URL
    elif entity == "EMAIL_ADDRESS" and not _EMAIL_OK.match(v):
        return None
    return v if len(v) >= 6 and not _placeholder(entity, v) else None


@lru_cache(maxsize=1 << 17)
def pii_entities(text: str, threshold: float = 0.4) -> tuple[tuple[str, str], ...]:
    """``(entity_type, normalised value)`` of each whole PII entity in ``text``, sorted.

    Overlapping detections keep the most certain, then the longest one; digits-only types
    are compared by their digits, URLs without their trailing ``/``."""
    valid = []
    if "://" in text or "www." in text or "WWW." in text:
        for m in _URL.finditer(text):
            v = _clean("URL", m.group())
            if v is not None and "." in v.split("//", 1)[-1].split("/", 1)[0]:
                valid.append((0.6, m.end() - m.start(), m.start(), m.end(), "URL", v))
    analyzer = None
    for a, b, kinds in _windows(text):
        analyzer = analyzer or pii_analyzer()
        part = text[a:b]
        for r in analyzer.analyze(text=part, language="en", entities=kinds, score_threshold=threshold):
            v = _clean(r.entity_type, part[r.start : r.end])
            if v is not None:
                valid.append((r.score, r.end - r.start, a + r.start, a + r.end, r.entity_type, v))
    valid.sort(key=lambda x: (-x[0], -x[1], x[2]))
    taken: list[tuple[int, int]] = []
    out = set()
    for _, _, start, end, entity, v in valid:
        if not any(start < e and s < end for s, e in taken):
            taken.append((start, end))
            out.add((entity, v))
    return tuple(sorted(out))


def pii_values(text: str, threshold: float = 0.4) -> set[str]:
    """The PII values of ``text`` as ``"ENTITY_TYPE:value"`` strings (see :func:`pii_entities`)."""
    return {f"{e}:{v}" for e, v in pii_entities(text, threshold)}


def replay_rate(synthetic_values: Sequence[set[Any]], source_values: set[Any]) -> tuple[float, list[int]]:
    """Share (and indices) of records holding at least one of ``source_values``."""
    hits = [i for i, vs in enumerate(synthetic_values) if vs & source_values]
    return (len(hits) / len(synthetic_values) if synthetic_values else float("nan")), hits


def excess_p(k: int, n: int, k0: int, n0: int) -> float:
    """One-sided Fisher exact p-value that ``k / n`` exceeds ``k0 / n0`` (the permutation
    test of the two sides' labels); 1.0 when either side is empty."""
    if n <= 0 or n0 <= 0:
        return 1.0
    from scipy.stats import fisher_exact

    return float(fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="greater")[1])


def significant_excess(k: int, n: int, k0: int, n0: int, alpha: float = ALPHA) -> bool:
    """Whether ``k / n`` is above ``k0 / n0`` beyond chance (Fisher, ``alpha``) and by at least
    :data:`MIN_RECORDS` records and :data:`MIN_EXCESS` of the records."""
    if n <= 0 or n0 <= 0:
        return False
    excess = k / n - k0 / n0
    return excess >= MIN_EXCESS and k - n * k0 / n0 >= MIN_RECORDS and excess_p(k, n, k0, n0) < alpha


def _kinds(vals: Sequence[tuple[tuple[str, str], ...]]) -> list[set[str]]:
    return [{e for e, _ in v} for v in vals]


def presence_result(ids: Sequence[str], texts: Sequence[str], baseline: Sequence[str] | None,
                    baseline_name: str = "reference") -> MetricResult:
    """:data:`PII_PRESENCE`: the share of ``texts`` holding personal PII (any type but URLs,
    which are mostly public sites), with every type's share, against the shares in
    ``baseline`` (real texts of the same kind) by one-sided Fisher tests: personal PII at
    ``ALPHA``, each type (URLs too) at ``ALPHA / #types`` (Bonferroni). Without a baseline
    only the types in :data:`SENSITIVE` are flagged (3 records and 1% or more)."""
    n = len(texts)
    sk = _kinds([pii_entities(t) for t in texts])
    personal = [s - {"URL"} for s in sk]
    k = sum(1 for s in personal if s)
    by_type: dict[str, Any] = {e: {"records": sum(1 for s in sk if e in s)} for e in PII_ENTITIES}
    details: dict[str, Any] = {"records_with_pii": k, "records_with_url": by_type["URL"]["records"],
                               "by_type": by_type, "alpha": ALPHA}
    hits = [i for i, s in enumerate(personal) if s] + [i for i, s in enumerate(sk) if s == {"URL"}]
    res = MetricResult.of(PII_PRESENCE, k / n if n else float("nan"), n=n, ci=wilson_ci(k, n), details=details,
                          offenders=[{"id": ids[i], "score": float(len(sk[i])), "entities": sorted(sk[i]),
                                      "text": texts[i][:300]} for i in hits[:10]])
    if not n:
        return res
    for d in by_type.values():
        d["rate"] = d["records"] / n
    if baseline is None or not len(baseline):
        details["baseline"] = None
        flagged = [e for e in SENSITIVE if by_type[e]["records"] >= MIN_RECORDS and by_type[e]["rate"] >= MIN_EXCESS]
        return res.warn_if(bool(flagged), f"holds {', '.join(flagged)} values (no real data to compare with)")
    m = len(baseline)
    bk = _kinds([pii_entities(t) for t in baseline])
    k0 = sum(1 for s in bk if s - {"URL"})
    details.update({"baseline": baseline_name, "baseline_size": m, "baseline_rate": k0 / m,
                    "p_value": excess_p(k, n, k0, m)})
    flagged = []
    for e in (e for e in PII_ENTITIES if by_type[e]["records"]):
        ke = sum(1 for s in bk if e in s)
        by_type[e].update({"baseline_rate": ke / m, "p_value": excess_p(by_type[e]["records"], n, ke, m)})
        if significant_excess(by_type[e]["records"], n, ke, m, ALPHA / len(PII_ENTITIES)):
            flagged.append(e)
    details["flagged_types"] = flagged
    res.warn_if(significant_excess(k, n, k0, m),
                f"{res.value:.3f} of records hold personal PII, above the {baseline_name}'s {k0 / m:.3f} "
                f"(p={details['p_value']:.2g})")
    return res.warn_if(bool(flagged), f"more records than in the {baseline_name} hold {', '.join(flagged)}")


def replay_result(ids: Sequence[str], texts: Sequence[str], private: Sequence[str], holdout: Sequence[str],
                  public: Sequence[str] = ()) -> MetricResult:
    """:data:`PII`: synthetic records holding a PII value that only the private data has
    (a value also in the holdout or in ``public``, e.g. ``gmail.com`` sites or a project's
    URL, is public), beside those holding a value only the holdout has (the baseline: a
    generator that saw neither holds each kind equally often). Flagged when the private side
    leads beyond chance (one-sided binomial test on the records holding one kind only)."""
    from scipy.stats import binomtest

    n = len(texts)
    sv = [set(pii_entities(t)) for t in texts]
    pv = set().union(*(pii_entities(t) for t in private)) if len(private) else set()
    hv = set().union(*(pii_entities(t) for t in holdout)) if len(holdout) else set()
    shared = set().union(*(pii_entities(t) for t in public)) if len(public) else set()
    p_only, h_only = pv - hv - shared, hv - pv - shared
    rate, hits = replay_rate(sv, p_only)
    base, base_hits = replay_rate(sv, h_only)
    a = len(set(hits) - set(base_hits))
    b = len(set(base_hits) - set(hits))
    p = float(binomtest(a, a + b, 0.5, alternative="greater").pvalue) if a + b else 1.0
    res = MetricResult.of(PII, rate, n=n, ci=wilson_ci(len(hits), n),
                          details={"holdout_baseline": base, "private_pii_values": len(p_only),
                                   "holdout_pii_values": len(h_only), "public_pii_values": len(pv & (hv | shared)),
                                   "p_value": p, "alpha": ALPHA},
                          offenders=[{"id": ids[i], "score": float(len(sv[i] & p_only)),
                                      "entities": sorted(e for e, _ in sv[i] & p_only),
                                      "values": sorted(v for _, v in sv[i] & p_only)[:5], "text": texts[i][:300]}
                                     for i in hits[:10]])
    if n and not math.isnan(rate):
        res.warn_if(p < ALPHA and a - b >= MIN_RECORDS and rate - base >= MIN_EXCESS,
                    f"above the holdout baseline ({base:.3f}, p={p:.2g})")
    return res


__all__ = ["PII_ENTITIES", "excess_p", "pii_analyzer", "pii_entities", "pii_values", "presence_result",
           "replay_rate", "replay_result", "significant_excess"]
