"""Fidelity to the reference: classifier two-sample tests (:mod:`tether.audit.fidelity_c2st`),
precision/recall/density/coverage, MAUVE and Fréchet distance, unigram Jensen-Shannon
divergence, and KS tests on length and type-token ratio (pure functions in
:mod:`tether.audit.fidelity_distances`). Precision, recall, MAUVE, Fréchet distance and the JSD
are judged beside a reference-vs-reference baseline: two halves of the reference, with the
synthetic side measured at the same size.

Example:
    >>> round(unigram_jsd(["a b"], ["a b"]), 6)
    0.0
"""

from __future__ import annotations

import logging
import math

import numpy as np

from tether.audit.base import MetricResult, metric, offenders
from tether.audit.dataset import AuditData, Corpus
from tether.audit.fidelity_c2st import (
    C2ST_EMB,
    C2ST_MAX,
    C2ST_TFIDF,
    auc_bootstrap,
    auc_ci,
    c2st_auc,
    c2st_embedding,
    c2st_tfidf,
    cv_groups,
    grouped_folds,
    weighted_auc,
)
from tether.audit.fidelity_distances import (
    Texts,
    _unigrams,
    frechet_distance,
    knn_radii,
    ks,
    ks_ci,
    lengths,
    mauve_score,
    overrepresented_words,
    pairwise_distances,
    prdc,
    prdc_scores,
    reference_extremeness,
    type_token_ratios,
    unigram_jsd,
)

log = logging.getLogger(__name__)

F = "fidelity"
PRECISION = metric(F, "precision", higher_is_better=True, bounds=(0.0, 1.0),
                   description="Share of synthetic records inside the reference manifold (k-NN balls, Naeem et al. 2020).")
RECALL = metric(F, "recall", higher_is_better=True, bounds=(0.0, 1.0),
                description="Share of reference records inside the synthetic manifold (k-NN balls).")
DENSITY = metric(F, "density", higher_is_better=True, bounds=(0.0, math.inf),
                 description="How many reference k-NN balls hold each synthetic record, over k; about 1 "
                             "when the distributions match.")
COVERAGE = metric(F, "coverage", higher_is_better=True, bounds=(0.0, 1.0),
                  description="Share of reference k-NN balls that hold at least one synthetic record.")
MAUVE = metric(F, "mauve", higher_is_better=True, bounds=(0.0, 1.0),
               description="MAUVE (Pillutla et al. 2021) between synthetic and reference embeddings; "
                           "compare with the reference-vs-reference baseline.")
FRECHET = metric(F, "frechet_distance", higher_is_better=False, bounds=(0.0, math.inf),
                 description="Fréchet distance between Gaussians fitted to the embeddings; compare with "
                             "the reference-vs-reference baseline.")
JSD = metric(F, "unigram_jsd", higher_is_better=False, bounds=(0.0, 1.0),
             description="Jensen-Shannon divergence (base 2) of unigram distributions.")
KS_LEN = metric(F, "ks_length", higher_is_better=False, bounds=(0.0, 1.0),
                description="Kolmogorov-Smirnov statistic between word-length distributions of records.")
KS_TTR = metric(F, "ks_ttr", higher_is_better=False, bounds=(0.0, 1.0),
                description="Kolmogorov-Smirnov statistic between type-token ratios of records.")

PRDC_MAX = 5000  # k-NN on dense distance matrices: 5000 x 5000 floats per side


# ------------------------------------------------------------------ family runner


def _take(c: Corpus, m: int, seed: int) -> Corpus:
    if len(c) <= m:
        return c
    rng = np.random.default_rng(seed)
    return c.subset(np.sort(rng.choice(len(c), m, replace=False)))


def _halves(ref: Corpus, seed: int) -> tuple[Corpus, Corpus]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(ref))
    h = len(ref) // 2
    return ref.subset(np.sort(perm[:h])), ref.subset(np.sort(perm[h : 2 * h]))


