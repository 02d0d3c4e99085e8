"""Privacy (needs ``private``; most tests also ``holdout``): exact and near replay of private
records, records too close to a private record, distance-to-closest-record share, a
distance-based membership-inference AUC, PII presence and PII replay (in
:mod:`tether.audit.privacy_pii`), and replay of planted canaries.

The holdout is real data of the same kind the generator never saw, so every test here has a
null: what a generator that learned only the *distribution* would score. Each test is the
exact (or closed-form) permutation test of that null at the one-sided level :data:`ALPHA`,
with a smallest effect it flags, so that two halves of one real set seldom warn:

- replay and "too close" counts: synthetic records against holdout records, each measured
  against the private set (the two sides are exchangeable when nothing is memorised);
- DCR share and membership AUC: private against holdout records, each measured against the
  synthetic set (the private/holdout labels are exchangeable when nothing is memorised).

Example:
    >>> round(dcr_share(np.array([0.1, 0.5]), np.array([0.2, 0.5])), 2)
    0.75
"""

from __future__ import annotations

import logging
import math

import numpy as np

from tether.audit.base import MetricResult, metric, nan_warn, wilson_ci
from tether.audit.dataset import AuditData, Corpus
from tether.audit.privacy_pii import (
    ALPHA,
    MIN_EXCESS,
    MIN_RECORDS,
    PII_ENTITIES,
    excess_p,
    pii_analyzer,
    pii_entities,
    pii_values,
    presence_result,
    replay_rate,
    replay_result,
)
from tether.text import normalize

log = logging.getLogger(__name__)

F = "privacy"
EXACT = metric(F, "exact_replay", higher_is_better=False, bounds=(0.0, float("inf")),
               description="Synthetic records whose normalised text equals a private record's, beside the "
                           "holdout records that do (the real data's own duplicates).")
NEAR = metric(F, "near_replay_rate", higher_is_better=False, bounds=(0.0, 1.0),
              description="Share of synthetic records that near-duplicate a private record (MinHash), "
                          "beside the share of holdout records that do.")
TOO_CLOSE = metric(F, "too_close_rate", higher_is_better=False, bounds=(0.0, 1.0),
                   description="Share of synthetic records closer to their nearest private record than all "
                               "but 0.5% of holdout records are to theirs; about 0.005 when nothing is memorised.")
DCR = metric(F, "dcr_share", higher_is_better=False, bounds=(0.0, 1.0),
             description="Share of synthetic records closer to the private set than to an equal-size holdout; "
                         "0.5 when nothing is memorised.")
MIA = metric(F, "mia_auc", higher_is_better=False, bounds=(0.0, 1.0),
             description="AUC of a distance-to-synthetic attack telling private members from holdout records; "
                         "0.5 means no membership signal.")
CANARY = metric(F, "canary_replay", higher_is_better=False, bounds=(0.0, float("inf")),
                description="Planted canary strings that appear in the synthetic data.", warn="> 0")

#: The holdout's quantile of nearest-private distances below which a synthetic record is
#: too close (a record that close to a private one is rarer than this among real records).
TOO_CLOSE_QUANTILE = 0.005
#: Smallest departure of the DCR share and of the membership AUC from 0.5 that is flagged.
MIN_SHIFT = 0.02
_Z = 2.5758  # two-sided 99% interval: it excludes the null exactly when the one-sided p < ALPHA


# ------------------------------------------------------------------ pure functions


def dcr_share(d_private: np.ndarray, d_holdout: np.ndarray) -> float:
    """Share of records closer to private than to holdout (ties count one half)."""
    if len(d_private) == 0:
        return nan_warn("dcr_share")
    return float(np.mean((d_private < d_holdout) + 0.5 * (d_private == d_holdout)))


def dcr_null_sd(d_private: np.ndarray, idx_private: np.ndarray, d_holdout: np.ndarray, idx_holdout: np.ndarray,
                m: int) -> float:
    """Standard deviation of the DCR share when the labels of the ``2 m`` pooled private and
    holdout records are permuted (closed form): each synthetic record votes for the label of
    its nearest pooled record, so records sharing a nearest neighbour move together and the
    variance grows with ``sum(votes per pooled record ** 2)``, not with ``n`` alone."""
    n = len(d_private)
    if n == 0 or m < 1:
        return float("nan")
    tie = d_private == d_holdout
    nearest = np.where(d_private < d_holdout, idx_private, m + idx_holdout)[~tie]
    c = np.bincount(nearest, minlength=2 * m).astype(float)
    big_n, total = 2 * m, c.sum()
    if big_n < 2:
        return float("nan")
    var = 0.25 * (np.sum(c * c) * big_n / (big_n - 1) - total * total / (big_n - 1))
    return float(math.sqrt(max(var, 0.0)) / n)


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


