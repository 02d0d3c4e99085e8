"""Fidelity to the reference: classifier two-sample tests, precision/recall/density/coverage,
MAUVE and Fréchet distance (each beside a reference-vs-reference baseline), unigram
Jensen-Shannon divergence, and KS tests on length and type-token ratio.

Example:
    >>> round(unigram_jsd(["a b"], ["a b"]), 6)
    0.0
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from tether.audit.base import MetricResult, metric, nan_warn, offenders
from tether.audit.dataset import AuditData, Corpus
from tether.text import normalize

log = logging.getLogger(__name__)

F = "fidelity"
C2ST_TFIDF = metric(F, "c2st_tfidf_auc", higher_is_better=False, bounds=(0.0, 1.0),
                    description="Cross-validated AUC of TF-IDF + logistic regression telling synthetic "
                                "from reference; 0.5 means indistinguishable.", warn="> 0.75")
C2ST_EMB = metric(F, "c2st_embedding_auc", higher_is_better=False, bounds=(0.0, 1.0),
                  description="Cross-validated AUC of embeddings + logistic regression telling synthetic "
                              "from reference; 0.5 means indistinguishable.", warn="> 0.75")
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

C2ST_MAX = 5000  # records per side for the classifier tests
PRDC_MAX = 5000  # k-NN on dense distance matrices: 5000 x 5000 floats per side


# ------------------------------------------------------------------ pure functions


def c2st_auc(x_syn, x_ref, *, folds: int = 5, seed: int = 0, C: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:  # noqa: N803
    """Cross-validated AUC of a logistic regression separating two samples.

    Returns ``(auc, out_of_fold_probability_of_synthetic, y)`` with synthetic first.
    """
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n1, n0 = x_syn.shape[0], x_ref.shape[0]
    if min(n1, n0) < folds:
        return nan_warn("c2st_auc"), np.full(n1 + n0, np.nan), np.r_[np.ones(n1), np.zeros(n0)]
    x = sp.vstack([x_syn, x_ref]).tocsr() if sp.issparse(x_syn) else np.vstack([x_syn, x_ref])
    y = np.r_[np.ones(n1), np.zeros(n0)]
    clf = LogisticRegression(C=C, max_iter=1000)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p)), p, y


def auc_ci(y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0) -> tuple[float, float] | None:
    from sklearn.metrics import roc_auc_score

    if n_boot <= 0 or len(y) < 4:
        return None
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        stats.append(roc_auc_score(y[i], p[i]))
    if not stats:
        return None
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage (Naeem et al. 2020), via the ``prdc`` package."""
    from prdc import compute_prdc

    if min(len(real), len(fake)) <= k:
        v = nan_warn("prdc")
        return {"precision": v, "recall": v, "density": v, "coverage": v}
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample sizes
        out = compute_prdc(real_features=np.asarray(real, np.float32), fake_features=np.asarray(fake, np.float32),
                           nearest_k=k)
    return {k_: float(v) for k_, v in out.items()}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) (Heusel et al. 2017)."""
    from scipy import linalg

    if len(a) < 2 or len(b) < 2:
        return nan_warn("frechet_distance")
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def mauve_score(p: np.ndarray, q: np.ndarray, *, buckets: int | None = None, seed: int = 0) -> float:
    """MAUVE of two feature sets with the ``mauve-text`` package (features given, no model)."""
    try:
        import mauve
    except ImportError as exc:  # pragma: no cover - a dependency of tether
        from tether.errors import ConfigError

        raise ConfigError("MAUVE needs the mauve-text package", hint="pip install mauve-text faiss-cpu") from exc
    if min(len(p), len(q)) < 10:
        return nan_warn("mauve")
    res = mauve.compute_mauve(p_features=np.asarray(p, np.float32), q_features=np.asarray(q, np.float32),
                              num_buckets=buckets or "auto", seed=seed, verbose=False)
    return float(res.mauve)


def _unigrams(texts: Sequence[str]) -> Counter[str]:
    c: Counter[str] = Counter()
    for t in texts:
        c.update(normalize(t).split())
    return c


def unigram_jsd(a: Sequence[str], b: Sequence[str]) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of the two corpora's unigram distributions."""
    from scipy.spatial.distance import jensenshannon

    ca, cb = _unigrams(a), _unigrams(b)
    vocab = sorted(set(ca) | set(cb))
    if not vocab or not ca or not cb:
        return nan_warn("unigram_jsd")
    pa = np.array([ca[w] for w in vocab], float)
    pb = np.array([cb[w] for w in vocab], float)
    return float(jensenshannon(pa / pa.sum(), pb / pb.sum(), base=2) ** 2)


def lengths(texts: Sequence[str]) -> np.ndarray:
    return np.array([len(normalize(t).split()) for t in texts], float)


def type_token_ratios(texts: Sequence[str]) -> np.ndarray:
    out = []
    for t in texts:
        toks = normalize(t).split()
        out.append(len(set(toks)) / len(toks) if toks else 0.0)
    return np.array(out, float)


def ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    if len(a) == 0 or len(b) == 0:
        return nan_warn("ks"), float("nan")
    r = ks_2samp(a, b)
    return float(r.statistic), float(r.pvalue)


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