def _outside(c: Corpus, margin: np.ndarray, k: int = 10, **extra: str) -> list[dict]:
    """The records with a k-NN margin >= 1 (outside every ball), furthest first."""
    idx = np.where(margin >= 1)[0]
    order = idx[np.argsort(-margin[idx], kind="stable")][:k]
    return [{"id": c.ids[i], "score": float(margin[i]), **extra, "text": c.texts[i][:300]} for i in order]


def _prdc(data: AuditData, base: tuple[Corpus, Corpus, Corpus] | None) -> list[MetricResult]:
    cfg = data.config
    syn_all, ref_all = data.synthetic, data.reference
    assert ref_all is not None
    m = min(len(syn_all), len(ref_all), PRDC_MAX)
    # precision and recall have no closed-form null value (it depends on the dimension and the
    # data), so both are compared, at one sample size, with two halves of the reference; for two
    # samples of one distribution they have the same expectation (swap the samples), so the
    # baseline is the mean of the halves' precision and recall, which halves its noise
    bl: float | None = None
    bs: dict[str, float] | None = None
    radii = None
    if base is not None and len(base[0]) > cfg.k:
        ra, rb, syn_h = base
        eb = data.emb(rb)
        radii = knn_radii(eb, cfg.k)
        halves, _ = prdc_scores(eb, data.emb(ra), cfg.k, real_radii=radii)
        bl = (halves["precision"] + halves["recall"]) / 2
    if radii is not None and base is not None and len(base[1]) == m and len(base[2]) == m:
        # the baseline's samples have the full comparison's size (a reference of at least
        # 2 x PRDC_MAX records): its second reference half and synthetic sample are random
        # samples of that size, so they are the full comparison's samples as well
        ref_p, syn_p = base[1], base[2]
        scores, margins = prdc_scores(data.emb(ref_p), data.emb(syn_p), cfg.k, real_radii=radii)
        bs = scores
    else:
        syn_p, ref_p = _take(syn_all, m, cfg.seed + 3), _take(ref_all, m, cfg.seed + 4)
        scores, margins = prdc_scores(data.emb(ref_p), data.emb(syn_p), cfg.k)
        if radii is not None and base is not None:
            bs, _ = prdc_scores(data.emb(base[1]), data.emb(base[2]), cfg.k, real_radii=radii)
    out = []
    why = {"precision": "synthetic records sit outside the reference",
           "recall": "parts of the reference have no synthetic record near them (mode collapse?)"}
    offs = {"precision": _outside(syn_p, margins["fake_outside"]),
            "recall": _outside(ref_p, margins["real_outside"], set="reference"),
            "coverage": _outside(ref_p, margins["real_uncovered"], set="reference")}
    for key, info in (("precision", PRECISION), ("recall", RECALL)):
        res = MetricResult.of(info, scores[key], n=m, details={"k": cfg.k}, offenders=offs[key])
        if bl is not None and bs is not None and base is not None:
            res.details.update({"baseline": bl, "at_baseline_size": bs[key], "baseline_size": len(base[0])})
            res.warn_if(bs[key] < 0.8 * bl, f"{bs[key]:.3f} at the baseline size, below 80% of the "
                        f"reference-vs-reference baseline ({bl:.3f}): {why[key]}")
        out.append(res)
    null_c = 1 - 2.0 ** -cfg.k
    res = MetricResult.of(DENSITY, scores["density"], n=m, details={"k": cfg.k, "null_value": 1.0})
    out.append(res.warn_if(scores["density"] < 0.7, "density below 0.7: synthetic records sit off the reference"))
    res = MetricResult.of(COVERAGE, scores["coverage"], n=m, details={"k": cfg.k, "null_value": null_c},
                          offenders=offs["coverage"])
    out.append(res.warn_if(scores["coverage"] < 0.8 * null_c, "coverage below 80% of its null value: "
                           "parts of the reference are missing"))
    return out


