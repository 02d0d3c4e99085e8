"""Privacy (needs ``private`` and ``holdout``): exact and near replay of private records,
distance-to-closest-record share, a distance-based membership-inference AUC, PII replay
against the holdout baseline, and replay of planted canaries.

The holdout is real data of the same kind the generator never saw, so every number here has
a baseline: what a generator that learned only the *distribution* would score.

Example:
    >>> round(dcr_share(np.array([0.1, 0.5]), np.array([0.2, 0.5])), 2)
    0.75
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np

from tether.audit.base import MetricResult, metric, nan_warn, wilson_ci
from tether.audit.dataset import AuditData, Corpus
from tether.text import normalize

log = logging.getLogger(__name__)

F = "privacy"
EXACT = metric(F, "exact_replay", higher_is_better=False, bounds=(0.0, float("inf")),
               description="Synthetic records whose normalised text equals a private record's.", warn="> 0")
NEAR = metric(F, "near_replay_rate", higher_is_better=False, bounds=(0.0, 1.0),
              description="Share of synthetic records that near-duplicate a private record (MinHash), "
                          "beside the same rate against the holdout.")
DCR = metric(F, "dcr_share", higher_is_better=False, bounds=(0.0, 1.0),
             description="Share of synthetic records closer to the private set than to an equal-size holdout; "
                         "0.5 when nothing is memorised.", warn="> 0.6")
MIA = metric(F, "mia_auc", higher_is_better=False, bounds=(0.0, 1.0),
             description="AUC of a distance-to-synthetic attack telling private members from holdout records; "
                         "0.5 means no membership signal.", warn="> 0.6")
PII = metric(F, "pii_replay_rate", higher_is_better=False, bounds=(0.0, 1.0),
             description="Share of synthetic records that contain a PII value found in the private data, "
                         "beside the same rate for the holdout's PII.")
CANARY = metric(F, "canary_replay", higher_is_better=False, bounds=(0.0, float("inf")),
                description="Planted canary strings that appear in the synthetic data.", warn="> 0")

PII_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "US_SSN", "URL")


# ------------------------------------------------------------------ pure functions


def dcr_share(d_private: np.ndarray, d_holdout: np.ndarray) -> float:
    """Share of records closer to private than to holdout (ties count one half)."""
    if len(d_private) == 0:
        return nan_warn("dcr_share")
    return float(np.mean((d_private < d_holdout) + 0.5 * (d_private == d_holdout)))


def closest_distance(x: np.ndarray, pool: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distance from each row of ``x`` to its nearest row of ``pool`` (unit vectors)."""
    d = np.empty(len(x))
    idx = np.empty(len(x), dtype=int)
    for s in range(0, len(x), chunk):
        sims = x[s : s + chunk] @ pool.T
        j = sims.argmax(1)
        idx[s : s + chunk] = j
        d[s : s + chunk] = 1.0 - sims[np.arange(len(j)), j]
    return np.clip(d, 0.0, 2.0), idx


def mia_auc(d_members: np.ndarray, d_nonmembers: np.ndarray) -> float:
    """AUC of ``-distance to the synthetic set`` as a score for membership."""
    from sklearn.metrics import roc_auc_score

    if len(d_members) == 0 or len(d_nonmembers) == 0:
        return nan_warn("mia_auc")
    y = np.r_[np.ones(len(d_members)), np.zeros(len(d_nonmembers))]
    return float(roc_auc_score(y, -np.r_[d_members, d_nonmembers]))


_ANALYZER = None


