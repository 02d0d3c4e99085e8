"""Utility: train on synthetic, test on real (TSTR) against train on real, test on real (TRTR)
for a labelled task, with the same model and features (TF-IDF + logistic regression), over
several seeds. Each seed draws a fresh real test split (30% of the labelled reference), and
both models train on the same number of records: the smaller of the synthetic set and the
real records left after the test split, the larger side subsampled.

The ratio's warn rule needs an interval and a learnable task: a hierarchical bootstrap
(seeds, then test records within a seed) gives the interval of mean TSTR / mean TRTR, and the
ratio is judged only when real data teaches the task (TRTR's interval above the macro-F1 of
predictions independent of the truth).

Example:
    >>> texts = ["good"] * 20 + ["bad"] * 20
    >>> labels = ["p"] * 20 + ["n"] * 20
    >>> round(train_eval(texts, labels, texts, labels), 2)
    1.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric
from tether.audit.dataset import AuditData

log = logging.getLogger(__name__)

F = "utility"
TSTR = metric(F, "tstr_f1", higher_is_better=True, bounds=(0.0, 1.0),
              description="Macro-F1 on real test data of a classifier trained on the synthetic data.")
TRTR = metric(F, "trtr_f1", higher_is_better=True, bounds=(0.0, 1.0),
              description="Macro-F1 on the same real test data of the same classifier trained on as many "
                          "real records.")
RATIO = metric(F, "tstr_ratio", higher_is_better=True, bounds=(0.0, float("inf")),
               description="TSTR macro-F1 over TRTR macro-F1 at equal training sizes: 1 means synthetic data "
                           "trains as well as real.")

#: the ratio warns below this, when its interval also lies below 1
RATIO_WARN = 0.8
#: TRTR must beat chance by this much (its interval's lower end) for the ratio to be judged
LEARNABLE_MARGIN = 0.05


class WordCounts:
    """Word 1-2 gram counts of a list of texts, from one scikit-learn ``CountVectorizer`` pass.

    A model fitted on some rows is exactly ``TfidfVectorizer(ngram_range=(1, 2),
    sublinear_tf=True)`` + logistic regression fitted on those texts: that vectorizer's
    vocabulary is every n-gram of its training texts in sorted order, which is the columns
    those rows use, in the matrix's (sorted) order, and unseen n-grams of test texts are
    dropped the same way. Counting once for all the seeds' training and test sets replaces
    ten vectorizer passes over the same texts (about 7 of the family's 8 s on 10k records).
    """

    def __init__(self, texts: Sequence[str], analyzer: Callable[[str], list[str]] | None = None) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        vec = CountVectorizer(analyzer=analyzer) if analyzer is not None else CountVectorizer(ngram_range=(1, 2))
        self.matrix = vec.fit_transform(list(texts)).tocsr()

    def fit(self, rows: Sequence[int] | np.ndarray, labels: Sequence[Any]) -> Any:
        """TF-IDF + logistic regression fitted on ``rows``; None when they hold one class."""
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression

        if len(set(map(str, labels))) < 2:
            return None
        sub = self.matrix[np.asarray(rows, dtype=np.int64)]
        cols = np.flatnonzero(sub.getnnz(axis=0))  # the training vocabulary
        tfidf = TfidfTransformer(sublinear_tf=True)
        clf = LogisticRegression(max_iter=1000).fit(tfidf.fit_transform(sub[:, cols]), [str(y) for y in labels])
        return cols, tfidf, clf

    def predict(self, model: Any, rows: Sequence[int] | np.ndarray) -> list[str] | None:
        """The labels a fitted model predicts for ``rows`` (None for a model not fitted)."""
        if model is None:
            return None
        cols, tfidf, clf = model
        return [str(p) for p in clf.predict(tfidf.transform(self.matrix[np.asarray(rows, dtype=np.int64)][:, cols]))]

    def macro_f1(self, model: Any, rows: Sequence[int] | np.ndarray, labels: Sequence[Any]) -> float:
        """Macro-F1 of a fitted model on ``rows`` (0 for a model that could not be fitted)."""
        from sklearn.metrics import f1_score

        pred = self.predict(model, rows)
        if pred is None:
            return 0.0
        return float(f1_score([str(y) for y in labels], pred, average="macro"))


def train_eval(train_x: Sequence[str], train_y: Sequence[Any], test_x: Sequence[str], test_y: Sequence[Any]) -> float:
    """Macro-F1 of TF-IDF (1-2 grams) + logistic regression trained on one set, tested on another."""
    counts = WordCounts([*train_x, *test_x])
    n = len(train_x)
    return counts.macro_f1(counts.fit(range(n), train_y), range(n, n + len(test_x)), test_y)


def weighted_macro_f1(truth: np.ndarray, pred: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 of integer predictions ``pred`` against ``truth`` under each row of ``weights``
    (``B x n`` resample counts): F1 averaged over the classes present in the weighted truth or
    predictions, as scikit-learn's ``f1_score(average="macro")`` averages over the labels seen."""
    eye = np.eye(n_classes)
    y, p = eye[truth], eye[pred]
    tp = weights @ (y * p)
    den = weights @ y + weights @ p
    present = den > 0
    f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=present)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def chance_macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Expected macro-F1 of predictions with ``pred``'s label shares but independent of the
    truth: per class 2 p q / (p + q) with p, q the class's shares of truth and predictions.
    A majority-class model reads 1/3 on balanced binary labels, a coin 1/2."""
    pt = np.bincount(truth, minlength=n_classes) / max(len(truth), 1)
    pp = np.bincount(pred, minlength=n_classes) / max(len(pred), 1)
    s = pt + pp
    present = s > 0
    return float(np.sum(2 * pt[present] * pp[present] / s[present]) / max(int(present.sum()), 1))


def _bootstrap(per_seed: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_classes: int, rounds: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical bootstrap of mean TSTR and mean TRTR macro-F1: seeds drawn with replacement,
    then each drawn seed's test records resampled. Returns the two ``rounds``-long arrays."""
    rng = np.random.default_rng(seed)
    syn_f1, real_f1 = [], []
    for truth, p_syn, p_real in per_seed:
        t = len(truth)
        w = rng.multinomial(t, np.full(t, 1 / t), size=rounds).astype(float)
        syn_f1.append(weighted_macro_f1(truth, p_syn, w, n_classes))
        real_f1.append(weighted_macro_f1(truth, p_real, w, n_classes))
    a, b = np.array(syn_f1), np.array(real_f1)  # seeds x rounds
    pick = rng.integers(0, len(per_seed), size=(rounds, len(per_seed)))
    cols = np.arange(rounds)[:, None]
    return a[pick, cols].mean(axis=1), b[pick, cols].mean(axis=1)


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn, ref = data.synthetic, data.reference
    assert ref is not None
    sy, ry = syn.labels(cfg.label_field), ref.labels(cfg.label_field)
    assert sy is not None and ry is not None
    s_idx = np.array([i for i, y in enumerate(sy) if y is not None], dtype=np.int64)
    r_idx = np.array([i for i, y in enumerate(ry) if y is not None], dtype=np.int64)
    classes = sorted({str(y) for y in ry if y is not None} | {str(y) for y in sy if y is not None})
    code = {c: i for i, c in enumerate(classes)}
    counts = WordCounts(syn.texts + ref.texts, data.word_analyzer((1, 2)))
    off = len(syn)  # reference record i is row off + i
    n_test = max(1, int(0.3 * len(r_idx)))
    # both models train on the same number of records: the smaller side's, the larger subsampled
    size = int(min(len(s_idx), len(r_idx) - n_test))
    tstr, trtr, chance, per_seed = [], [], [], []
    on_all_syn = None  # with every synthetic record in training the fit is the same for each seed
    for seed in range(cfg.utility_seeds):
        rng = np.random.default_rng(cfg.seed + 100 + seed)
        perm = rng.permutation(r_idx)
        test, train = perm[:n_test], perm[n_test : n_test + size]
        if size < len(s_idx):
            rows = np.sort(rng.choice(s_idx, size, replace=False))
            on_syn = counts.fit(rows, [sy[i] for i in rows])
        else:
            if on_all_syn is None:
                on_all_syn = counts.fit(s_idx, [sy[i] for i in s_idx])
            on_syn = on_all_syn
        on_real = counts.fit(train + off, [ry[i] for i in train])
        truth = np.array([code[str(ry[i])] for i in test])
        preds = []
        for model in (on_syn, on_real):
            p = counts.predict(model, test + off)
            # a model that could not be fitted (one class) predicts nothing right
            preds.append(np.array([code[x] for x in p]) if p is not None else (truth + 1) % max(2, len(classes)))
        n_classes = max(2, len(classes))
        ones = np.ones((1, len(truth)))
        tstr.append(float(weighted_macro_f1(truth, preds[0], ones, n_classes)[0]))
        trtr.append(float(weighted_macro_f1(truth, preds[1], ones, n_classes)[0]))
        chance.append(chance_macro_f1(truth, preds[1], n_classes))
        per_seed.append((truth, preds[0], preds[1]))
    a, b = np.array(tstr), np.array(trtr)
    det: dict[str, Any] = {"seeds": cfg.utility_seeds, "model": "tfidf(1-2)+logistic_regression",
                           "label_field": cfg.label_field, "train_size": size, "test_size": n_test,
                           "synthetic_labelled": int(len(s_idx)), "reference_labelled": int(len(r_idx))}
    ratio = float(a.mean() / b.mean()) if b.mean() > 0 else float("nan")
    rounds = cfg.bootstrap
    if rounds > 0:
        boot_a, boot_b = _bootstrap(per_seed, max(2, len(classes)), rounds, cfg.seed + 17)
        boot_r = boot_a / np.maximum(boot_b, 1e-9)
        ci_a = tuple(float(x) for x in np.quantile(boot_a, [0.025, 0.975]))
        ci_b = tuple(float(x) for x in np.quantile(boot_b, [0.025, 0.975]))
        ci_r = tuple(float(x) for x in np.quantile(boot_r, [0.025, 0.975]))
    else:  # no bootstrap: the spread over seeds
        ci_a, ci_b = (float(a.min()), float(a.max())), (float(b.min()), float(b.max()))
        r = a / np.maximum(b, 1e-9)
        ci_r = (float(r.min()), float(r.max()))
    chance_f1 = float(np.mean(chance))
    learnable = bool(ci_b[0] > chance_f1 + LEARNABLE_MARGIN)
    res_ratio = MetricResult.of(RATIO, ratio, n=size, ci=ci_r,  # type: ignore[arg-type]
                                details={**det, "per_seed": (a / np.maximum(b, 1e-9)).tolist(),
                                         "chance_f1": chance_f1, "learnable": learnable})
    if not learnable:
        res_ratio.notes.append(f"not judged: real data does not teach this label (TRTR {b.mean():.3f}, interval "
                               f"from {ci_b[0]:.3f}, chance {chance_f1:.3f})")
    else:
        res_ratio.warn_if(ratio < RATIO_WARN and ci_r[1] < 1.0,
                          f"TSTR is {ratio:.2f} of TRTR at {size} training records each (interval "
                          f"{ci_r[0]:.2f}-{ci_r[1]:.2f}, below 1)")
    return [
        MetricResult.of(TSTR, float(a.mean()), n=len(s_idx), ci=ci_a,  # type: ignore[arg-type]
                        details={**det, "per_seed": tstr}),
        MetricResult.of(TRTR, float(b.mean()), n=int(len(r_idx)), ci=ci_b,  # type: ignore[arg-type]
                        details={**det, "per_seed": trtr, "chance_f1": chance_f1}),
        res_ratio,
    ]


__all__ = ["WordCounts", "chance_macro_f1", "run", "train_eval", "weighted_macro_f1"]
