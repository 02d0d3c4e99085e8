"""The bias family's null: synthetic/reference labels permuted over the pooled records.

Every bias metric is a function of per-record counts (group mentions, co-occurrences,
stereotype pairs, sentiment, embedding scores). Pooling both sides' records (synthetic first)
and drawing random side labels gives the metric's distribution when the two sides are
exchangeable: what it reads when nothing is wrong. One boolean matrix of side labels (row 0
the observed split) serves every metric: a side's counts for all rounds at once are one
matrix product ``masks @ per_record``.

A metric that is a maximum over several columns (groups, attribute lists, words) is judged
column by column: each column's observed statistic is standardised by its own permutation
null (``z = (observed - mean) / sd``) and the smallest one-sided Gaussian p-value is
Bonferroni-adjusted by the number of columns tested (:func:`max_column_test`).

Example:
    >>> m = side_masks(3, 2, rounds=4, seed=0)
    >>> m.shape, m[0].tolist()
    ((5, 5), [True, True, True, False, False])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

#: One-sided level at which a bias metric warns (after the Bonferroni adjustment over the
#: columns it takes the maximum of). Several metrics share the family: each is well under 5 %.
ALPHA = 0.001


def side_masks(n_syn: int, n_ref: int, rounds: int, seed: int = 0) -> np.ndarray:
    """Booleans ``(rounds + 1, n_syn + n_ref)``: True where a pooled record (synthetic first)
    is on the synthetic side; row 0 is the observed split, the others random relabellings
    with the same side sizes."""
    base = np.zeros(n_syn + n_ref, dtype=bool)
    base[:n_syn] = True
    if rounds <= 0:
        return base[None, :]
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.tile(base, (rounds, 1)), axis=1)
    return np.vstack([base[None, :], perm])


def side_sums(masks: np.ndarray, per_record: Any) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic-side and reference-side sums ``(rounds + 1, columns)`` of ``per_record``
    (dense or sparse, ``(records, columns)``, or a vector) for every row of ``masks``."""
    m = masks.astype(np.float64)
    if hasattr(per_record, "tocsr"):  # sparse: (X.T @ M.T).T costs nnz(X) x rounds
        syn = np.asarray((per_record.T @ m.T).T)
        total = np.asarray(per_record.sum(axis=0)).ravel()
    else:
        x = np.asarray(per_record, dtype=np.float64)
        syn = m @ x
        total = x.sum(axis=0)
    return syn, total[None, ...] - syn if np.ndim(total) else total - syn


@dataclass
class NullTest:
    """The observed statistic beside its permutation null: ``z`` standardised by the null's
    mean and sd, ``p`` the one-sided Gaussian tail (Bonferroni-adjusted over ``tested``
    columns), ``p_perm`` the empirical permutation p-value of the chosen column."""

    observed: float
    z: float
    p: float
    p_perm: float
    null_mean: float
    null_sd: float
    tested: int
    column: int
    rounds: int = 0

    def significant(self, alpha: float = ALPHA) -> bool:
        """An adjusted p-value under ``alpha``, and (a guard against a null whose tail is
        heavier than the Gaussian's) at most one permuted value as large as the observed one
        (or an empirical p-value under ``alpha`` when there are enough rounds for that)."""
        guard = max(2.0 / (1 + self.rounds), alpha) + 1e-12
        return not math.isnan(self.p) and self.p < alpha and self.p_perm <= guard

    def to_dict(self) -> dict[str, Any]:
        return {"observed": self.observed, "null_mean": self.null_mean, "null_sd": self.null_sd, "z": self.z,
                "p": self.p, "p_permutation": self.p_perm, "columns_tested": self.tested,
                "rounds": self.rounds}


def column_z(stats: np.ndarray) -> np.ndarray:
    """Each column's observed statistic (row 0 of ``stats``) standardised by its own
    permutation null (rows 1..); nan where the null has fewer than 2 rounds or no spread."""
    null = stats[1:]
    if len(null) < 2:
        return np.full(stats.shape[1], np.nan)
    sd = null.std(0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, (stats[0] - null.mean(0)) / np.where(sd > 0, sd, 1.0), np.nan)


def max_column_test(stats: np.ndarray, valid: np.ndarray | None = None, tested: int | None = None) -> NullTest | None:
    """The column whose observed statistic (row 0 of ``stats``, ``(rounds + 1, columns)``;
    larger is worse) lies furthest above its own permutation null (rows 1..), with its
    Bonferroni-adjusted one-sided p-value. None when no column is valid or there is no null.
    Columns with a constant null (sd 0) count as tested but cannot be chosen. ``tested``
    overrides the number of columns the p-value is adjusted for (when ``stats`` holds only
    the strongest candidates of a larger family of tests)."""
    stats = np.atleast_2d(np.asarray(stats, dtype=float))
    if stats.ndim == 1:
        stats = stats[:, None]
    cols = np.ones(stats.shape[1], bool) if valid is None else np.asarray(valid, bool).copy()
    cols &= ~np.isnan(stats[0])
    if stats.shape[0] < 3 or not cols.any():
        return None
    null = stats[1:]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(cols, null, 0.0), axis=0)
        sd = np.nanstd(np.where(cols, null, 0.0), axis=0, ddof=1)
    ok = cols & (sd > 1e-12)
    tested = int(cols.sum()) if tested is None else max(int(tested), int(cols.sum()))
    if not ok.any():
        return NullTest(float(np.nanmax(stats[0][cols])), float("nan"), 1.0, 1.0, float("nan"), 0.0, tested, -1,
                        len(null))
    z = np.where(ok, (stats[0] - mean) / np.where(ok, sd, 1.0), -np.inf)
    j = int(np.argmax(z))
    p = min(1.0, float(norm.sf(z[j])) * tested)
    col = null[:, j]
    col = col[~np.isnan(col)]
    p_perm = float((1 + np.count_nonzero(col >= stats[0, j] - 1e-12)) / (1 + col.size))
    return NullTest(float(stats[0, j]), float(z[j]), p, p_perm, float(mean[j]), float(sd[j]), tested, j, col.size)


__all__ = ["ALPHA", "NullTest", "max_column_test", "side_masks", "side_sums"]
