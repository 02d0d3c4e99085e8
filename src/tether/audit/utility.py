"""Utility: train on synthetic, test on real (TSTR) against train on real, test on real (TRTR)
for a labelled task, with the same model and features (TF-IDF + logistic regression), over
several seeds. Each seed draws a fresh real test split and a real training set the size of
the synthetic one (capped by what is left).

Example:
    >>> texts = ["good"] * 20 + ["bad"] * 20
    >>> labels = ["p"] * 20 + ["n"] * 20
    >>> round(train_eval(texts, labels, texts, labels), 2)
    1.0
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric
from tether.audit.dataset import AuditData

log = logging.getLogger(__name__)

F = "utility"
TSTR = metric(F, "tstr_f1", higher_is_better=True, bounds=(0.0, 1.0),
              description="Macro-F1 on real test data of a classifier trained on the synthetic data.")
TRTR = metric(F, "trtr_f1", higher_is_better=True, bounds=(0.0, 1.0),
              description="Macro-F1 on the same real test data of the same classifier trained on real data.")
RATIO = metric(F, "tstr_ratio", higher_is_better=True, bounds=(0.0, float("inf")),
               description="TSTR macro-F1 over TRTR macro-F1: 1 means synthetic data trains as well as real.",
               warn="< 0.8")


def fit_classifier(train_x: Sequence[str], train_y: Sequence[Any]) -> Any:
    """TF-IDF (1-2 grams) + logistic regression fitted on one set; None when it has one class."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if len(set(map(str, train_y))) < 2:
        return None
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
                          LogisticRegression(max_iter=1000))
    return model.fit(list(train_x), [str(y) for y in train_y])


def macro_f1(model: Any, test_x: Sequence[str], test_y: Sequence[Any]) -> float:
    """Macro-F1 of a fitted classifier on a test set (0 for a model that could not be fitted)."""
    from sklearn.metrics import f1_score

    if model is None:
        return 0.0
    return float(f1_score([str(y) for y in test_y], model.predict(list(test_x)), average="macro"))


def train_eval(train_x: Sequence[str], train_y: Sequence[Any], test_x: Sequence[str], test_y: Sequence[Any]) -> float:
    """Macro-F1 of TF-IDF (1-2 grams) + logistic regression trained on one set, tested on another."""
    return macro_f1(fit_classifier(train_x, train_y), test_x, test_y)


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn, ref = data.synthetic, data.reference
    assert ref is not None
    sy, ry = syn.labels(cfg.label_field), ref.labels(cfg.label_field)
    assert sy is not None and ry is not None
    s_idx = [i for i, y in enumerate(sy) if y is not None]
    r_idx = np.array([i for i, y in enumerate(ry) if y is not None])
    tstr, trtr = [], []
    # the synthetic training set is the same for every seed and the fit is deterministic: fit once
    on_syn = fit_classifier([syn.texts[i] for i in s_idx], [sy[i] for i in s_idx])
    for seed in range(cfg.utility_seeds):
        rng = np.random.default_rng(cfg.seed + 100 + seed)
        perm = rng.permutation(r_idx)
        n_test = max(1, int(0.3 * len(perm)))
        test, pool = perm[:n_test], perm[n_test:]
        train = pool[: min(len(pool), len(s_idx))]
        tx, ty = [ref.texts[i] for i in test], [ry[i] for i in test]
        tstr.append(macro_f1(on_syn, tx, ty))
        trtr.append(train_eval([ref.texts[i] for i in train], [ry[i] for i in train], tx, ty))
    a, b = np.array(tstr), np.array(trtr)
    det = {"seeds": cfg.utility_seeds, "model": "tfidf(1-2)+logistic_regression", "label_field": cfg.label_field}
    ratio = float(a.mean() / b.mean()) if b.mean() > 0 else float("nan")
    return [
        MetricResult.of(TSTR, float(a.mean()), n=len(s_idx), ci=(float(a.min()), float(a.max())),
                        details={**det, "per_seed": tstr}),
        MetricResult.of(TRTR, float(b.mean()), n=int(len(r_idx)), ci=(float(b.min()), float(b.max())),
                        details={**det, "per_seed": trtr}),
        MetricResult.of(RATIO, ratio, n=len(s_idx), details={**det, "per_seed": (a / np.maximum(b, 1e-9)).tolist()}),
    ]


__all__ = ["fit_classifier", "macro_f1", "run", "train_eval"]