def nearest_both(x: np.ndarray, pool: np.ndarray, chunk: int = 2048
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`closest_distance` both ways from one product: ``(d, idx)`` of each row of ``x``
    to ``pool``, then of each row of ``pool`` to ``x``."""
    d = np.empty(len(x))
    idx = np.empty(len(x), dtype=int)
    best = np.full(len(pool), -np.inf)
    best_idx = np.zeros(len(pool), dtype=int)
    for s in range(0, len(x), chunk):
        sims = x[s : s + chunk] @ pool.T
        j = sims.argmax(1)
        idx[s : s + chunk] = j
        d[s : s + chunk] = 1.0 - sims[np.arange(len(j)), j]
        i = sims.argmax(0)
        col = sims[i, np.arange(len(pool))]
        better = col > best
        best[better], best_idx[better] = col[better], s + i[better]
    return np.clip(d, 0.0, 2.0), idx, np.clip(1.0 - best, 0.0, 2.0), best_idx


def mia_auc(d_members: np.ndarray, d_nonmembers: np.ndarray) -> float:
    """AUC of ``-distance to the synthetic set`` as a score for membership."""
    from sklearn.metrics import roc_auc_score

    if len(d_members) == 0 or len(d_nonmembers) == 0:
        return nan_warn("mia_auc")
    y = np.r_[np.ones(len(d_members)), np.zeros(len(d_nonmembers))]
    return float(roc_auc_score(y, -np.r_[d_members, d_nonmembers]))


def auc_null_sd(scores: np.ndarray, n1: int, n2: int) -> float:
    """Standard deviation of the AUC (Mann-Whitney U / n1 n2) under permutation of the member
    labels, with the tie correction."""
    big_n = n1 + n2
    if n1 < 1 or n2 < 1 or big_n < 2:
        return float("nan")
    _, t = np.unique(scores, return_counts=True)
    ties = float(np.sum(t.astype(float) ** 3 - t)) / (big_n * (big_n - 1))
    var_u = n1 * n2 / 12.0 * ((big_n + 1) - ties)
    return float(math.sqrt(max(var_u, 0.0)) / (n1 * n2))


def too_close(d_synthetic: np.ndarray, d_holdout: np.ndarray, quantile: float = TOO_CLOSE_QUANTILE
              ) -> tuple[np.ndarray, float, float, float]:
    """Synthetic records closer to the private set than the holdout's ``quantile`` of its own
    nearest-private distances: ``(mask, threshold, expected count, p-value)``.

    The threshold is the ``k``-th smallest holdout distance (``k = ceil(quantile * m)``), so
    the count of synthetic records below it is, when synthetic and holdout records are
    exchangeable, the number of one kind drawn before the ``k``-th of the other from a
    shuffled pool: negative hypergeometric, which gives the exact p-value."""
    from scipy.stats import nhypergeom

    n, m = len(d_synthetic), len(d_holdout)
    if n == 0 or m == 0:
        return np.zeros(n, dtype=bool), float("nan"), float("nan"), float("nan")
    k = max(1, math.ceil(quantile * m))
    thr = float(np.partition(d_holdout, k - 1)[k - 1])
    mask = d_synthetic < thr
    t = int(mask.sum())
    p = float(nhypergeom.sf(t - 1, n + m, n, k)) if t > 0 else 1.0
    return mask, thr, k * n / (m + 1), p


# ------------------------------------------------------------------ family runner


def _normal_p(value: float, sd: float) -> float | None:
    """One-sided p-value of ``value`` above 0.5 with the permutation standard deviation ``sd``."""
    if math.isnan(value) or math.isnan(sd) or sd <= 0:
        return None
    return float(0.5 * math.erfc((value - 0.5) / sd / math.sqrt(2)))


def _equal_size(private: Corpus, holdout: Corpus, seed: int) -> tuple[Corpus, Corpus]:
    m = min(len(private), len(holdout))
    rng = np.random.default_rng(seed)
    p = private if len(private) == m else private.subset(np.sort(rng.choice(len(private), m, replace=False)))
    h = holdout if len(holdout) == m else holdout.subset(np.sort(rng.choice(len(holdout), m, replace=False)))
    return p, h


def _count_excess(res: MetricResult, k: int, n: int, k0: int, n0: int, min_share: float, what: str) -> None:
    """Flag ``res`` when ``k`` of ``n`` synthetic records exceed ``k0`` of ``n0`` holdout
    records beyond chance (Fisher, :data:`ALPHA`) by 3+ records and ``min_share``."""
    p = excess_p(k, n, k0, n0)
    res.details.update({"p_value": p, "alpha": ALPHA})
    excess = k / n - k0 / n0 if n and n0 else 0.0
    res.warn_if(p < ALPHA and k - n * k0 / n0 >= MIN_RECORDS and excess >= min_share,
                f"{k} of {n} synthetic records {what}, against {k0} of {n0} holdout records (p={p:.2g})")


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn = data.synthetic
    out: list[MetricResult] = []

    if cfg.canaries:
        low = [t.lower() for t in syn.texts]
        canary_hits = {c: [i for i, t in enumerate(low) if c.lower() in t] for c in cfg.canaries}
        replayed = [c for c, h in canary_hits.items() if h]
        offs = [{"id": syn.ids[i], "score": 1.0, "canary": c, "text": syn.texts[i][:300]}
                for c in replayed for i in canary_hits[c][:3]]
        out.append(MetricResult.of(CANARY, len(replayed), n=len(cfg.canaries),
                                   details={"canaries": len(cfg.canaries), "replayed": replayed}, offenders=offs))

    private, holdout = data.private, data.holdout
    base = [c for c in (data.reference, private, holdout) if c is not None]  # all the real data given
    out.append(presence_result(syn.ids, syn.texts, [t for c in base for t in c.texts] if base else None,
                               " + ".join(c.name for c in base) or "real data"))
    if private is None:
        return out

    out.append(_exact(syn, private, holdout))
    out.append(_near(data, syn, private, holdout))

    if holdout is None:
        log.warning("privacy: no holdout given, so too-close records, DCR share, membership inference and "
                    "PII replay are skipped")
        return out

    es = data.emb(syn)
    near_p = nearest_both(es, data.emb(private))  # synthetic <-> private, used by three tests
    out.append(_too_close(syn, private, near_p[:2], closest_distance(data.emb(holdout), data.emb(private))[0]))

    p, h = _equal_size(private, holdout, cfg.seed + 21)
    if p is not private:
        near_p = nearest_both(es, data.emb(p))
    near_h = nearest_both(es, data.emb(h))
    out.append(_dcr(syn, p, near_p, near_h))
    out.append(_mia(syn, p, near_p, near_h))

    public = data.reference.texts if data.reference is not None else ()
    out.append(replay_result(syn.ids, syn.texts, p.texts, h.texts, public))
    return out


def _exact(syn: Corpus, private: Corpus, holdout: Corpus | None) -> MetricResult:
    n = len(syn)
    norm_priv = {normalize(t): pid for t, pid in zip(private.texts, private.ids, strict=True) if t.strip()}
    exact = [(i, norm_priv[k]) for i, k in enumerate(map(normalize, syn.texts)) if k in norm_priv]
    res = MetricResult.of(EXACT, len(exact), n=n, details={"rate": len(exact) / n if n else None},
                          offenders=[{"id": syn.ids[i], "score": 1.0, "private_id": pid, "text": syn.texts[i][:300]}
                                     for i, pid in exact[:10]])
    if holdout is None:
        return res.warn_if(len(exact) > 0, "synthetic records copy private records (no holdout to compare with)")
    k0 = sum(1 for t in holdout.texts if t.strip() and normalize(t) in norm_priv)
    res.details.update({"holdout_baseline": k0, "holdout_size": len(holdout)})
    _count_excess(res, len(exact), n, k0, len(holdout), 0.0, "copy a private record")
    return res


def _near(data: AuditData, syn: Corpus, private: Corpus, holdout: Corpus | None) -> MetricResult:
    from tether.audit.diversity import near_matches

    thr = data.config.near_dup_threshold
    marks = near_matches(syn.texts, private.texts, thr)
    hits = [(i, j) for i, j in enumerate(marks) if j >= 0]
    res = MetricResult.of(NEAR, len(hits) / len(syn) if len(syn) else float("nan"), n=len(syn),
                          ci=wilson_ci(len(hits), len(syn)), details={"threshold": thr},
                          offenders=[{"id": syn.ids[i], "score": 1.0, "private_id": private.ids[j],
                                      "text": syn.texts[i][:300]} for i, j in hits[:10]])
    if holdout is None:
        return res.warn_if(res.value > 0.01, "over 1% of records near-duplicate a private record")
    k0 = sum(1 for j in near_matches(holdout.texts, private.texts, thr) if j >= 0)
    res.details.update({"holdout_baseline": k0 / len(holdout) if len(holdout) else None,
                        "holdout_size": len(holdout)})
    _count_excess(res, len(hits), len(syn), k0, len(holdout), MIN_EXCESS, "near-duplicate a private record")
    return res


def _too_close(syn: Corpus, private: Corpus, nearest: tuple[np.ndarray, np.ndarray], d_h: np.ndarray
               ) -> MetricResult:
    n = len(syn)
    d_s, idx = nearest
    mask, thr, expected, p = too_close(d_s, d_h)
    t = int(mask.sum())
    close = np.where(mask)[0]
    order = close[np.argsort(d_s[close], kind="stable")][:10]
    res = MetricResult.of(
        TOO_CLOSE, t / n if n else float("nan"), n=n, ci=wilson_ci(t, n),
        details={"threshold": thr, "quantile": TOO_CLOSE_QUANTILE, "too_close": t,
                 "expected": expected, "null_value": expected / n if n else None, "p_value": p, "alpha": ALPHA,
                 "holdout_size": len(d_h)},
        offenders=[{"id": syn.ids[i], "score": float(d_s[i]), "private_id": private.ids[idx[i]],
                    "text": syn.texts[i][:300], "private_text": private.texts[idx[i]][:300]} for i in order])
    return res.warn_if(p < ALPHA and t - expected >= MIN_RECORDS and (t - expected) / n >= MIN_EXCESS,
                       f"{t} records are too close to a private record (below distance {thr:.3g}), "
                       f"{expected:.1f} expected (p={p:.2g})")


def _dcr(syn: Corpus, p: Corpus, near_p: tuple[np.ndarray, ...], near_h: tuple[np.ndarray, ...]) -> MetricResult:
    n = len(syn)
    (d_p, idx_p), (d_h, idx_h) = near_p[:2], near_h[:2]
    share = dcr_share(d_p, d_h)
    sd = dcr_null_sd(d_p, idx_p, d_h, idx_h, len(p))
    ci = None if math.isnan(sd) else (max(0.0, share - _Z * sd), min(1.0, share + _Z * sd))
    closer = np.where(d_p < d_h)[0]
    order = closer[np.argsort(d_p[closer])][:10]
    res = MetricResult.of(
        DCR, share, n=n, ci=ci,
        details={"null_value": 0.5, "null_sd": sd, "p_value": _normal_p(share, sd), "alpha": ALPHA, "ci_level": 0.99,
                 "private_size": len(p), "holdout_size": len(p),
                 "median_dcr_private": float(np.median(d_p)), "median_dcr_holdout": float(np.median(d_h))},
        offenders=[{"id": syn.ids[i], "score": float(d_p[i]), "private_id": p.ids[idx_p[i]],
                    "text": syn.texts[i][:300]} for i in order])
    return res.warn_if(res.beyond_null(0.5, worse="above") and share >= 0.5 + MIN_SHIFT,
                       "more synthetic records are closer to the private set than chance allows "
                       "(99% permutation interval above 0.5)")


def _mia(syn: Corpus, p: Corpus, near_p: tuple[np.ndarray, ...], near_h: tuple[np.ndarray, ...]) -> MetricResult:
    dm, idx_m = near_p[2:]
    dn = near_h[2]
    auc = mia_auc(dm, dn)
    sd = auc_null_sd(np.r_[dm, dn], len(dm), len(dn))
    ci = None if math.isnan(sd) else (max(0.0, auc - _Z * sd), min(1.0, auc + _Z * sd))
    # offenders: the private records the attack finds most surely (nearest a synthetic record)
    exposed = np.argsort(dm, kind="stable")[:10]
    res = MetricResult.of(MIA, auc, n=len(dm) + len(dn), ci=ci,
                          details={"null_value": 0.5, "null_sd": sd, "p_value": _normal_p(auc, sd), "alpha": ALPHA,
                                   "ci_level": 0.99,
                                   "median_distance_private": float(np.median(dm)),
                                   "median_distance_holdout": float(np.median(dn))},
                          offenders=[{"id": p.ids[i], "score": float(dm[i]), "set": "private",
                                      "synthetic_id": syn.ids[idx_m[i]], "text": p.texts[i][:300]}
                                     for i in exposed])
    return res.warn_if(res.beyond_null(0.5, worse="above") and auc >= 0.5 + MIN_SHIFT,
                       "private records are nearer the synthetic data than holdout records "
                       "(99% permutation interval above 0.5)")


__all__ = ["PII_ENTITIES", "closest_distance", "dcr_null_sd", "dcr_share", "mia_auc", "nearest_both",
           "pii_analyzer", "pii_entities", "pii_values", "replay_rate", "run", "too_close"]
