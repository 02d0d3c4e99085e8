"""Classifier two-sample tests of fidelity: cross-validated AUC of logistic regression telling
synthetic from reference records, on TF-IDF 1-2 grams and on embeddings.

Records that share a prompt, an instruction or a lineage parent (paired data: answers of two
models to the same instructions) are kept in one fold: split between training and test folds,
the classifier learns the shared words with the opposite label and anti-learns (AUC well below
0.5). The pairing is found from :meth:`Corpus.group_keys` across both sides, or named with
``AuditConfig.group_field``. An AUC significantly below 0.5 (by ``BROKEN_GAP`` and ``BROKEN_Z``
bootstrap standard errors) marks a broken test, not a pass.

Example:
    >>> import numpy as np
    >>> folds = grouped_folds(np.array([1, 1, 0, 0, 1, 0]), np.array([0, 1, 0, 1, 2, 2]), 3, seed=0)
    >>> bool(folds[0] == folds[2] and folds[1] == folds[3] and folds[4] == folds[5])
    True
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric, nan_warn, offenders
from tether.audit.dataset import AuditData, Corpus

log = logging.getLogger(__name__)

F = "fidelity"
C2ST_TFIDF = metric(F, "c2st_tfidf_auc", higher_is_better=False, bounds=(0.0, 1.0),
                    description="Cross-validated AUC of TF-IDF + logistic regression telling synthetic "
                                "from reference; 0.5 means indistinguishable.", warn="> 0.75")
C2ST_EMB = metric(F, "c2st_embedding_auc", higher_is_better=False, bounds=(0.0, 1.0),
                  description="Cross-validated AUC of embeddings + logistic regression telling synthetic "
                              "from reference; 0.5 means indistinguishable.", warn="> 0.75")

C2ST_MAX = 5000  # records per side for the classifier tests
FOLDS = 5


def grouped_folds(y: np.ndarray, groups: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """A fold per record such that the records of one group share a fold and each fold holds
    about ``1 / folds`` of each class: groups of several records are placed first, largest
    first, each in the fold it fills least (relative to the class totals); single records then
    fill the folds up class by class. Same role as scikit-learn's ``StratifiedGroupKFold``,
    which took 2 s on 20,000 mostly single-record groups.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y).astype(int)
    _, inv, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    n_groups = len(counts)
    pos = np.bincount(inv, weights=y, minlength=n_groups).astype(int)
    comp = np.stack([counts - pos, pos], axis=1)  # per group: records of class 0, class 1
    total = np.maximum(comp.sum(0), 1).astype(float)
    load = np.zeros((folds, 2))
    gfold = np.full(n_groups, -1)
    multi = np.where(counts > 1)[0]
    multi = multi[rng.permutation(len(multi))]
    multi = multi[np.argsort(-counts[multi], kind="stable")]
    for g in multi:
        f = int(np.argmin(((load + comp[g]) / total).sum(1)))
        gfold[g] = f
        load[f] += comp[g]
    for c in (0, 1):
        single = np.where((counts == 1) & (comp[:, c] == 1))[0]
        single = single[rng.permutation(len(single))]
        add = np.zeros(folds, int)
        level = load[:, c].copy()
        for _ in range(len(single)):  # water-filling: each record to the emptiest fold
            f = int(np.argmin(level))
            add[f] += 1
            level[f] += 1
        gfold[single] = np.repeat(np.arange(folds), add)[rng.permutation(len(single))]
    return gfold[inv]