def _c2st_tfidf(syn: Corpus, ref: Corpus, data: AuditData) -> MetricResult:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cfg = data.config
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True)
    x = vec.fit_transform(syn.texts + ref.texts)
    n = len(syn)
    auc, p, y = c2st_auc(x[:n], x[n:], seed=cfg.seed)
    clf = LogisticRegression(max_iter=1000).fit(x, y)
    names = vec.get_feature_names_out()
    coef = clf.coef_[0]
    top = np.argsort(-coef)[:15]
    res = MetricResult.of(
        C2ST_TFIDF, auc, n=len(y), ci=auc_ci(y, p, cfg.bootstrap, cfg.seed),
        details={"null_value": 0.5, "giveaway_ngrams": [{"ngram": str(names[i]), "weight": float(coef[i])}
                                                         for i in top if coef[i] > 0]},
        offenders=offenders(syn.ids, p[:n], syn.texts),
    )
    return res


def _c2st_emb(syn: Corpus, ref: Corpus, data: AuditData) -> MetricResult:
    cfg = data.config
    a, b = data.emb(syn), data.emb(ref)
    auc, p, y = c2st_auc(a, b, seed=cfg.seed)
    return MetricResult.of(C2ST_EMB, auc, n=len(y), ci=auc_ci(y, p, cfg.bootstrap, cfg.seed),
                           details={"null_value": 0.5}, offenders=offenders(syn.ids, p[: len(syn)], syn.texts))


def run(data: AuditData) -> list[MetricResult]:
    if data.reference is None:
        return []
    cfg = data.config
    syn_all, ref_all = data.synthetic, data.reference
    out: list[MetricResult] = []

    m = min(len(syn_all), len(ref_all), C2ST_MAX)
    syn, ref = _take(syn_all, m, cfg.seed + 1), _take(ref_all, m, cfg.seed + 2)
    out.append(_c2st_tfidf(syn, ref, data))
    out.append(_c2st_emb(syn, ref, data))

    m = min(len(syn_all), len(ref_all), PRDC_MAX)
    syn_p, ref_p = _take(syn_all, m, cfg.seed + 3), _take(ref_all, m, cfg.seed + 4)
    scores = prdc(data.emb(ref_p), data.emb(syn_p), cfg.k)
    infos = {"precision": PRECISION, "recall": RECALL, "density": DENSITY, "coverage": COVERAGE}
    null = {"precision": None, "recall": None, "density": 1.0, "coverage": 1 - 2.0 ** -cfg.k}
    for key, info in infos.items():
        res = MetricResult.of(info, scores[key], n=m, details={"k": cfg.k})
        if null[key] is not None:
            res.details["null_value"] = null[key]
        out.append(res)
    out[-2].warn_if(scores["density"] < 0.7, "density below 0.7: synthetic records sit off the reference")
    out[-1].warn_if(scores["coverage"] < 0.8 * (1 - 2.0 ** -cfg.k), "coverage below 80% of its null value: "
                    "parts of the reference are missing")

    # MAUVE and Fréchet, beside a reference-vs-reference split of the same size
    ra, rb = _halves(ref_all, cfg.seed + 5)
    h = min(len(ra), len(syn_all), PRDC_MAX)
    if h >= 10:
        ra, rb = _take(ra, h, cfg.seed + 6), _take(rb, h, cfg.seed + 7)
        syn_h = _take(syn_all, h, cfg.seed + 8)
        ea, eb, es = data.emb(ra), data.emb(rb), data.emb(syn_h)
        buckets = cfg.mauve_buckets or max(2, min(h // 10, 100))
        mv, mb = mauve_score(es, eb, buckets=buckets, seed=cfg.seed), mauve_score(ea, eb, buckets=buckets, seed=cfg.seed)
        res = MetricResult.of(MAUVE, mv, n=h, details={"baseline": mb, "buckets": buckets})
        out.append(res.warn_if(mv < mb - 0.15, f"more than 0.15 below the reference-vs-reference baseline ({mb:.3f})"))
        fd, fb = frechet_distance(es, eb), frechet_distance(ea, eb)
        res = MetricResult.of(FRECHET, fd, n=h, details={"baseline": fb})
        out.append(res.warn_if(fd > 2 * fb + 0.01, f"over twice the reference-vs-reference baseline ({fb:.4f})"))
        jb = unigram_jsd(ra.texts, rb.texts)
    else:
        jb = float("nan")

    j = unigram_jsd(syn_all.texts, ref_all.texts)
    res = MetricResult.of(JSD, j, n=len(syn_all), details={"baseline": jb})
    out.append(res.warn_if(not math.isnan(jb) and j > 2 * jb + 0.02, f"well above the reference split ({jb:.4f})"))

    for info, fn in ((KS_LEN, lengths), (KS_TTR, type_token_ratios)):
        a, b = fn(syn_all.texts), fn(ref_all.texts)
        stat, pval = ks(a, b)
        res = MetricResult.of(info, stat, n=len(a), details={
            "p_value": pval, "synthetic_mean": float(a.mean()) if len(a) else None,
            "reference_mean": float(b.mean()) if len(b) else None})
        out.append(res.warn_if(pval < 1e-3 and stat > 0.1, f"distributions differ (p={pval:.2g})"))

    data.plots["token_frequency"] = token_frequency_plot(syn_all.texts, ref_all.texts)
    data.plots["embedding_map"] = embedding_map(data, cfg.plot_points)
    return out


# ------------------------------------------------------------------ plot data


def token_frequency_plot(syn: Sequence[str], ref: Sequence[str], bins: int = 30) -> dict:
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
    "c2st_auc",
    "frechet_distance",
    "ks",
    "mauve_score",
    "prdc",
    "run",
    "unigram_jsd",
]