def pii_analyzer():  # noqa: ANN201
    """A presidio AnalyzerEngine with pattern recognizers only (no spaCy model)."""
    global _ANALYZER
    if _ANALYZER is None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

        class _NoNlp(NlpEngine):
            """Presidio wants an NLP engine; pattern recognizers need none of its output."""

            def load(self) -> None:  # noqa: D102
                return None

            def is_loaded(self) -> bool:  # noqa: D102
                return True

            def process_text(self, text, language):  # noqa: ANN001, ANN201, D102
                return NlpArtifacts(entities=[], tokens=[], tokens_indices=[], lemmas=[], nlp_engine=self,
                                    language=language)

            def process_batch(self, texts, language, batch_size=1, n_process=1, **kw):  # noqa: ANN001, ANN201, ANN003, D102
                for t in texts:
                    yield t, self.process_text(t, language)

            def is_stopword(self, word, language):  # noqa: ANN001, ANN201, D102
                return False

            def is_punct(self, word, language):  # noqa: ANN001, ANN201, D102
                return False

            def get_supported_entities(self):  # noqa: ANN201, D102
                return []

            def get_supported_languages(self):  # noqa: ANN201, D102
                return ["en"]

        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"])
        keep = [r for r in registry.recognizers if r.__class__.__name__ != "SpacyRecognizer"
                and any(e in PII_ENTITIES for e in r.supported_entities)]
        registry.recognizers = keep
        _ANALYZER = AnalyzerEngine(registry=registry, nlp_engine=_NoNlp(), supported_languages=["en"])
    return _ANALYZER


_PII_HINT = re.compile(r"@|\d{3}|https?://|www\.", re.I)


def pii_values(text: str, threshold: float = 0.4) -> set[str]:
    """Normalised PII values found in ``text`` by presidio's pattern recognizers."""
    if not _PII_HINT.search(text):  # cheap pre-check: every entity we look for has one of these
        return set()
    found = pii_analyzer().analyze(text=text, language="en", entities=list(PII_ENTITIES),
                                   score_threshold=threshold)
    out = set()
    for r in found:
        v = text[r.start : r.end].strip().lower()
        if r.entity_type in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"):
            v = re.sub(r"\W", "", v)
        if len(v) >= 6:
            out.add(f"{r.entity_type}:{v}")
    return out


def replay_rate(synthetic_values: Sequence[set[str]], source_values: set[str]) -> tuple[float, list[int]]:
    hits = [i for i, vs in enumerate(synthetic_values) if vs & source_values]
    return (len(hits) / len(synthetic_values) if synthetic_values else float("nan")), hits


# ------------------------------------------------------------------ family runner