def c2st_auc(x_syn, x_ref, *, folds: int = FOLDS, seed: int = 0, C: float = 1.0,  # noqa: N803
             groups: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Cross-validated AUC of a logistic regression separating two samples.

    ``groups`` (one key per record, synthetic first): records of one group are kept in one
    fold (:func:`grouped_folds`); without it, stratified K-fold. Returns
    ``(auc, out_of_fold_probability_of_synthetic, y)`` with synthetic first.
    """
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import PredefinedSplit, StratifiedKFold, cross_val_predict

    n1, n0 = x_syn.shape[0], x_ref.shape[0]
    y = np.r_[np.ones(n1), np.zeros(n0)]
    if min(n1, n0) < folds or (groups is not None and len(np.unique(groups)) < folds):
        return nan_warn("c2st_auc"), np.full(n1 + n0, np.nan), y
    x = sp.vstack([x_syn, x_ref]).tocsr() if sp.issparse(x_syn) else np.vstack([x_syn, x_ref])
    clf = LogisticRegression(C=C, max_iter=1000)
    if groups is None:
        cv: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        cv = PredefinedSplit(grouped_folds(y, groups, folds, seed))
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


def auc_bootstrap(y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0,
                  clusters: np.ndarray | None = None) -> tuple[tuple[float, float] | None, float]:
    """Percentile bootstrap interval (95 %) and standard error of the AUC: resampling records
    with replacement, done as multinomial record weights (``weighted_auc``), one sort for all
    resamples. ``clusters`` (one key per record): resample whole clusters (paired records are
    not independent). ``(None, nan)`` without resamples."""
    if n_boot <= 0 or len(y) < 4:
        return None, float("nan")
    rng = np.random.default_rng(seed)
    n = len(y)
    ties = np.unique(p, return_inverse=True)[1]
    cl = None if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    n_cl = 0 if cl is None else int(cl.max()) + 1
    stats = []
    for _ in range(n_boot):
        if cl is None:
            w = np.bincount(rng.integers(0, n, n), minlength=n)
        else:
            w = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl)[cl]
        v = weighted_auc(y, p, w, ties)
        if v == v:  # a resample with one class only has no AUC
            stats.append(v)
    if not stats:
        return None, float("nan")
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return (float(lo), float(hi)), float(np.std(stats, ddof=1)) if len(stats) > 1 else float("nan")


def auc_ci(y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0,
           clusters: np.ndarray | None = None) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of :func:`auc_bootstrap`."""
    return auc_bootstrap(y, p, n_boot, seed, clusters)[0]


def cv_groups(syn: Corpus, ref: Corpus, field: str | None = None) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The cross-validation groups of the pooled records (synthetic first) and a description.

    Records whose :meth:`Corpus.group_keys` (the prompt they answer, a lineage parent, or
    ``field``'s value) occur more than once in the pool form a group; the others are groups of
    one. ``None`` when no key is shared: plain stratified folds."""
    keys = syn.group_keys(field) + ref.group_keys(field)
    counts = Counter(k for k in keys if k)
    shared = {k for k, c in counts.items() if c > 1}
    if not shared:
        return None, {"folds": "stratified", "grouping": "none",
                      "why": f"no two records share {'a ' + field if field else 'a prompt or parent'}"}
    n_syn = len(syn)
    both = set(keys[:n_syn]) & set(keys[n_syn:]) & shared
    codes = {k: i for i, k in enumerate(sorted(shared))}
    groups = np.array([codes[k] if k in codes else len(codes) + i for i, k in enumerate(keys)], dtype=np.int64)
    kinds = Counter(k.split(":", 1)[0] for k in shared)
    by = f"field {field}" if field else " and ".join(sorted(kinds))
    return groups, {"folds": "grouped", "grouping": by, "shared_groups": len(shared),
                    "groups_on_both_sides": len(both),
                    "records_in_shared_groups": int(sum(counts[k] for k in shared))}


#: An AUC is significantly below 0.5, and the test broken, when it is below 0.5 by at least
#: BROKEN_GAP and by BROKEN_Z bootstrap standard errors (a one-sided p of 0.0005). The 95 %
#: interval alone fired in 3 of 46 real-vs-real audits, and 3.29 standard errors in 2 (AUCs of
#: 0.43 and 0.44 on 400-630 records a side): the cross-validated AUC varies more than the
#: bootstrap of one set of out-of-fold scores says (the folds' models vary too).
BROKEN_Z = 3.29
BROKEN_GAP = 0.1
#: Fold assignments the AUC is re-measured with before a test is called broken: with a few
#: hundred records a side, the cross-validated AUC of two samples of one distribution falls
#: below 0.5 (each training fold holds fewer of the test record's class) and moves with the
#: folds drawn: 0.39 with one assignment and 0.44 with two others on a real-vs-real split of
#: AlpacaEval answers. The rule reads the mean over these assignments.
BROKEN_RECHECKS = 2


def _judge(res: MetricResult, se: float, grouping: dict[str, Any],
           recheck: Callable[[int], float] | None = None, seed: int = 0) -> MetricResult:
    res.details["cv"] = grouping
    res.details["bootstrap_se"] = se

    def below(auc: float) -> bool:
        return res.ci is not None and se == se and auc < 0.5 - max(BROKEN_GAP, BROKEN_Z * se)

    if below(res.value) and recheck is not None:
        aucs = [res.value] + [recheck(seed + 1 + i) for i in range(BROKEN_RECHECKS)]
        res.details["repeated_cv_aucs"] = aucs
        mean = float(np.mean(aucs))
    else:
        mean = res.value
    if below(res.value) and below(mean):
        hint = ("records that share a prompt were kept in one fold, yet the classifier still anti-learns"
                if grouping.get("folds") == "grouped" else
                "records of the two sides may be paired (same prompt under other field names): name the "
                "field they share with group_field")
        assert res.ci is not None
        res.warn_if(True, f"AUC significantly below 0.5 ({res.value:.3f}, interval {res.ci[0]:.3f}-"
                          f"{res.ci[1]:.3f}; {mean:.3f} over {1 + BROKEN_RECHECKS} fold assignments): the classifier anti-learns, so this test is broken, not passed; "
                          f"{hint}")
    return res


def c2st_tfidf(syn: Corpus, ref: Corpus, data: AuditData, groups: np.ndarray | None,
               grouping: dict[str, Any]) -> MetricResult:
    """The TF-IDF classifier test, with the n-grams that most mark a record as synthetic."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cfg = data.config
    vec = TfidfVectorizer(analyzer=data.word_analyzer((1, 2)), min_df=2, max_features=50_000, sublinear_tf=True)
    x = vec.fit_transform(syn.texts + ref.texts)
    n = len(syn)
    auc, p, y = c2st_auc(x[:n], x[n:], seed=cfg.seed, groups=groups)
    clf = LogisticRegression(max_iter=1000).fit(x, y)
    names = vec.get_feature_names_out()
    coef = clf.coef_[0]
    top = np.argsort(-coef)[:15]
    ci, se = auc_bootstrap(y, p, cfg.bootstrap, cfg.seed, groups)

    def recheck(seed: int) -> float:
        return c2st_auc(x[:n], x[n:], seed=seed, groups=groups)[0]

    res = MetricResult.of(
        C2ST_TFIDF, auc, n=len(y), ci=ci,
        details={"null_value": 0.5, "giveaway_ngrams": [{"ngram": str(names[i]), "weight": float(coef[i])}
                                                         for i in top if coef[i] > 0]},
        offenders=offenders(syn.ids, p[:n], syn.texts),
    )
    return _judge(res, se, grouping, recheck, cfg.seed)


def c2st_embedding(syn: Corpus, ref: Corpus, data: AuditData, groups: np.ndarray | None,
                   grouping: dict[str, Any]) -> MetricResult:
    """The embedding classifier test."""
    cfg = data.config
    a, b = data.emb(syn), data.emb(ref)
    auc, p, y = c2st_auc(a, b, seed=cfg.seed, groups=groups)
    ci, se = auc_bootstrap(y, p, cfg.bootstrap, cfg.seed, groups)
    res = MetricResult.of(C2ST_EMB, auc, n=len(y), ci=ci,
                          details={"null_value": 0.5}, offenders=offenders(syn.ids, p[: len(syn)], syn.texts))
    return _judge(res, se, grouping, lambda s: c2st_auc(a, b, seed=s, groups=groups)[0], cfg.seed)


__all__ = [
    "C2ST_EMB",
    "C2ST_MAX",
    "C2ST_TFIDF",
    "BROKEN_GAP",
    "BROKEN_Z",
    "auc_bootstrap",
    "auc_ci",
    "c2st_auc",
    "c2st_embedding",
    "c2st_tfidf",
    "cv_groups",
    "grouped_folds",
    "weighted_auc",
]
