"""Fidelity to the reference: classifier two-sample tests, precision/recall/density/coverage,
MAUVE and Fréchet distance, unigram Jensen-Shannon divergence, and KS tests on length and
type-token ratio. Precision, recall, MAUVE, Fréchet distance and the JSD are judged beside a
reference-vs-reference baseline: two halves of the reference, with the synthetic side measured
at the same size.

Example:
    >>> round(unigram_jsd(["a b"], ["a b"]), 6)
    0.0
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

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


def weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray, groups: np.ndarray | None = None) -> float:
    """ROC AUC of scores ``p`` for labels ``y`` with integer record weights ``w``: equal to
    ``roc_auc_score`` on the sample that repeats record i ``w[i]`` times (ties count half).
    ``groups``: ``np.unique(p, return_inverse=True)[1]``, when several weightings share ``p``."""
    yb = np.asarray(y).astype(bool)
    grp = np.unique(p, return_inverse=True)[1] if groups is None else groups  # tie groups, increasing score
    g = int(grp.max()) + 1 if len(grp) else 0
    wn = np.bincount(grp, weights=np.where(yb, 0, w), minlength=g)
    below = np.cumsum(wn) - wn  # negative weight strictly below each tie group
    wp = np.where(yb, w, 0)
    tp, tn = wp.sum(), wn.sum()
    if tp == 0 or tn == 0:
        return float("nan")
    return float((wp * (below[grp] + 0.5 * wn[grp])).sum() / (tp * tn))


def auc_ci(y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the AUC: resampling records with replacement, done as
    multinomial record weights (``weighted_auc``), one sort for all resamples."""
    if n_boot <= 0 or len(y) < 4:
        return None
    rng = np.random.default_rng(seed)
    n = len(y)
    groups = np.unique(p, return_inverse=True)[1]
    stats = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n)
        v = weighted_auc(y, p, w, groups)
        if v == v:  # a resample with one class only has no AUC
            stats.append(v)
    if not stats:
        return None
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage (Naeem et al. 2020); the values of
    :func:`prdc_scores`, which reproduces the ``prdc`` package's ``compute_prdc`` (tested)."""
    return prdc_scores(real, fake, k)[0]