def _equal_size(private: Corpus, holdout: Corpus, seed: int) -> tuple[Corpus, Corpus]:
    m = min(len(private), len(holdout))
    rng = np.random.default_rng(seed)
    p = private if len(private) == m else private.subset(np.sort(rng.choice(len(private), m, replace=False)))
    h = holdout if len(holdout) == m else holdout.subset(np.sort(rng.choice(len(holdout), m, replace=False)))
    return p, h


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn = data.synthetic
    out: list[MetricResult] = []
    n = len(syn)

    if cfg.canaries:
        low = [t.lower() for t in syn.texts]
        canary_hits = {c: [i for i, t in enumerate(low) if c.lower() in t] for c in cfg.canaries}
        replayed = [c for c, h in canary_hits.items() if h]
        offs = [{"id": syn.ids[i], "score": 1.0, "canary": c, "text": syn.texts[i][:300]}
                for c in replayed for i in canary_hits[c][:3]]
        out.append(MetricResult.of(CANARY, len(replayed), n=len(cfg.canaries),
                                   details={"canaries": len(cfg.canaries), "replayed": replayed}, offenders=offs))

    private, holdout = data.private, data.holdout
    if private is None:
        return out

    norm_priv = {normalize(t): pid for t, pid in zip(private.texts, private.ids, strict=True) if t.strip()}
    exact = [(i, norm_priv[k]) for i, k in enumerate(map(normalize, syn.texts)) if k in norm_priv]
    res = MetricResult.of(EXACT, len(exact), n=n, details={"rate": len(exact) / n if n else None},
                          offenders=[{"id": syn.ids[i], "score": 1.0, "private_id": pid, "text": syn.texts[i][:300]}
                                     for i, pid in exact[:10]])
    if holdout is not None:
        norm_hold = {normalize(t) for t in holdout.texts if t.strip()}
        res.details["holdout_baseline"] = sum(1 for k in map(normalize, syn.texts) if k in norm_hold)
    out.append(res)

    out.append(_near(data, syn, private, holdout))

    if holdout is None:
        log.warning("privacy: no holdout given, so DCR share, membership inference and PII replay are skipped")
        return out

    p, h = _equal_size(private, holdout, cfg.seed + 21)
    es, ep, eh = data.emb(syn), data.emb(p), data.emb(h)
    d_p, idx_p = closest_distance(es, ep)
    d_h, _ = closest_distance(es, eh)
    share = dcr_share(d_p, d_h)
    closer = np.where(d_p < d_h)[0]
    order = closer[np.argsort(d_p[closer])][:10]
    out.append(MetricResult.of(
        DCR, share, n=n, ci=wilson_ci(round(share * n), n),
        details={"null_value": 0.5, "private_size": len(p), "holdout_size": len(h),
                 "median_dcr_private": float(np.median(d_p)), "median_dcr_holdout": float(np.median(d_h))},
        offenders=[{"id": syn.ids[i], "score": float(d_p[i]), "private_id": p.ids[idx_p[i]],
                    "text": syn.texts[i][:300]} for i in order]))

    dm, idx_m = closest_distance(ep, es)
    dn, _ = closest_distance(eh, es)
    auc = mia_auc(dm, dn)
    from tether.audit.fidelity import auc_ci

    y = np.r_[np.ones(len(dm)), np.zeros(len(dn))]
    # offenders: the private records the attack finds most surely (nearest a synthetic record)
    exposed = np.argsort(dm, kind="stable")[:10]
    out.append(MetricResult.of(MIA, auc, n=len(y), ci=auc_ci(y, -np.r_[dm, dn], cfg.bootstrap, cfg.seed),
                               details={"null_value": 0.5, "median_distance_private": float(np.median(dm)),
                                        "median_distance_holdout": float(np.median(dn))},
                               offenders=[{"id": p.ids[i], "score": float(dm[i]), "set": "private",
                                           "synthetic_id": syn.ids[idx_m[i]], "text": p.texts[i][:300]}
                                          for i in exposed]))

    sv = [pii_values(t) for t in syn.texts]
    pv = set().union(*(pii_values(t) for t in p.texts)) if len(p) else set()
    hv = set().union(*(pii_values(t) for t in h.texts)) if len(h) else set()
    rate, hits = replay_rate(sv, pv)
    base, _ = replay_rate(sv, hv)
    res = MetricResult.of(PII, rate, n=n, ci=wilson_ci(len(hits), n),
                          details={"holdout_baseline": base, "private_pii_values": len(pv),
                                   "holdout_pii_values": len(hv)},
                          offenders=[{"id": syn.ids[i], "score": 1.0,
                                      "entities": sorted(v.split(":", 1)[0] for v in sv[i] & pv),
                                      "text": syn.texts[i][:300]} for i in hits[:10]])
    out.append(res.warn_if(rate > base + 0.01, f"above the holdout baseline ({base:.3f})"))
    return out


def _near(data: AuditData, syn: Corpus, private: Corpus, holdout: Corpus | None) -> MetricResult:
    from tether.audit.diversity import near_matches

    thr = data.config.near_dup_threshold

    def rate(pool: Corpus) -> tuple[float, list[tuple[int, int]]]:
        marks = near_matches(syn.texts, pool.texts, thr)
        hits = [(i, j) for i, j in enumerate(marks) if j >= 0]
        return len(hits) / len(syn) if len(syn) else float("nan"), hits

    r, hits = rate(private)
    res = MetricResult.of(NEAR, r, n=len(syn), ci=wilson_ci(len(hits), len(syn)),
                          details={"threshold": thr},
                          offenders=[{"id": syn.ids[i], "score": 1.0, "private_id": private.ids[j],
                                      "text": syn.texts[i][:300]} for i, j in hits[:10]])
    if holdout is not None:
        p, h = _equal_size(private, holdout, data.config.seed + 22)
        rp, _ = rate(p)
        rh, _ = rate(h)
        res.details.update({"rate_equal_size_private": rp, "holdout_baseline": rh})
        res.warn_if(rp > rh + 0.01, f"above the holdout baseline ({rh:.3f})")
    else:
        res.warn_if(r > 0.01, "over 1% of records near-duplicate a private record")
    return res


__all__ = ["closest_distance", "dcr_share", "mia_auc", "pii_analyzer", "pii_values", "replay_rate", "run"]
