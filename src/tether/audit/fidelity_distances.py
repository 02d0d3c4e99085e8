"""Distribution measures of fidelity: precision/recall/density/coverage (Naeem et al. 2020),
MAUVE and Fréchet distance on embeddings, unigram Jensen-Shannon divergence, and KS tests on
length and type-token ratio. Pure functions; :mod:`tether.audit.fidelity` judges them.

Example:
    >>> round(unigram_jsd(["a b"], ["a b"]), 6)
    0.0
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tether.audit.base import nan_warn
from tether.audit.dataset import Corpus
from tether.text import normalize


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

    # q first, as the package stacks them: k-means starts are drawn by position
    x = np.vstack([np.asarray(q, np.float64), np.asarray(p, np.float64)])
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
    hq = np.bincount(labels[: len(q)], minlength=k) / len(q)
    hp = np.bincount(labels[len(q) :], minlength=k) / len(p)

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


__all__ = [
    "Texts",
    "frechet_distance",
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
    "type_token_ratios",
    "unigram_jsd",
]