def _squared_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances in float64: squared norms minus twice the product, so
    near-equal vectors do not lose their distance to cancellation; a point's distance to
    itself is 0, as in scikit-learn."""
    a64 = np.asarray(a, np.float64)
    same = b is None
    b64 = a64 if same else np.asarray(b, np.float64)
    d2 = np.add.outer((a64 * a64).sum(1), (b64 * b64).sum(1))
    ab = a64 @ b64.T
    ab *= 2.0  # exact: the same sum as subtracting 2.0 * (a @ b.T), with one matrix fewer
    d2 -= ab
    del ab
    np.maximum(d2, 0.0, out=d2)
    if same:
        np.fill_diagonal(d2, 0.0)
    return d2


def pairwise_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances (float32) from one float64 matrix product.

    Written here, not taken from the ``prdc`` package's helper: that one runs scikit-learn's
    ``pairwise_distances`` on float32 input, which upcasts chunk by chunk and took about 1.5 s
    per 5,000 x 5,000 matrix on 2 cores, most of the fidelity family's time in
    benchmarks/audit.py. Agrees with the package to float32 precision (tested).
    """
    d2 = _squared_distances(a, b)
    return np.sqrt(d2, out=d2).astype(np.float32)


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour, the point itself counted as its
    own nearest (as the ``prdc`` package's ``compute_nearest_neighbour_distances``). Selected
    on the squared distances, then rooted: the same values as selecting on the float32
    distances (a monotone map keeps the order), without rooting the whole matrix."""
    kth = np.partition(_squared_distances(x), k, axis=1)[:, k]
    return np.sqrt(kth).astype(np.float32)


def prdc_scores(real: np.ndarray, fake: np.ndarray, k: int = 5,
                real_radii: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Precision, recall, density and coverage as the ``prdc`` package's ``compute_prdc``
    computes them, plus per-record margins for the offenders. ``real_radii`` reuses the
    reference's k-NN radii when several synthetic samples are measured against one reference.

    The margins are distance over k-NN radius, so a record is outside when its margin is >= 1:
    ``fake_outside`` (per synthetic record: min over reference records of the distance over that
    record's radius; drives precision), ``real_uncovered`` (per reference record: its nearest
    synthetic record's distance over its own radius; drives coverage) and ``real_outside`` (per
    reference record: min over synthetic records of the distance over that record's radius;
    drives recall).
    """
    if min(len(real), len(fake)) <= k:
        v = nan_warn("prdc")
        nan_r, nan_f = np.full(len(real), np.nan), np.full(len(fake), np.nan)
        return ({"precision": v, "recall": v, "density": v, "coverage": v},
                {"fake_outside": nan_f, "real_uncovered": nan_r, "real_outside": nan_r})
    real = np.asarray(real, np.float32)
    fake = np.asarray(fake, np.float32)
    r_rad = real_radii if real_radii is not None else knn_radii(real, k)
    f_rad = knn_radii(fake, k)
    d = pairwise_distances(real, fake)  # real x fake
    in_real_ball = d < r_rad[:, None]
    values = {
        "precision": float(in_real_ball.any(axis=0).mean()),
        "recall": float((d < f_rad[None, :]).any(axis=1).mean()),
        "density": float(in_real_ball.sum(axis=0).mean() / k),
        "coverage": float((d.min(axis=1) < r_rad).mean()),
    }

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)

    margins = {
        "fake_outside": ratio(d, r_rad[:, None]).min(axis=0),
        "real_uncovered": ratio(d.min(axis=1), r_rad),
        "real_outside": ratio(d, f_rad[None, :]).min(axis=1),
    }
    return values, margins


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) (Heusel et al. 2017).

    The trace of (S_a S_b)^1/2 is taken as the sum of the square roots of the eigenvalues of
    the symmetric S_a^1/2 S_b S_a^1/2 (the same eigenvalues as S_a S_b), so singular covariances
    (collapsed, near-duplicate data) need no matrix square root of a non-symmetric product.
    """
    if len(a) < 2 or len(b) < 2:
        return nan_warn("frechet_distance")
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    ev = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_covmean = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean))


def mauve_score(p: np.ndarray, q: np.ndarray, *, buckets: int | None = None, seed: int = 0,
                explained_variance: float = 0.9, redo: int = 5, max_iter: int = 500, scaling: float = 5.0,
                grid: int = 25) -> float:
    """MAUVE (Pillutla et al. 2021) of two feature sets: the area under the divergence curve
    ``(exp(-c KL(Q || R)), exp(-c KL(P || R)))``, ``R = l P + (1 - l) Q`` for ``l`` on a grid of
    ``grid`` points in (0, 1), of the histograms of P and Q over k-means clusters of the joint,
    L2-normalised features reduced by PCA to ``explained_variance`` of their variance.

    Written here rather than called from the ``mauve-text`` package, whose module imports torch
    and transformers (to featurize raw text with GPT-2, which tether never asks of it): about
    9.5 s of a warm audit on 2 cores (``python -X importtime -c "import mauve"``), against a
    30 s target. The parameters are the package's documented defaults (``num_buckets``,
    ``kmeans_explained_var``, ``kmeans_num_redo``, ``kmeans_max_iter``,
    ``mauve_scaling_factor``, ``divergence_curve_discretization_size``); a test checks the
    value against the package's ``compute_mauve`` on the same features. ``buckets`` defaults to
    a tenth of the smaller side, as the package's ``"auto"``.
    """
    if min(len(p), len(q)) < 10:
        return nan_warn("mauve")
    import faiss
    from sklearn.decomposition import PCA

    x = np.vstack([np.asarray(p, np.float64), np.asarray(q, np.float64)])
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.where(norms > 0, norms, 1.0)
    pca = PCA(n_components=None, whiten=False, random_state=seed + 1).fit(x)
    keep = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), explained_variance) + 1)
    z = np.ascontiguousarray(pca.transform(x)[:, : min(keep, x.shape[1])], dtype=np.float32)
    k = int(buckets or max(2, round(min(len(p), len(q)) / 10)))
    # min_points_per_centroid only sets when faiss prints a warning about few points per cluster
    km = faiss.Kmeans(z.shape[1], k, niter=max_iter, nredo=redo, seed=seed + 2, verbose=False,
                      min_points_per_centroid=1)
    km.train(z)
    _, labels = km.index.search(z, 1)
    labels = labels[:, 0]
    hp = np.bincount(labels[: len(p)], minlength=k) / len(p)
    hq = np.bincount(labels[len(p) :], minlength=k) / len(q)

    def kl(a: np.ndarray, r: np.ndarray) -> float:
        m = a > 0
        return float((a[m] * np.log(a[m] / r[m])).sum())

    pts = [(0.0, 1.0), (1.0, 0.0)]
    for lam in np.linspace(1e-6, 1 - 1e-6, grid):
        r = lam * hp + (1 - lam) * hq
        pts.append((math.exp(-scaling * kl(hq, r)), math.exp(-scaling * kl(hp, r))))
    xs, ys = np.array(sorted(pts)).T
    return float(np.trapezoid(ys, xs))


Texts = Sequence[str] | Corpus  # a corpus brings its tokens and word counts, computed once


def _token_lists(x: Texts) -> Sequence[list[str]]:
    return x.tokens if isinstance(x, Corpus) else [normalize(t).split() for t in x]


def _unigrams(x: Texts) -> Counter[str]:
    return x.word_counts if isinstance(x, Corpus) else Counter(w for toks in _token_lists(x) for w in toks)


def unigram_jsd(a: Texts, b: Texts) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of the two corpora's unigram distributions."""
    from scipy.spatial.distance import jensenshannon

    ca, cb = _unigrams(a), _unigrams(b)
    vocab = sorted(set(ca) | set(cb))
    if not vocab or not ca or not cb:
        return nan_warn("unigram_jsd")
    pa = np.array([ca[w] for w in vocab], float)
    pb = np.array([cb[w] for w in vocab], float)
    return float(jensenshannon(pa / pa.sum(), pb / pb.sum(), base=2) ** 2)