def _mauve_frechet(data: AuditData, base: tuple[Corpus, Corpus, Corpus]) -> list[MetricResult]:
    cfg = data.config
    ra, rb, syn_h = base
    h = len(ra)
    ea, eb, es = data.emb(ra), data.emb(rb), data.emb(syn_h)
    buckets = cfg.mauve_buckets or max(2, min(h // 10, 100))
    mv, mb = mauve_score(es, eb, buckets=buckets, seed=cfg.seed), mauve_score(ea, eb, buckets=buckets, seed=cfg.seed)
    res = MetricResult.of(MAUVE, mv, n=h, details={"baseline": mb, "buckets": buckets})
    out = [res.warn_if(mv < mb - 0.15, f"more than 0.15 below the reference-vs-reference baseline ({mb:.3f})")]
    fd, fb = frechet_distance(es, eb), frechet_distance(ea, eb)
    res = MetricResult.of(FRECHET, fd, n=h, details={"baseline": fb})
    out.append(res.warn_if(fd > 2 * fb + 0.01, f"over twice the reference-vs-reference baseline ({fb:.4f})"))
    return out


def _jsd(data: AuditData, base: tuple[Corpus, Corpus, Corpus] | None) -> MetricResult:
    syn_all, ref_all = data.synthetic, data.reference
    assert ref_all is not None
    j = unigram_jsd(syn_all, ref_all)
    words = overrepresented_words(syn_all, ref_all)
    top = {str(w["word"]) for w in words}
    share = np.array([(sum(t in top for t in toks) / len(toks)) if toks else 0.0
                      for toks in syn_all.tokens])
    res = MetricResult.of(JSD, j, n=len(syn_all), details={"overrepresented_words": words},
                          offenders=[o for o in offenders(syn_all.ids, share, syn_all.texts) if o["score"] > 0])
    if base is None:
        return res
    # the divergence of finite samples grows as they shrink, so the synthetic side is compared
    # with the baseline at the baseline's size: a synthetic sample against the same reference half
    ra, rb, syn_h = base
    jb, jh = unigram_jsd(ra, rb), unigram_jsd(syn_h, rb)
    res.details.update({"baseline": jb, "at_baseline_size": jh, "baseline_size": len(ra)})
    return res.warn_if(jh > 2 * jb + 0.02, f"{jh:.4f} at the baseline size, over twice the reference "
                       f"split ({jb:.4f}) + 0.02")


def _ks(data: AuditData) -> list[MetricResult]:
    syn_all, ref_all = data.synthetic, data.reference
    assert ref_all is not None
    out = []
    for info, fn, what in ((KS_LEN, lengths, "length"), (KS_TTR, type_token_ratios, "type_token_ratio")):
        a, b = fn(syn_all), fn(ref_all)
        stat, pval = ks(a, b)
        offs = []
        if len(a) and len(b):
            # the synthetic records least typical of the reference: furthest from its median, in ranks
            ext = reference_extremeness(a, b)
            order = np.argsort(-ext, kind="stable")[:10]
            offs = [{"id": syn_all.ids[i], "score": float(ext[i]), what: float(a[i]), "text": syn_all.texts[i][:300]}
                    for i in order]
        res = MetricResult.of(info, stat, n=len(a), ci=ks_ci(stat, len(a), len(b)), details={
            "p_value": pval, "synthetic_mean": float(a.mean()) if len(a) else None,
            "reference_mean": float(b.mean()) if len(b) else None}, offenders=offs)
        out.append(res.warn_if(pval < 1e-3 and stat > 0.1, f"distributions differ (p={pval:.2g})"))
    return out


def run(data: AuditData) -> list[MetricResult]:
    if data.reference is None:
        return []
    cfg = data.config
    syn_all, ref_all = data.synthetic, data.reference
    out: list[MetricResult] = []

    m = min(len(syn_all), len(ref_all), C2ST_MAX)
    syn, ref = _take(syn_all, m, cfg.seed + 1), _take(ref_all, m, cfg.seed + 2)
    # paired records (one prompt answered on both sides) stay in one fold: split, they anti-learn
    groups, grouping = cv_groups(syn, ref, cfg.group_field)
    out.append(c2st_tfidf(syn, ref, data, groups, grouping))
    out.append(c2st_embedding(syn, ref, data, groups, grouping))

    # the reference-vs-reference baseline: two halves of the reference, and a synthetic sample
    # of the same size measured against the second half
    ra, rb = _halves(ref_all, cfg.seed + 5)
    h = min(len(ra), len(syn_all), PRDC_MAX)
    base = None
    if h >= 10:
        base = (_take(ra, h, cfg.seed + 6), _take(rb, h, cfg.seed + 7), _take(syn_all, h, cfg.seed + 8))
    out.extend(_prdc(data, base))
    if base is not None:
        out.extend(_mauve_frechet(data, base))
    out.append(_jsd(data, base))
    out.extend(_ks(data))

    data.plots["token_frequency"] = token_frequency_plot(syn_all, ref_all)
    data.plots["embedding_map"] = embedding_map(data, cfg.plot_points)
    return out


# ------------------------------------------------------------------ plot data


def token_frequency_plot(syn: Texts, ref: Texts, bins: int = 30) -> dict:
    """Density of log10 token frequencies (per million tokens) for both corpora."""
    cs, cr = _unigrams(syn), _unigrams(ref)
    ts, tr = sum(cs.values()) or 1, sum(cr.values()) or 1
    ls = np.log10(np.array(list(cs.values()), float) / ts * 1e6) if cs else np.zeros(0)
    lr = np.log10(np.array(list(cr.values()), float) / tr * 1e6) if cr else np.zeros(0)
    lo = float(min(ls.min(initial=0), lr.min(initial=0)))
    hi = float(max(ls.max(initial=1), lr.max(initial=1)))
    edges = np.linspace(lo, hi, bins + 1)
    hs, _ = np.histogram(ls, edges, density=True)
    hr, _ = np.histogram(lr, edges, density=True)
    return {"x_label": "log10 frequency per million tokens", "edges": edges.tolist(),
            "series": {"synthetic": hs.tolist(), "reference": hr.tolist()}}


def embedding_map(data: AuditData, points: int) -> dict:
    """A 2-D PCA map of a sample of both corpora, with each point's id and text."""
    from sklearn.decomposition import PCA

    ref = data.reference
    assert ref is not None
    cfg = data.config
    syn = _take(data.synthetic, points, cfg.seed + 11)
    rs = _take(ref, points, cfg.seed + 12)
    x = np.vstack([data.emb(syn), data.emb(rs)])
    if x.shape[0] < 3:
        return {"points": []}
    xy = PCA(n_components=2, random_state=cfg.seed).fit_transform(x)
    pts = []
    for i, (a, b) in enumerate(xy):
        c, j = (syn, i) if i < len(syn) else (rs, i - len(syn))
        pts.append({"x": round(float(a), 4), "y": round(float(b), 4), "set": "synthetic" if c is syn else "reference",
                    "id": c.ids[j], "text": c.texts[j][:240]})
    return {"points": pts}


__all__ = [
    "C2ST_EMB",
    "C2ST_MAX",
    "C2ST_TFIDF",
    "PRDC_MAX",
    "Texts",
    "auc_bootstrap",
    "auc_ci",
    "c2st_auc",
    "c2st_embedding",
    "c2st_tfidf",
    "cv_groups",
    "embedding_map",
    "frechet_distance",
    "grouped_folds",
    "knn_radii",
    "ks",
    "ks_ci",
    "lengths",
    "mauve_score",
    "overrepresented_words",
    "pairwise_distances",
    "prdc",
    "prdc_scores",
    "reference_extremeness",
    "run",
    "token_frequency_plot",
    "type_token_ratios",
    "unigram_jsd",
    "weighted_auc",
]
