"""Contamination (needs ``benchmarks``): 13-gram overlap and embedding overlap between the
synthetic data and each benchmark file.

Example:
    >>> ngram_set(["a b c d"], 3) == {("a", "b", "c"), ("b", "c", "d")}
    True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from tether.audit.base import MetricResult, metric, wilson_ci
from tether.audit.dataset import AuditData
from tether.text import word_ngrams

log = logging.getLogger(__name__)

F = "contamination"
NGRAM = metric(F, "ngram_overlap", higher_is_better=False, bounds=(0.0, 1.0),
               description="Largest share, over benchmarks, of benchmark items sharing a word n-gram "
                           "(13 by default) with a synthetic record.", warn="> 0")
EMBED = metric(F, "embedding_overlap", higher_is_better=False, bounds=(0.0, 1.0),
               description="Largest share, over benchmarks, of benchmark items whose nearest synthetic "
                           "record has cosine similarity above the threshold.", warn="> 0")


def ngram_set(texts: Sequence[str], n: int = 13) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for t in texts:
        out.update(word_ngrams(t, n))
    return out


def ngram_hits(items: Sequence[str], index: dict[tuple[str, ...], int], n: int = 13) -> list[int]:
    """For each item, the index of a synthetic record sharing an n-gram with it, or -1."""
    out = []
    for t in items:
        grams = word_ngrams(t, n)
        hit = -1
        for g in grams:
            if g in index:
                hit = index[g]
                break
        out.append(hit)
    return out


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn = data.synthetic
    n = cfg.contamination_ngram
    index: dict[tuple[str, ...], int] = {}
    for i, t in enumerate(syn.texts):
        for g in word_ngrams(t, n):
            index.setdefault(g, i)
    es = data.emb(syn)
    per_ngram: dict[str, dict] = {}
    per_embed: dict[str, dict] = {}
    offs_ngram: list[dict] = []
    offs_embed: list[dict] = []
    for name, bench in data.benchmarks.items():
        hits = ngram_hits(bench.texts, index, n)
        k = sum(h >= 0 for h in hits)
        per_ngram[name] = {"items": len(bench), "contaminated": k, "rate": k / len(bench) if len(bench) else None}
        offs_ngram += [{"id": syn.ids[h], "score": 1.0, "benchmark": name, "benchmark_id": bench.ids[j],
                        "text": syn.texts[h][:300]} for j, h in enumerate(hits) if h >= 0][:10]
        eb = data.emb(bench)
        sims = np.zeros(len(bench))
        nn = np.zeros(len(bench), dtype=int)
        for s in range(0, len(bench), 2048):
            m = eb[s : s + 2048] @ es.T
            nn[s : s + 2048] = m.argmax(1)
            sims[s : s + 2048] = m.max(1)
        close = np.where(sims >= cfg.contamination_embed_threshold)[0]
        per_embed[name] = {"items": len(bench), "contaminated": int(close.size),
                           "rate": close.size / len(bench) if len(bench) else None}
        offs_embed += [{"id": syn.ids[nn[j]], "score": float(sims[j]), "benchmark": name,
                        "benchmark_id": bench.ids[j], "text": syn.texts[nn[j]][:300]}
                       for j in close[np.argsort(-sims[close])][:10]]
    out = []
    for info, per, offs, extra in ((NGRAM, per_ngram, offs_ngram, {"n": n}),
                                   (EMBED, per_embed, offs_embed,
                                    {"threshold": cfg.contamination_embed_threshold})):
        worst = max(per, key=lambda b: per[b]["rate"] or 0.0)
        w = per[worst]
        out.append(MetricResult.of(info, w["rate"] or 0.0, n=w["items"], ci=wilson_ci(w["contaminated"], w["items"]),
                                   details={"worst_benchmark": worst, "benchmarks": per, **extra},
                                   offenders=offs[:20]))
    return out


__all__ = ["ngram_hits", "ngram_set", "run"]