def lengths(x: Texts) -> np.ndarray:
    return np.array([len(toks) for toks in _token_lists(x)], float)


def type_token_ratios(x: Texts) -> np.ndarray:
    return np.array([len(set(toks)) / len(toks) if toks else 0.0 for toks in _token_lists(x)], float)


def ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    if len(a) == 0 or len(b) == 0:
        return nan_warn("ks"), float("nan")
    r = ks_2samp(a, b)
    return float(r.statistic), float(r.pvalue)


def ks_ci(stat: float, n_a: int, n_b: int, alpha: float = 0.05) -> tuple[float, float] | None:
    """A distribution-free interval for the KS distance between the two populations.

    By the Dvoretzky-Kiefer-Wolfowitz inequality (Massart's constant), each ECDF is within
    ``eps = sqrt(ln(4 / alpha) / (2 n))`` of its distribution with probability >= 1 - alpha/2,
    so the population distance lies within ``eps_a + eps_b`` of the statistic with probability
    >= 1 - alpha. Conservative, and unlike a bootstrap not biased upwards near 0.
    """
    if n_a < 1 or n_b < 1 or math.isnan(stat):
        return None
    eps = sum(math.sqrt(math.log(4 / alpha) / (2 * n)) for n in (n_a, n_b))
    return max(0.0, stat - eps), min(1.0, stat + eps)


def reference_extremeness(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per value: 2 |F_ref(x) - 1/2| with the mid-rank ECDF of the reference: 0 at the
    reference's median, 1 beyond every reference value."""
    r = np.sort(ref)
    below = np.searchsorted(r, x, "left")
    upto = np.searchsorted(r, x, "right")
    return np.abs((below + upto) / (2 * len(r)) - 0.5) * 2


def overrepresented_words(a: Texts, b: Texts, top: int = 15) -> list[dict[str, Any]]:
    """The words of ``a`` that add most to its JSD from ``b`` while being more frequent in ``a``."""
    ca, cb = _unigrams(a), _unigrams(b)
    ta, tb = sum(ca.values()), sum(cb.values())
    if not ta or not tb:
        return []
    rows: list[dict[str, Any]] = []
    for w, c in ca.items():
        p, q = c / ta, cb[w] / tb
        if p <= q:
            continue
        mm = (p + q) / 2
        contrib = 0.5 * (p * math.log2(p / mm) + (q * math.log2(q / mm) if q else 0.0))
        rows.append({"word": w, "contribution": contrib, "share": p, "reference_share": q})
    rows.sort(key=lambda r: -float(r["contribution"]))
    return rows[:top]


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
    vec = TfidfVectorizer(analyzer=data.word_analyzer((1, 2)), min_df=2, max_features=50_000, sublinear_tf=True)
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
    out.append(_c2st_tfidf(syn, ref, data))
    out.append(_c2st_emb(syn, ref, data))

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
    "c2st_auc",
    "weighted_auc",
    "frechet_distance",
    "ks",
    "ks_ci",
    "mauve_score",
    "overrepresented_words",
    "prdc",
    "knn_radii",
    "pairwise_distances",
    "prdc_scores",
    "reference_extremeness",
    "run",
    "unigram_jsd",
]
